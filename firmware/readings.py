# One successful meter read becomes one reading (format: README, "Reading"),
# and every reading passes through one Dispatch: its stages (the outbox first:
# it assigns "seq"), the latest-reading store the API serves, and the console.
# The store keeps each reading as its JSON text: a decoded telegram as dicts
# costs about five times its JSON on the heap.
import json
from binascii import hexlify

import log
from compat import clock_is_set, iso_utc, uptime_ms


def make(name, address, result, time_synced):
    """The reading for a master.read() result of the meter called name."""
    telegram = result["telegram"]
    a = telegram.get("frame", {}).get("a")
    # configured by secondary address: the primary one its reply carries
    primary = address if isinstance(address, int) else (a if isinstance(a, int) and a <= 250 else None)
    return {
        "meter": name,
        "primary_address": primary,
        "secondary_address": telegram.get("header", {}).get("secondary_address"),
        "time": iso_utc() if clock_is_set() else None,
        "time_synced": bool(time_synced and clock_is_set()),
        "uptime_s": uptime_ms() // 1000,
        "telegram": telegram,
        "raw": [hexlify(f).decode().upper() for f in result["frames"]],
        "seq": None,
    }


class Dispatch:
    def __init__(self, echo=True):
        self.latest = {}  # meter name -> its last reading, as JSON text
        self.stages = []
        self.echo = echo
        self.count = 0

    def add_stage(self, fn):
        """fn(reading) runs for every reading, in order; it may be a coroutine
        function and may add keys (the outbox sets "seq")."""
        self.stages.append(fn)

    async def publish(self, reading):
        for fn in self.stages:
            try:
                r = fn(reading)
                if r is not None and hasattr(r, "send"):
                    await r
            except Exception as e:
                log.exception("reading of %s: stage %s failed" % (reading["meter"], getattr(fn, "__name__", fn)), e)
        text = json.dumps(reading)
        self.latest[reading["meter"]] = text
        self.count += 1
        if self.echo:
            print(text)  # one JSON line per reading
