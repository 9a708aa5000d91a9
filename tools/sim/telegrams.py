"""Reply telegrams for simulated slaves: loaded from the corpus or from hex,
with header fields rewritten the way a different meter would send them."""
import os

from mbus import frame
from mbus import requests as rq

CI_RSP_UD_FIXED = 0x73
DIF_MANUFACTURER = 0x0F
DIF_MORE_RECORDS = 0x1F


def from_hex(text):
    return bytes.fromhex("".join(text.split()))


def load(path):
    with open(path) as f:
        data = from_hex(f.read())
    frame.parse(data)  # a clear error now beats a confusing one on the bus
    return data


def _rebuild(data, user_data=None, c=None, a=None):
    """Same frame with the user data after CI, C and A replaced; checksum fixed."""
    kind, c0, a0, ci, start, end = frame.parse(data)
    if kind != frame.KIND_LONG:
        raise ValueError("a reply telegram must be a long frame, got a %s frame" % kind)
    body = bytes(data[start:end]) if user_data is None else user_data
    return frame.long_frame(c0 if c is None else c, a0 if a is None else a, ci, body)


def with_address(data, a):
    """The telegram as the slave at primary address a sends it (A field)."""
    return _rebuild(data, a=a)


def secondary_of(data):
    """The secondary address a telegram's header announces, or None."""
    sec = rq.reply_secondary(data)
    if sec is None and data[6] == CI_RSP_UD_FIXED:
        # Fixed structure: identification only.
        return rq.secondary_string(bytes(data[7:11]) + b"\x00\x00\x00\x00")
    return sec


def with_secondary(data, secondary):
    """The telegram with its long header naming secondary (CI 72h only)."""
    if data[6] != rq.CI_RSP_UD:
        return data
    body = bytearray(data[7:-2])
    body[0:8] = rq.secondary_bytes(secondary)
    return _rebuild(data, bytes(body))


def with_more_records(data):
    """The telegram announcing "more records follow": its DIF 0Fh (manufacturer
    data to the end) becomes 1Fh, or a DIF 1Fh is appended."""
    import mbus

    body = bytearray(data[7:-2])
    mdata = mbus.decode(data).get("manufacturer_data")
    at = len(body) - len(mdata) // 2 - 1 if mdata is not None else -1
    if at >= 0 and body[at] in (DIF_MANUFACTURER, DIF_MORE_RECORDS):
        body[at] = DIF_MORE_RECORDS
    else:
        body.append(DIF_MORE_RECORDS)
    return _rebuild(data, bytes(body))


def closing(data):
    """A last telegram with the same header and no records, to end a sequence."""
    if data[6] == rq.CI_RSP_UD:
        return _rebuild(data, bytes(data[7:19]))
    return _rebuild(data, bytes(data[7:11 if data[6] == CI_RSP_UD_FIXED else 7]))


def with_access_number(data, n):
    if data[6] != rq.CI_RSP_UD:
        return data
    body = bytearray(data[7:-2])
    body[8] = n & 0xFF
    return _rebuild(data, bytes(body))


def more_records_follow(data):
    """Whether the decoder reads "more records follow" in this telegram."""
    import mbus

    try:
        return bool(mbus.decode(data).get("more_records_follow"))
    except (mbus.MBusError, AttributeError, ImportError):
        return False


def corpus_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "..", "shared", "corpus", "libmbus")
    return os.path.abspath(os.environ.get("MBUS_CORPUS", default))
