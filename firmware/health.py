# Keeping the gateway alive without a person: the watchdog is fed only while
# the scheduler makes progress, crashed tasks are restarted, and boots that
# keep crashing end in safe mode instead of a boot loop.
import asyncio
import gc
import json

import fsutil
import log
from compat import heap, ticks_diff, ticks_ms, uptime_ms

BOOT_PATH = "boot_state.json"
STABLE_MS = 60000  # a boot that ran this long without crashing counts as good
TASK_BACKOFF_MAX_S = 60


class BootState:
    """Counts boots that did not reach STABLE_MS; kept in a small file."""

    def __init__(self, path=BOOT_PATH):
        self.path = path
        self.unstable = 0
        self.last_crash = None
        try:
            d = json.loads(fsutil.read_text(path))
            self.unstable = int(d.get("unstable_boots", 0))
            self.last_crash = d.get("last_crash")
        except (OSError, ValueError, AttributeError):
            pass  # first boot, or a file a power cut broke: start counting afresh

    def _save(self):
        try:
            fsutil.write_atomic(self.path, json.dumps({"unstable_boots": self.unstable, "last_crash": self.last_crash}))
        except OSError as e:  # a full flash must not stop the boot: the count waits for room
            log.warning("health: %s not written: %s", self.path, e)

    def begin(self):
        """Count this boot as unstable until stable() says otherwise."""
        self.unstable += 1
        self._save()

    def stable(self):
        self.unstable = 0
        self._save()

    def crashed(self, exc):
        self.last_crash = "%s: %s" % (type(exc).__name__, exc)
        self._save()


class Health:
    """Feeds wdt (anything with feed(), or None) while progress() is recent."""

    def __init__(self, wdt, stall_s, progress, boot=None):
        self.wdt = wdt
        self.stall_ms = stall_s * 1000
        self.progress = progress  # () -> ticks_ms of the scheduler's last step
        self.boot = boot
        self.stalled = False
        self.feeds = 0
        self.heap_low = None  # least free heap after a collection, since boot

    def check(self):
        """One watchdog decision; returns True when the dog was fed."""
        age = ticks_diff(ticks_ms(), self.progress())
        if age > self.stall_ms:
            if not self.stalled:
                self.stalled = True
                log.error("health: scheduler made no progress for %d s; the watchdog will reset the board", age // 1000)
            return False
        self.stalled = False
        if self.wdt is not None:
            self.wdt.feed()
        self.feeds += 1
        return True

    def sample_heap(self):
        gc.collect()
        free = heap()[0]
        if free is not None and (self.heap_low is None or free < self.heap_low):
            self.heap_low = free
        return free

    async def run(self):
        while True:
            self.check()
            self.sample_heap()
            if self.boot is not None and self.boot.unstable and uptime_ms() >= STABLE_MS:
                self.boot.stable()
                log.info("health: running stably, boot crash counter cleared")
            await asyncio.sleep(1)


async def supervise(name, factory, restarts):
    """Run the coroutine factory() for ever; log and restart it when it raises.

    restarts is a dict name -> count, shown in /api/status.
    """
    delay = 1
    while True:
        t0 = ticks_ms()
        try:
            await factory()
            log.warning("task %s ended; restarting", name)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("task %s crashed" % name, e)
        restarts[name] = restarts.get(name, 0) + 1
        if ticks_diff(ticks_ms(), t0) > 60000:
            delay = 1  # it ran a good while: restart quickly
        await asyncio.sleep(delay)
        delay = min(delay * 2, TASK_BACKOFF_MAX_S)
