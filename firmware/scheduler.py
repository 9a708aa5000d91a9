# Polls every configured meter at its own interval over one bus. Bus access
# is serialized by a lock (the API's "poll now" takes it too). A meter that
# fails is retried with a growing backoff and moved behind the meters that
# are due, so it never delays them; each meter keeps its own counters.
#
# The meters are kept compactly: a meter is an index into the rows of a
# Table (its config, filled by config.py while it checks the meters one at
# a time) and of the scheduler's arrays (its due time, counters and last
# results), not a dict and an object of its own: about 75 bytes a meter on
# the unix port instead of 470 (README, "Memory").
import asyncio
import gc
from array import array
from binascii import hexlify

import log
import readings
from mbus.errors import MBusError
from time import time

from compat import const, clock_is_set, ticks_add, ticks_diff, ticks_ms, uptime_ms

BACKOFF_FIRST_MS = const(5000)
IDLE_STEP_MS = const(1000)  # the loop wakes at least this often (watchdog progress)
_SECONDARY = const(255)  # addr[9 * i]: the primary address, or this: the 8 bytes after it are the secondary one
_MULTI = const(0x80)  # in opts[], beside max_frames (1..16)


class Table:
    """The configured meters: room for size, n rows used (config.py fills
    them, the scheduler takes them). Meter i: name(i), address(i),
    interval_ms[i], opts[i] (max_frames | _MULTI). Disabled meters are no
    rows: off lists their names."""

    def __init__(self, size):
        self.n = 0
        self.off = ()  # type: tuple
        self.names = bytearray(b"\n")  # b"\nheat\nwater\n"
        self.starts = array("i", bytes(4 * size))  # where name i starts in names
        self.addr = bytearray(9 * size)
        self.opts = bytearray(size)
        self.interval_ms = array("i", bytes(4 * size))

    def name(self, i):
        a = self.starts[i]
        return self.names[a:self.names.find(b"\n", a)].decode()

    def find(self, name):
        """The index of the meter called name, or -1."""
        at = self.names.find(b"\n" + name.encode() + b"\n")
        if at < 0 or "\n" in name:
            return -1
        return self.names.count(b"\n", 0, at)

    def address(self, i):
        """The primary address (int) or the 16 hex digits of the secondary one."""
        a = 9 * i
        if self.addr[a] != _SECONDARY:
            return self.addr[a]
        return hexlify(self.addr[a + 1:a + 9]).decode().upper()  # type: ignore[arg-type]  # any buffer will do


def _now():
    """(epoch s, 0 when the clock is not set; uptime s)"""
    return (int(time()) if clock_is_set() else 0, uptime_ms() // 1000)


# What the scheduler keeps of meter i: _STATE ints from _STATE * i in
# Scheduler.ints (array "i"; one array, not one per field: a few meters
# cost no more than a Meter object did), in this order (row() gives them):
_DUE = const(0)  # ticks_ms of its next read
_POLLS = const(1)  # reads started
_OK = const(2)  # reads that succeeded
_ERRORS = const(3)  # reads that failed
_FAILING = const(4)  # failures in a row
_LAST_MS = const(5)  # duration of its last read
_OK_UP = const(6)  # uptime s of its last success
_ERR_UP = const(7)  # uptime s of its last failure
_FAULTS = const(8)  # failed exchanges during its reads, retried or not
_STATE = const(9)
_NO_HEAP = "MemoryError: no heap to say more"  # the last error when even its text found no room
# and in times[2 * i], times[2 * i + 1] (array "I") the epoch s (0: the
# clock was not set) of its last success and failure; in err_text[i] the
# "Class: message" of its last failure.


class Scheduler:
    def __init__(self, master, table, dispatch, net):
        self.master = master
        self.meters = table
        self.dispatch = dispatch
        self.net = net
        self.lock = asyncio.Lock()
        self.last_progress = now = ticks_ms()
        n = table.n
        self.ints = array("i", bytes(4 * _STATE * n))
        for i in range(n):
            # every meter is read once at start, in config order
            self.ints[_STATE * i + _DUE] = now  # type: ignore[call-overload]  # ticks are ints
        self.times = array("I", bytes(8 * n))
        self.err_text = [None] * n  # type: list[str | None]
        self.busy = None  # name of the meter on the bus
        self.lateness_ms = 0  # worst start delay of a scheduled poll, for the benchmark

    def row(self, i):
        """Meter i's (due, polls, ok, errors, failing, last_ms, ok_up, err_up, faults)."""
        return self.ints[_STATE * i:_STATE * i + _STATE]

    def progress(self):
        return self.last_progress

    def _next(self):
        """The meter due first (the lowest index of those due alike), or -1."""
        ints = self.ints
        best = -1
        for b in range(_DUE, _STATE * self.meters.n, _STATE):
            if best < 0 or ticks_diff(ints[b], ints[best]) < 0:
                best = b
        return best // _STATE if best >= 0 else -1

    async def run(self):
        while True:
            self.last_progress = ticks_ms()
            i = self._next()
            if i < 0:
                await asyncio.sleep_ms(IDLE_STEP_MS)
                continue
            wait = ticks_diff(self.ints[_STATE * i + _DUE], ticks_ms())
            if wait > 0:
                await asyncio.sleep_ms(min(wait, IDLE_STEP_MS))
                continue
            self.lateness_ms = max(self.lateness_ms, -wait)
            try:
                await self.poll(i)
            except Exception as e:
                # counted and logged by poll() or publish(), which move the
                # meter's next read on; still due, poll() failed before its
                # read began (no heap even for its coroutine): counted here,
                # so the meter backs off and this loop does not spin
                if ticks_diff(self.ints[_STATE * i + _DUE], ticks_ms()) <= 0:
                    self._failed(i, None, e, ticks_ms())

    async def poll(self, i):
        """Read meter i now; publish and return its reading or raise the error."""
        t, ints, b = self.meters, self.ints, _STATE * i
        async with self.lock:
            ints[b + _POLLS] += 1
            t0 = ticks_ms()
            f0 = self.master.failed()
            name = None
            try:
                # from here on a failure is the read's, even a MemoryError in
                # making the name: counted, logged, its meter backed off
                self.busy = name = t.name(i)
                address = t.address(i)
                opts = t.opts[i]
                result = await self.master.read(address, multi=bool(opts & _MULTI), max_frames=opts & 0x1F)
                reading = readings.make(name, address, result, self.net.time_synced)
            except Exception as e:
                self._failed(i, name, e, t0)
                raise
            finally:
                ints[b + _FAULTS] += self.master.failed() - f0
                self.busy = None
                self.last_progress = ticks_ms()
            ints[b + _LAST_MS] = ticks_diff(ticks_ms(), t0)
            if ints[b + _FAILING]:
                log.info("meter %s: answering again after %d failed reads", name, ints[b + _FAILING])
            ints[b + _OK] += 1
            ints[b + _FAILING] = 0
            self.times[2 * i], ints[b + _OK_UP] = _now()
            # the next read an interval after this one started: a meter read
            # late (the bus busy with others, or away) goes behind the others
            # due, so when the bus cannot keep up every meter has its turn
            # (earliest due first), and none catches up on missed reads
            ints[b + _DUE] = ticks_add(t0, t.interval_ms[i])  # type: ignore[call-overload]  # ticks are ints
        await self.dispatch.publish(reading)
        gc.collect()  # between reads: keeps the heap unfragmented
        return reading

    def _failed(self, i, name, e, t0):
        # the counters and the next try first: they need no heap, and a
        # MemoryError below must not leave the meter due at once
        ints, b = self.ints, _STATE * i
        ints[b + _LAST_MS] = ticks_diff(ticks_ms(), t0)
        ints[b + _ERRORS] += 1
        ints[b + _FAILING] += 1
        failing = ints[b + _FAILING]
        backoff = min(self.meters.interval_ms[i], BACKOFF_FIRST_MS << min(failing - 1, 6))
        ints[b + _DUE] = ticks_add(ticks_ms(), backoff)  # type: ignore[call-overload]  # ticks are ints
        if isinstance(e, MemoryError):
            gc.collect()  # what the failed read left is garbage: the retry (and the text below) find it free
        try:
            if name is None:
                name = self.meters.name(i)
            err = "%s: %s" % (type(e).__name__, e)
            for text in self.err_text:  # a dead bus fails every meter alike: one string for all
                if text == err:
                    err = text
                    break
            self.err_text[i] = err
            self.times[2 * i + 1], ints[b + _ERR_UP] = _now()
            log.warning("meter %s: read failed (%d in a row): %s; next try in %d s", name, failing, err, backoff // 1000)
        except MemoryError:
            self.err_text[i] = _NO_HEAP
            return
        if not isinstance(e, (MBusError, MemoryError)):
            log.exception("meter %s: unexpected error" % name, e)  # a bug, not the bus: keep the traceback
