# The one writer of a reading's JSON (outbox records, the latest-reading
# files, the console): compact, streamed value by value (never one big
# string in the heap), top-level keys in a fixed order with "meter" first,
# so a sink learns the meter from a stored record's first bytes without
# parsing it, "fields" written as the exact decimal text of its values and
# "raw" frames, kept as bytes, written as hex piece by piece (a 255-byte
# frame would be a 510-byte string twice over otherwise).
import json
from binascii import hexlify

from compat import MICROPYTHON

FIRST = ("meter", "seq", "time", "time_synced", "uptime_s", "primary_address", "secondary_address", "fields")
PREFIX = b'{"meter":"'  # how every stored reading starts

try:
    _KW = {"separators": (",", ":")}
    json.dumps({}, **_KW)
except TypeError:  # older MicroPython: already compact
    _KW = {}


def _writer(f):
    if MICROPYTHON or hasattr(f, "encoding") or not hasattr(f, "mode"):
        return f.write  # MicroPython files take str; text files and sums too
    return lambda s: f.write(s.encode())  # a CPython binary file


def _value(v, f, write):
    if MICROPYTHON:
        json.dump(v, f, **_KW)  # streamed in small pieces
    else:
        write(json.dumps(v, **_KW))


def _raw(frames, write):
    sep = "["
    for fr in frames:
        if isinstance(fr, str):  # already hex
            write(sep + json.dumps(fr))
        else:
            write(sep + '"')
            mv = memoryview(fr)
            for i in range(0, len(mv), 32):
                write(hexlify(mv[i : i + 32]).decode().upper())  # type: ignore[arg-type]  # any buffer will do
            write('"')
        sep = ","
    write("[]" if sep == "[" else "]")


def dump(reading, f):
    """Write reading (a dict) as JSON to f. reading["fields"], when there,
    is fields.extract()'s list: written as {"key":number,...}; the frames of
    reading["raw"] may be bytes: written as upper-case hex."""
    write = _writer(f)
    sep = "{"
    for k in FIRST:
        if k in reading:
            write(sep + '"' + k + '":')
            sep = ","
            if k == "fields":
                write("{" + ",".join('"%s":%s' % (x[0], x[3]) for x in reading[k]) + "}")
            else:
                _value(reading[k], f, write)
    for k in reading:
        if k not in FIRST:
            write(sep + json.dumps(k) + ":")
            sep = ","
            if k == "raw":
                _raw(reading[k], write)
            else:
                _value(reading[k], f, write)
    write("}" if sep == "," else "{}")


def meter_of(head):
    """The meter name at the start of a stored reading (its first bytes), or None."""
    n = len(PREFIX)
    if bytes(head[:n]) != PREFIX:
        return None
    end = bytes(head[n : n + 40]).find(b'"')
    return bytes(head[n : n + end]).decode() if end > 0 else None
