# The few asyncio names that differ between MicroPython and CPython, and the
# two ways a transport waits for bytes with a timeout.
import asyncio

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):  # type: ignore[misc]
        return x

POLL_MS = const(2)  # how often a waiting read looks (the UART or socket buffers meanwhile)

TimeoutError = asyncio.TimeoutError  # noqa: A001

try:
    wait_for_ms = asyncio.wait_for_ms
    sleep_ms = asyncio.sleep_ms
except AttributeError:
    def wait_for_ms(aw, ms):
        return asyncio.wait_for(aw, ms / 1000)

    def sleep_ms(ms):
        return asyncio.sleep(ms / 1000)


async def read_within(read_once, timeout_ms):
    """Await read_once() until it gives something other than None, for at
    most timeout_ms; None when the time is up. (A stream can wake its reader
    without data: that must not pass for silence before the time is up.)"""
    from mbus.clock import ticks_add, ticks_diff, ticks_ms

    deadline = ticks_add(ticks_ms(), timeout_ms)
    while True:
        left = ticks_diff(deadline, ticks_ms())
        if left <= 0:
            return None
        try:
            data = await wait_for_ms(read_once(), left)
        except TimeoutError:
            return None
        if data is not None:
            return data


async def poll_within(ready, read_now, timeout_ms):
    """read_now() once ready() says bytes are waiting and it returns some,
    checking every POLL_MS for at most timeout_ms; b"" when the time is up.
    MicroPython's wait_for makes two tasks and a closure per wait (1.3 KB in
    flight on the unix port, and that much garbage each time); this makes
    nothing."""
    from mbus.clock import ticks_add, ticks_diff, ticks_ms

    deadline = ticks_add(ticks_ms(), timeout_ms)
    while True:
        if ready():
            data = read_now()
            if data:
                return data
        left = ticks_diff(deadline, ticks_ms())
        if left <= 0:
            return b""
        await sleep_ms(min(left, POLL_MS))
