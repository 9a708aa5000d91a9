# The few asyncio names that differ between MicroPython and CPython.
import asyncio

TimeoutError = asyncio.TimeoutError  # noqa: A001

try:
    wait_for_ms = asyncio.wait_for_ms
    sleep_ms = asyncio.sleep_ms
except AttributeError:
    def wait_for_ms(aw, ms):
        return asyncio.wait_for(aw, ms / 1000)

    def sleep_ms(ms):
        return asyncio.sleep(ms / 1000)
