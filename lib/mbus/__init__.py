# mbus: a memory-lean M-Bus (EN 13757-2/-3) library for MicroPython and CPython.
# Kept tiny: submodules are imported only when first used.
from mbus.errors import MBusError, FrameError, DecodeError, UnsupportedError  # noqa: F401
from mbus.errors import NoReplyError, CollisionError, TransportError  # noqa: F401

__version__ = "0.1.0"


def decode(data):
    """Decode one whole frame (bytes, bytearray or memoryview) to a dict.

    Raises an MBusError subclass naming the problem and its byte offset.
    """
    from mbus.telegram import decode_frame
    return decode_frame(data)


def decode_user_data(data):
    """Decode application-layer user data that starts with the CI field."""
    from mbus.telegram import decode_user_data as decode_ud
    return decode_ud(data)


def merge(telegrams):
    """One telegram from the decoded telegrams of consecutive frames of a meter.

    Header and frame come from the first, records are concatenated in order,
    manufacturer data too, and more_records_follow is False.
    """
    if not telegrams:
        raise DecodeError("no telegrams to merge")
    first = telegrams[0]
    out = dict(first)
    records = []
    mdata = None
    address = first["header"]["secondary_address"]
    for k, t in enumerate(telegrams):
        other = t["header"]["secondary_address"]
        if address and other and other != address:
            raise DecodeError("telegram %d comes from meter %s, not %s" % (k, other, address))
        records.extend(t["records"])
        if "manufacturer_data" in t:
            mdata = (mdata or "") + t["manufacturer_data"]
    out["records"] = records
    out["more_records_follow"] = False
    if mdata is not None:
        out["manufacturer_data"] = mdata
    return out


def from_hex(text):
    """Bytes from hex text; whitespace between digits is ignored."""
    if not isinstance(text, str):
        raise FrameError("hex text must be a str")
    s = "".join(text.split())
    for k, ch in enumerate(s):
        if ch not in "0123456789abcdefABCDEF":
            raise FrameError("%r is not a hex digit" % ch, k // 2)
    if len(s) % 2:
        raise FrameError("odd number of hex digits (%d): a nibble is missing" % len(s), len(s) // 2)
    from binascii import unhexlify
    return unhexlify(s)
