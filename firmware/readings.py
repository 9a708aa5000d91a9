# One successful meter read becomes one reading (format: README, "Reading"),
# and every reading passes through one Dispatch: its stages (the outbox first:
# it assigns "seq"), the latest-reading store the API serves, and the console.
# The store is a file per meter on flash (latest/<meter>.json), written by
# streaming the JSON (reading_json) and replaced atomically: a reading never
# needs one big block of a small, fragmented heap, and the API streams the
# file back. Which meters have one is asked of the flash, not kept in RAM.
import os
import sys

import fields
import fsutil
import log
from compat import clock_is_set, iso_utc, uptime_ms
from reading_json import dump

LATEST_DIR = "latest"


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
        "fields": fields.extract(telegram.get("records") or ()),
        "telegram": telegram,
        "raw": result["frames"],  # bytes: reading_json writes them as hex
        "seq": None,
    }


class Dispatch:
    def __init__(self, echo=True, folder=LATEST_DIR):
        self.folder = folder  # what the last run stored there is served until replaced
        self.stages = []
        self.echo = echo
        self.count = 0
        try:
            if not fsutil.exists(folder):
                os.mkdir(folder)
        except OSError as e:  # a full flash: readings go on, the API has none stored
            log.warning("readings: %s/ not usable: %s", folder, e)

    def path(self, name):
        """The file with the latest reading of meter name, or None: none
        stored, or no meter name (a path: "../config" must not be served)."""
        if not self.folder or not name or "/" in name or "." in name or "\\" in name:  # FAT takes "\\" too
            return None
        p = self.folder + "/" + name + ".json"
        return p if fsutil.exists(p) else None

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
                what = "reading of %s: stage %s failed" % (reading["meter"], getattr(fn, "__name__", fn))
                if hasattr(e, "errno") or isinstance(e, MemoryError):  # flash or heap: known, no traceback
                    log.error("%s: %s: %s", what, type(e).__name__, e)
                else:
                    log.exception(what, e)
        name = reading["meter"]
        path = self.folder + "/" + name + ".json" if self.folder else None  # None: no API to serve it
        try:
            if path:
                fsutil.write_atomic(path, reading, dump)
        except Exception as e:  # a full flash: the stages have the reading already
            log.error("reading of %s not kept for the API: %s", name, fsutil.why(e))
        self.count += 1
        if self.echo:
            try:
                dump(reading, sys.stdout)  # one JSON line per reading, streamed
            except MemoryError:  # the line stays cut: say so on it, not on the next
                sys.stdout.write(" [cut: out of memory]")
            sys.stdout.write("\n")
