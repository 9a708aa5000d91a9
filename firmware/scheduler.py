# Polls every configured meter at its own interval over one bus. Bus access
# is serialized by a lock (the API's "poll now" takes it too). A meter that
# fails is retried with a growing backoff and moved behind the meters that
# are due, so it never delays them; each meter keeps its own counters.
import asyncio
import gc

import log
import readings
from mbus.errors import MBusError
from time import time

from compat import const, clock_is_set, ticks_add, ticks_diff, ticks_ms, uptime_ms

BACKOFF_FIRST_MS = const(5000)
IDLE_STEP_MS = const(1000)  # the loop wakes at least this often (watchdog progress)


class Meter:
    # Twelve attributes at most: a thirteenth makes MicroPython's attribute
    # table of each meter half as big again.
    def __init__(self, cfg):
        self.cfg = cfg  # multi, max_frames: read at each poll
        self.name = cfg["name"]
        self.address = cfg["address"]
        self.interval_ms = cfg["interval_s"] * 1000
        self.due = ticks_ms()
        self.faults = 0  # failed exchanges during its reads, retried or not (polls: ok + errors)
        self.ok = 0
        self.errors = 0
        self.failing = 0  # consecutive failures
        # The last success as (epoch s or None, uptime s), the last failure as
        # (epoch s or None, uptime s, "Class: message"): rendered by status.py
        self.ok_at = None
        self.failed = None
        self.last_ms = None  # duration of the last read


def _now():
    return (int(time()) if clock_is_set() else None, uptime_ms() // 1000)


class Scheduler:
    def __init__(self, master, meters, dispatch, net):
        self.master = master
        self.meters = [Meter(m) for m in meters if m["enabled"]]
        self.dispatch = dispatch
        self.net = net
        self.lock = asyncio.Lock()
        self.last_progress = ticks_ms()
        self.polls = 0
        self.errors = 0
        self.busy = None  # name of the meter on the bus
        self.lateness_ms = 0  # worst start delay of a scheduled poll, for the benchmark

    def progress(self):
        return self.last_progress

    def find(self, name):
        for m in self.meters:
            if m.name == name:
                return m
        return None

    def _next(self):
        best = None
        for m in self.meters:
            if best is None or ticks_diff(m.due, best.due) < 0:
                best = m
        return best

    async def run(self):
        while True:
            self.last_progress = ticks_ms()
            m = self._next()
            if m is None:
                await asyncio.sleep_ms(IDLE_STEP_MS)
                continue
            wait = ticks_diff(m.due, ticks_ms())
            if wait > 0:
                await asyncio.sleep_ms(min(wait, IDLE_STEP_MS))
                continue
            self.lateness_ms = max(self.lateness_ms, -wait)
            try:
                await self.poll(m)
            except Exception:
                pass  # counted and logged by poll() or publish(); the next meter's turn

    async def poll(self, m):
        """Read meter m now; publish and return its reading or raise the error."""
        async with self.lock:
            self.busy = m.name
            self.polls += 1
            t0 = ticks_ms()
            f0 = self.master.failed()
            try:
                result = await self.master.read(m.address, multi=m.cfg["multi"], max_frames=m.cfg["max_frames"])
                reading = readings.make(m.name, m.address, result, self.net.time_synced)
            except Exception as e:
                self._failed(m, e, t0)
                raise
            finally:
                m.faults += self.master.failed() - f0
                self.busy = None
                self.last_progress = ticks_ms()
            m.last_ms = ticks_diff(ticks_ms(), t0)
            m.ok += 1
            if m.failing:
                log.info("meter %s: answering again after %d failed reads", m.name, m.failing)
            m.failing = 0
            m.ok_at = _now()
            nxt = ticks_add(m.due, m.interval_ms)
            m.due = nxt if ticks_diff(nxt, ticks_ms()) > 0 else ticks_add(ticks_ms(), m.interval_ms)
        await self.dispatch.publish(reading)
        gc.collect()  # between reads: keeps the heap unfragmented
        return reading

    def _failed(self, m, e, t0):
        m.last_ms = ticks_diff(ticks_ms(), t0)
        m.errors += 1
        m.failing += 1
        self.errors += 1
        err = "%s: %s" % (type(e).__name__, e)
        m.failed = _now() + (err,)
        backoff = min(m.interval_ms, BACKOFF_FIRST_MS << min(m.failing - 1, 6))
        m.due = ticks_add(ticks_ms(), backoff)
        log.warning("meter %s: read failed (%d in a row): %s; next try in %d s", m.name, m.failing, err, backoff // 1000)
        if isinstance(e, MemoryError):
            gc.collect()  # what the failed read left is garbage: the retry finds it free
        elif not isinstance(e, MBusError):
            log.exception("meter %s: unexpected error" % m.name, e)  # a bug, not the bus: keep the traceback
