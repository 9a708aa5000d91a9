# Data field decoders of EN 13757-3 annex A: integers (type B), BCD (type A),
# real (type H), the date/time types G, F, I and J, and LVAR text. Each reads
# n bytes at offset i of a memoryview; big=True for the MSB-first CIs 76h/77h.
# They return the value, or None with a reason where the data marks itself
# invalid, so a record can say why instead of carrying a made-up number.
from binascii import hexlify
from struct import unpack_from

_BCD_FORMAT = ("", "%02x", "%04x", "%06x", "%08x", "%010x", "%012x")


def order(big):
    return "big" if big else "little"


def integer(mv, i, n, big):
    """Signed binary integer (type B), n of 1, 2, 3, 4, 6 or 8 bytes."""
    v = int.from_bytes(mv[i:i + n], order(big))
    if v >> (8 * n - 1):
        v -= 1 << (8 * n)
    return v


def unsigned(mv, i, n, big):
    return int.from_bytes(mv[i:i + n], order(big))


def real(mv, i, big):
    """32-bit IEEE float (type H); NaN means invalid."""
    v = unpack_from(">f" if big else "<f", mv, i)[0]
    if v != v:
        return None, "real is NaN"
    return v, None


def bcd(mv, i, n, big):
    """BCD (type A): (value, None), or (None, reason) for digits A-F.

    Fh as the most significant digit makes the number negative; any other
    digit above 9 is reported, not decoded.
    """
    fmt = _BCD_FORMAT[n] if n < len(_BCD_FORMAT) else "%%0%dx" % (2 * n)
    s = fmt % int.from_bytes(mv[i:i + n], order(big))
    if s.isdigit():
        return int(s), None
    if s[0] == "f" and s[1:].isdigit():
        return -int(s[1:]), None
    return None, "invalid BCD digits " + s.upper()


def hexstr(mv, i, n, reverse=False):
    """Uppercase hex of n bytes; reverse=True prints the last byte first."""
    if reverse:
        return hexlify(bytes(mv[i + n - 1 - k] for k in range(n))).decode().upper()
    return hexlify(mv[i:i + n]).decode().upper()


def text(mv, i, n):
    """LVAR/plain-text characters, sent last character first."""
    b = bytes(mv[i + n - 1 - k] for k in range(n))
    for c in b:
        if c > 0x7E or c < 0x20:
            # ISO 8859-1 maps byte values to code points one to one.
            return "".join(chr(c) for c in b)
    return b.decode()


def _year(yy, hundreds):
    if hundreds:
        return 1900 + 100 * hundreds + yy
    return 2000 + yy if yy < 81 else 1900 + yy


def _date(yy, hundreds, month, day):
    """ISO 8601 date; year 127 ("every year") gives the yearless --MM-DD."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if yy == 127:
        return "--%02d-%02d" % (month, day)
    if yy > 99:
        return None
    return "%04d-%02d-%02d" % (_year(yy, hundreds), month, day)


def date_g(mv, i, big):
    """Type G (CP16): date."""
    v = unsigned(mv, i, 2, big)
    day = v & 0x1F
    month = (v >> 8) & 0x0F
    yy = ((v >> 5) & 0x07) | ((v >> 9) & 0x78)
    s = _date(yy, 0, month, day)
    if s is None:
        return None, "date out of range"
    return s, None


def datetime_f(mv, i, big):
    """Type F (CP32): date and time to the minute; bit 7 flags it invalid."""
    v = unsigned(mv, i, 4, big)
    if v & 0x80:
        return None, "date/time flagged invalid"
    minute = v & 0x3F
    hour = (v >> 8) & 0x1F
    day = (v >> 16) & 0x1F
    month = (v >> 24) & 0x0F
    yy = ((v >> 21) & 0x07) | ((v >> 25) & 0x78)
    d = _date(yy, (v >> 13) & 0x03, month, day)
    if d is None or minute > 59 or hour > 23:
        return None, "date/time out of range"
    return "%sT%02d:%02d" % (d, hour, minute), None


def datetime_i(mv, i, big):
    """Type I (CP48): date and time to the second; bit 15 flags it invalid."""
    v = unsigned(mv, i, 6, big)
    if v & 0x8000:
        return None, "date/time flagged invalid"
    second = v & 0x3F
    minute = (v >> 8) & 0x3F
    hour = (v >> 16) & 0x1F
    day = (v >> 24) & 0x1F
    month = (v >> 32) & 0x0F
    yy = ((v >> 29) & 0x07) | ((v >> 33) & 0x78)
    d = _date(yy, 0, month, day)
    if d is None or second > 59 or minute > 59 or hour > 23:
        return None, "date/time out of range"
    return "%sT%02d:%02d:%02d" % (d, hour, minute, second), None


def time_j(mv, i, big):
    """Type J (CP24): time of day."""
    v = unsigned(mv, i, 3, big)
    second = v & 0x3F
    minute = (v >> 8) & 0x3F
    hour = (v >> 16) & 0x1F
    if second > 59 or minute > 59 or hour > 23:
        return None, "time out of range"
    return "%02d:%02d:%02d" % (hour, minute, second), None


# Date/time decoder by data field length: 2 G, 3 J, 4 F, 6 I.
TIMEPOINT = (None, None, date_g, time_j, datetime_f, None, datetime_i)
