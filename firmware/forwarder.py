# The forwarder drains the outbox: one asyncio task per sink sends that
# sink's readings in seq order, acknowledges each in the outbox once the
# sink confirmed it, and backs off (doubling, with jitter, up to the sink's
# backoff_max) while the sink fails. Nothing here blocks: a send is bounded
# by the sink's timeout and the outbox is a few small file operations.
import asyncio
import gc
import random

from compat import unload
from outbox import Outbox
from sinks import SinkError

_GIVE_UP = 3  # attempts at a reading the far end rejects as such


def setup(sinks, path="/outbox", capacity=200, gateway="mbus-gateway", on_poll=None, log=print):
    """The firmware's one call: sinks built from the config's validated
    "sinks" list, the outbox in path, and the Forwarder draining it. Then
    asyncio.create_task(fw.run()), fw.outbox.append(reading) per reading,
    fw.status() for the API."""
    from sinks.build import build_sinks

    built = build_sinks(sinks, gateway, on_poll, log)
    del build_sinks
    unload("sinks.build")  # boot-time code
    return Forwarder(Outbox(path, capacity, [s.name for s in built], log=log), built, log)


class Forwarder:
    """Forwarder(outbox, sinks, log=print). await run() forever (mains), or
    await drain(timeout) to deliver what is queued and stop (battery)."""

    def __init__(self, outbox, sinks, log=print):
        self.outbox = outbox
        self.sinks = sinks
        self.log = log
        self._wake = {}
        self.stats = {}  # type: dict[str, dict]
        for s in sinks:
            self._wake[s.name] = asyncio.Event()
            self.stats[s.name] = {"delivered": 0, "failures": 0, "skipped": 0,
                                  "last_error": None, "last_seq": None, "retry_in_s": 0}
        outbox.on_append = self.wake

    def wake(self):
        for ev in self._wake.values():
            ev.set()

    async def run(self):
        tasks = [asyncio.create_task(self._deliver(s)) for s in self.sinks]
        tasks += [asyncio.create_task(s.run()) for s in self.sinks if hasattr(s, "run")]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()

    async def drain(self, timeout):
        """Deliver everything queued, then stop the sinks; True when all
        sinks caught up within timeout seconds."""
        runner = asyncio.create_task(self.run())
        try:
            await asyncio.wait_for(self._caught_up(), timeout)
            done = True
        except asyncio.TimeoutError:
            done = False
        runner.cancel()
        for s in self.sinks:
            if hasattr(s, "stop"):
                try:
                    await asyncio.wait_for(s.stop(), 5)
                except Exception:
                    pass
        return done

    async def _caught_up(self):
        while any(self.outbox.pending(s.name) for s in self.sinks):
            await asyncio.sleep(0.05)

    async def _attempt(self, sink):
        """Send the next reading: None when there is none, else (seq, the
        error or None); seq 0 when the outbox itself failed."""
        try:
            item = self.outbox.peek(sink.name)  # a Body: the sink reads it from flash in pieces
        except Exception as e:  # flash or memory trouble: the reading stays queued
            return 0, e
        if item is None:
            return None
        try:
            await sink.send(item[0], item[1])
        except Exception as e:
            return item[0], e
        return item[0], None

    async def _deliver(self, sink):
        name = sink.name
        st = self.stats[name]
        ev = self._wake[name]
        delay = sink.backoff_min
        tries = 0
        while True:
            ev.clear()
            done = await self._attempt(sink)
            if done is None:
                await ev.wait()
                continue
            seq, e = done
            if e is None:
                st["delivered"] += 1
                st["last_seq"] = seq
                st["last_error"] = None
            else:
                if isinstance(e, MemoryError):
                    gc.collect()
                st["failures"] += 1
                st["last_error"] = "seq %d: %s" % (seq, e) if seq else "outbox: %r" % e
                # only the far end's word makes a reading undeliverable: any
                # other failure (network, broker, flash, even a bug) is retried
                tries = tries + 1 if isinstance(e, SinkError) and e.permanent else 0
                if tries < _GIVE_UP:
                    if st["failures"] == 1 or delay >= sink.backoff_max:
                        self.log("forward %s: %s" % (name, st["last_error"]))
                    st["retry_in_s"] = delay
                    await asyncio.sleep(delay * (0.75 + random.getrandbits(8) / 512))
                    delay = min(delay * 2, sink.backoff_max)
                    continue
                st["skipped"] += 1
                self.log("forward %s: gave up on seq %d after %d rejections: %s" % (name, seq, tries, e))
            tries = 0
            delay = sink.backoff_min
            st["retry_in_s"] = 0
            try:
                self.outbox.ack(name, seq)
            except Exception as err:  # flash trouble: the cursor moved in RAM anyway
                self.log("forward %s: %s" % (name, err))

    def status(self):
        """{"outbox": queued, dropped, ...; "sinks": {name: delivered,
        failures, skipped, last_error, pending, ...}}"""
        out = {}
        for s in self.sinks:
            d = dict(self.stats[s.name])
            d["kind"] = s.kind
            d["pending"] = self.outbox.pending(s.name)
            d.update(s.status())
            if d.get("last_error") is None and getattr(s, "last_error", None):
                d["last_error"] = s.last_error
            out[s.name] = d
        return {"outbox": self.outbox.status(), "sinks": out}
