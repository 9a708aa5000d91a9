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
ON_TIME_MS = const(1000)  # a read that starts at most this late keeps its meter on its interval's grid
SECONDARY = const(255)  # addr[9 * i]: the primary address, or this: the 8 bytes after it are the secondary one
MULTI = const(0x80)  # in opts[], beside max_frames (1..16)


class Table:
    """The configured meters: room for size, n rows used (config.py fills
    them, the scheduler takes them). Meter i: name(i), address(i),
    interval_ms[i], opts[i] (max_frames | MULTI). Disabled meters are no
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
        if self.addr[a] != SECONDARY:
            return self.addr[a]
        return hexlify(self.addr[a + 1:a + 9]).decode().upper()  # type: ignore[arg-type]  # any buffer will do


def _now():
    """(epoch s, 0 when the clock is not set; uptime s)"""
    return (int(time()) if clock_is_set() else 0, uptime_ms() // 1000)


class Scheduler:
    """Meter i of the Table is read when due[i] (ticks_ms) comes;
    per meter, polls[i], ok[i], errors[i] count the reads started, succeeded
    and failed, failing[i] the failures in a row; last_ms[i] is the duration
    of the last read; ok_at[2 * i], ok_at[2 * i + 1] are the epoch s (0: the
    clock was not set) and uptime s of the last success; err_at[2 * i],
    err_at[2 * i + 1] and err_text[i] ("Class: message") of the last failure."""

    def __init__(self, master, table, dispatch, net):
        self.master = master
        self.meters = table
        self.dispatch = dispatch
        self.net = net
        self.lock = asyncio.Lock()
        self.last_progress = now = ticks_ms()
        n = table.n
        zeros = bytes(4 * n)  # n ints of 4 bytes
        self.due = array("i", zeros)
        for i in range(n):
            # every meter is read once at start, in config order
            self.due[i] = now  # type: ignore[call-overload]  # ticks are ints
        self.polls = array("i", zeros)
        self.ok = array("i", zeros)
        self.errors = array("i", zeros)
        self.failing = array("i", zeros)
        self.last_ms = array("i", zeros)
        self.ok_at = array("I", bytes(8 * n))
        self.err_at = array("I", bytes(8 * n))
        self.err_text = [None] * n  # type: list[str | None]
        self.busy = None  # name of the meter on the bus
        self.lateness_ms = 0  # worst start delay of a scheduled poll, for the benchmark

    def progress(self):
        return self.last_progress

    def find(self, name):
        """The index of the meter called name, or None."""
        i = self.meters.find(name)
        return None if i < 0 else i

    def _next(self):
        """The meter due first (the lowest index of those due alike), or -1."""
        due = self.due
        best = -1
        for i in range(self.meters.n):
            if best < 0 or ticks_diff(due[i], due[best]) < 0:
                best = i
        return best

    async def run(self):
        while True:
            self.last_progress = ticks_ms()
            i = self._next()
            if i < 0:
                await asyncio.sleep_ms(IDLE_STEP_MS)
                continue
            wait = ticks_diff(self.due[i], ticks_ms())
            if wait > 0:
                await asyncio.sleep_ms(min(wait, IDLE_STEP_MS))
                continue
            self.lateness_ms = max(self.lateness_ms, -wait)
            try:
                await self.poll(i)
            except Exception:
                pass  # counted and logged by poll() or publish(); the next meter's turn

    async def poll(self, i):
        """Read meter i now; publish and return its reading or raise the error."""
        t = self.meters
        name = t.name(i)
        async with self.lock:
            self.busy = name
            self.polls[i] += 1
            t0 = ticks_ms()
            try:
                address = t.address(i)
                opts = t.opts[i]
                result = await self.master.read(address, multi=bool(opts & MULTI), max_frames=opts & 0x1F)
                reading = readings.make(name, address, result, self.net.time_synced)
            except Exception as e:
                self._failed(i, name, e, t0)
                raise
            finally:
                self.busy = None
                self.last_progress = ticks_ms()
            self.last_ms[i] = ticks_diff(ticks_ms(), t0)
            if self.failing[i]:
                log.info("meter %s: answering again after %d failed reads", name, self.failing[i])
            self.ok[i] += 1
            self.failing[i] = 0
            self.ok_at[2 * i], self.ok_at[2 * i + 1] = _now()
            # on its grid when the read started on time; a read that started
            # late (the bus was busy with others, or away) counts from its
            # start: the meter goes behind the others due, so when the bus
            # cannot keep up every meter has its turn (earliest due first)
            interval = t.interval_ms[i]
            on_time = ticks_diff(t0, self.due[i]) <= ON_TIME_MS
            self.due[i] = ticks_add(self.due[i] if on_time else t0, interval)  # type: ignore[call-overload]
        await self.dispatch.publish(reading)
        gc.collect()  # between reads: keeps the heap unfragmented
        return reading

    def _failed(self, i, name, e, t0):
        self.last_ms[i] = ticks_diff(ticks_ms(), t0)
        self.errors[i] += 1
        self.failing[i] += 1
        err = "%s: %s" % (type(e).__name__, e)
        for text in self.err_text:  # a dead bus fails every meter alike: one string for all
            if text == err:
                err = text
                break
        self.err_text[i] = err
        self.err_at[2 * i], self.err_at[2 * i + 1] = _now()
        backoff = min(self.meters.interval_ms[i], BACKOFF_FIRST_MS << min(self.failing[i] - 1, 6))
        self.due[i] = ticks_add(ticks_ms(), backoff)  # type: ignore[call-overload]  # ticks are ints
        log.warning("meter %s: read failed (%d in a row): %s; next try in %d s", name, self.failing[i], err, backoff // 1000)
        if isinstance(e, MemoryError):
            gc.collect()  # what the failed read left is garbage: the retry finds it free
        elif not isinstance(e, MBusError):
            log.exception("meter %s: unexpected error" % name, e)  # a bug, not the bus: keep the traceback
