# One battery-mode wake: read the meters that are due (each reading goes
# through the dispatch, so the outbox stores it), forward when this wake is
# one that forwards (bringing the network up only then), then deep-sleep
# until the next meter is due. Every wake is bounded (power.awake_max_s):
# a dead meter or a dead network costs at most that long, and the board
# sleeps whatever happened. Decisions are in wakeplan.py; deep sleep and the
# state kept through it in deepsleep.py.
import asyncio
import gc
import time

import deepsleep
import log
import wakeplan
from compat import heap, ticks_diff, ticks_ms

_MARGIN_MS = 3000  # kept back from the bound for stopping sinks and saving state


def now_ms():
    return time.time_ns() // 1000000


class Wake:
    def __init__(self, gw):
        self.gw = gw
        self.power = gw.cfg["power"]
        self.tz = gw.cfg["time"]["tz_offset_min"]
        self.t0 = ticks_ms()

    def meters(self):
        """(name, interval ms) of each meter, made one at a time (wakeplan's input)."""
        t = self.gw.scheduler.meters
        for i in range(t.n):
            yield t.name(i), t.interval_ms[i]

    def left_ms(self):
        return self.power["awake_max_s"] * 1000 - _MARGIN_MS - ticks_diff(ticks_ms(), self.t0)

    async def run(self):
        board = self.gw.board
        st = wakeplan.usable(deepsleep.load(board))
        cold = st is None
        if cold:
            st = wakeplan.fresh()
        else:
            st["wakes"] += 1
        ms, why = wakeplan.MIN_SLEEP_MS, "retry"
        try:
            was_busy = st["busy"]
            pause = wakeplan.begin(st)
            deepsleep.save(board, st)
            if was_busy:
                log.warning("battery: the last wake did not reach its sleep (%d in a row)", st["aborted"])
            log.info("battery: wake %d (%s), heap free %s", st["wakes"], "cold boot" if cold else "from deep sleep",
                     heap()[0])
            if pause is not None:  # something keeps ending wakes early: do not loop on it
                ms, why = pause, "pause after wakes that did not finish"
            else:
                await asyncio.wait_for(self._cycle(st), max(1, self.left_ms()) / 1000)
                ms, why = wakeplan.next_wake(st, self.meters(), self.power, now_ms(), self.tz)
                st["aborted"] = 0
                self.gw.boot.stable()  # a completed wake: not a crash loop
        except asyncio.TimeoutError:
            log.warning("battery: wake cut off at its bound (power.awake_max_s %d)", self.power["awake_max_s"])
            ms, why = wakeplan.next_wake(st, self.meters(), self.power, now_ms(), self.tz)
        except Exception as e:
            log.exception("battery: wake failed", e)
            ms, why = wakeplan.next_wake(st, self.meters(), self.power, now_ms(), self.tz)
        finally:
            st["busy"] = False
            try:
                deepsleep.save(board, st)
            except Exception as e:  # a full or failing flash must not keep the board awake
                log.exception("battery: wake state not saved", e)
        gc.collect()
        log.info("battery: awake %d ms, sleeping %d ms (next: %s); heap free %s, least %s", ticks_diff(ticks_ms(), self.t0),
                 ms, why, heap()[0], self.gw.health.heap_low if self.gw.health else None)
        deepsleep.sleep(board, ms)

    async def _cycle(self, st):
        gw = self.gw
        net = gw.net
        net.time_synced = net.time_synced or st["synced"]  # the RTC kept the time NTP set
        sch = gw.scheduler
        for name in wakeplan.due_meters(st, self.meters(), now_ms()):
            i = sch.meters.find(name)
            ok = False
            if self.left_ms() <= 0:
                break
            try:
                r = await asyncio.wait_for(sch.poll(i), self.left_ms() / 1000)
                ok = True
                log.info("battery: read %s, seq %s", name, r["seq"])
            except asyncio.TimeoutError:
                log.warning("battery: read of %s cut off by the wake's bound", name)
            except Exception:
                pass  # logged and counted by the scheduler
            wakeplan.read_done(st, name, sch.meters.interval_ms[i], now_ms(), ok)
        fw = gw.forwarder
        if fw is None:
            return
        pending = max(fw.outbox.pending(s.name) for s in fw.sinks)
        reason = wakeplan.forward_reason(st, self.power, now_ms(), self.tz, pending, fw.outbox.capacity)
        if reason is None:
            log.info("battery: not forwarding this wake; %d reading(s) queued", pending)
            return
        log.info("battery: forwarding (%s), %d reading(s) queued", reason, pending)
        wakeplan.forward_done(st, now_ms(), False)  # counts as tried even if the bound cuts it off
        t = ticks_ms()
        budget = min(self.power["forward_s"] * 1000, self.left_ms())
        ok = await self._net_up(st, budget) and await fw.drain(max(0, budget - ticks_diff(ticks_ms(), t)) / 1000)
        if ok:
            wakeplan.forward_done(st, now_ms(), True)
        pending = max(fw.outbox.pending(s.name) for s in fw.sinks)
        if ok:
            log.info("battery: forwarded in %d ms, every sink caught up", ticks_diff(ticks_ms(), t))
        else:
            log.warning("battery: forwarding gave up after %d ms, %d reading(s) still queued",
                        ticks_diff(ticks_ms(), t), pending)

    async def _net_up(self, st, budget):
        """The network up within budget ms; the clock synced when it is due."""
        net = self.gw.net
        t = ticks_ms()
        ntp = wakeplan.ntp_due(st, self.power["ntp_every"])
        server = getattr(net, "ntp_server", None)  # None: the host keeps the clock (unix port)
        if server is not None:
            if not ntp:
                net.ntp_server = ""  # the RTC still has the time NTP set: save the energy
            elif server:
                net.time_synced = False  # tells the new sync from the remembered one
        before = now_ms() - ticks_diff(ticks_ms(), t)
        task = asyncio.create_task(net.run())  # connects, then syncs the clock if ntp_server
        while not net.up():
            if ticks_diff(ticks_ms(), t) > budget:
                task.cancel()
                net.time_synced = st["synced"]
                log.warning("battery: no network within %d ms", budget)
                return False
            await asyncio.sleep_ms(100)
        if ntp and server is None:
            wakeplan.synced(st)
            log.info("battery: clock synced (the host's clock)")
        elif ntp and server:
            up = ticks_ms()
            while not net.time_synced and ticks_diff(ticks_ms(), up) < 5000 and ticks_diff(ticks_ms(), t) < budget:
                await asyncio.sleep_ms(50)
            if net.time_synced:
                delta = now_ms() - before - ticks_diff(ticks_ms(), t)
                if abs(delta) > 2000:  # the clock was set: due times move with it
                    wakeplan.shift(st, delta)
                wakeplan.synced(st)
                log.info("battery: clock synced by NTP (moved %d ms)", delta)
            else:
                net.time_synced = st["synced"]
        return True
