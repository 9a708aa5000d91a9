# The few differences between MicroPython and CPython that the firmware
# meets, kept in this one place: tick counters (those of mbus.clock), heap
# figures, exceptions.
import gc
import sys
import time

from mbus.clock import sleep_ms, ticks_add, ticks_diff, ticks_ms  # noqa: F401

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[no-redef,misc]
        return x

MICROPYTHON = sys.implementation.name == "micropython"

if hasattr(sys, "print_exception"):
    print_exception = sys.print_exception  # type: ignore[attr-defined]
else:
    def print_exception(exc, file=sys.stdout):  # type: ignore[misc]
        import traceback  # type: ignore[import-not-found]
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=file)  # type: ignore[attr-defined]


def unload(*names):
    """Forget modules imported for a rare job (config checks): their code
    and tables go back to the heap. The next import loads them again. A
    package keeps a reference to each submodule imported from it: dropped too."""
    for name in names:
        sys.modules.pop(name, None)
        package, _, sub = name.rpartition(".")
        if package in sys.modules:
            try:
                delattr(sys.modules[package], sub)
            except (AttributeError, KeyError):  # MicroPython: KeyError when it is not there
                pass
    gc.collect()


def unlock_heap():
    """After Ctrl-C: the unix port raises KeyboardInterrupt at once, also from
    inside a garbage collection, which then leaves the heap locked (every
    allocation fails with "heap is locked"). A whole collection ends with
    the heap unlocked again; on a board (Ctrl-C comes between bytecodes)
    it is only a collection."""
    gc.collect()


def heap():
    """(free, allocated) bytes of the MicroPython heap; (None, None) on CPython."""
    if hasattr(gc, "mem_free"):
        return gc.mem_free(), gc.mem_alloc()
    return None, None


# ticks wrap after 2**30 ms (12.4 days) on MicroPython: uptime is accumulated
# from differences, so it stays right as long as it is read at least that often
# (the health task reads it every second).
_up_ms = 0
_up_last = ticks_ms()


def uptime_ms():
    global _up_ms, _up_last
    now = ticks_ms()
    _up_ms += ticks_diff(now, _up_last)
    _up_last = now
    return _up_ms


def clock_is_set():
    """True once the wall clock holds a plausible date (set by NTP or the host)."""
    return time.gmtime()[0] >= 2024


def iso_utc(t=None):
    """ISO 8601 UTC string of epoch seconds t (default now)."""
    g = time.gmtime(int(time.time() if t is None else t))
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (g[0], g[1], g[2], g[3], g[4], g[5])
