# One successful meter read becomes one reading (format: README, "Reading"),
# and every reading passes through one Dispatch: its stages (the outbox first:
# it assigns "seq"), the latest-reading store the API serves, and the console.
# The store keeps each reading as its JSON text, serialized into a buffer
# that each meter keeps from one reading to the next: a decoded telegram as
# dicts costs about five times its JSON, and a fresh string per reading
# fragments a small heap until a 3 kB block cannot be found.
import io
import json
import sys
from binascii import hexlify

import log
from compat import clock_is_set, const, iso_utc, uptime_ms

SLOT_BYTES = const(5120)  # a 30-record telegram with its raw frame is about 4.6 kB of JSON


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


class Slot(io.IOBase):
    """One meter's latest reading as JSON bytes. json.dump() writes into the
    kept buffer; a buffer an HTTP response is still sending (readers > 0)
    is left alone and a new one filled instead."""

    def __init__(self, size=0):
        self.buf = bytearray(size)
        self.n = 0
        self.readers = 0
        self._w = self.buf
        self._wn = 0

    def write(self, b):
        if isinstance(b, str):
            b = b.encode()  # CPython's json writes str
        k = len(b)
        need = self._wn + k
        w = self._w
        if need > len(w):
            grown = bytearray(need + 1024)
            grown[:self._wn] = w[:self._wn]
            self._w = w = grown
        w[self._wn:need] = b
        self._wn = need
        return k

    def fill(self, obj):
        self._w = self.buf if self.readers == 0 else bytearray(len(self.buf))
        self._wn = 0
        self.n = 0  # while it is rewritten, the old text is gone
        json.dump(obj, self)
        self.buf, self.n = self._w, self._wn

    def view(self):
        return memoryview(self.buf)[:self.n]


def _echo(view):
    out = getattr(sys.stdout, "buffer", None)
    if out is not None:
        out.write(view)
        out.write(b"\n")
    else:
        print(bytes(view).decode())


class Dispatch:
    def __init__(self, echo=True):
        self.latest = {}  # meter name -> Slot with its last reading as JSON
        self.stages = []
        self.echo = echo
        self.count = 0

    def reserve(self, names, size=SLOT_BYTES):
        """Allocate the meters' buffers now, while the heap is still in one piece."""
        for name in names:
            self.latest[name] = Slot(size)

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
        name = reading["meter"]
        slot = self.latest.get(name)
        if slot is None:
            slot = self.latest[name] = Slot()
        try:
            slot.fill(reading)
        except Exception as e:  # MemoryError on a crowded heap: the stages have it already
            log.exception("reading of %s not kept for the API" % name, e)
            return
        self.count += 1
        if self.echo:
            _echo(slot.view())  # one JSON line per reading
