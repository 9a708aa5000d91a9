# Millisecond clock for both interpreters: MicroPython's time has ticks_ms,
# ticks_diff and sleep_ms; CPython gets equivalents on a monotonic clock.
try:
    from time import ticks_ms, ticks_diff, ticks_add, sleep_ms  # noqa: F401
except ImportError:  # CPython (the type check sees MicroPython's time, hence the ignores)
    import time as _time

    def ticks_ms():
        return int(_time.monotonic() * 1000)  # type: ignore[attr-defined]

    def ticks_diff(a, b):  # type: ignore[no-redef]
        return a - b

    def ticks_add(a, b):  # type: ignore[misc]
        return a + b

    def sleep_ms(ms):  # type: ignore[misc]
        _time.sleep(ms / 1000)
