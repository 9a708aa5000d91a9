# Data field decoders of EN 13757-3 annex A: binary integers (type B), BCD
# (type A), real (type H), the date/time types G, J, F and I, and text
# (type K, rare, is in daylight.py, imported when a record carries it).
# Each reads n bytes at offset i of a memoryview; big=True for the MSB-first
# CIs 76h/77h. Where the data marks itself invalid they return None and the
# reason, so a record can say why instead of carrying a made-up number.
from binascii import hexlify
from struct import unpack_from


def integer(mv, i, n, big, signed=True):
    """Binary integer of n bytes, signed (type B) unless signed=False."""
    v = int.from_bytes(mv[i:i + n], "big" if big else "little")
    if signed and v >> (8 * n - 1):
        v -= 1 << (8 * n)
    return v


def decimal(n, e):
    """Exact text of the int n times 10**e, e < 0 ("54.321" for 54321, -3).

    A float may not hold every digit (the ESP32's are single precision:
    about 7), so a record scaled down carries this beside its value.
    """
    s = str(-n if n < 0 else n)
    if len(s) <= -e:
        s = "0" * (1 - e - len(s)) + s
    s = (s[:e] + "." + s[e:]).rstrip("0").rstrip(".")
    return "-" + s if n < 0 else s


_EXACT = 1 << 53  # ints below this convert to a float exactly


def scale(v, e):
    """v * 10**e: an int stays an exact int for e >= 0; otherwise the float
    nearest to the exact result, the same on CPython and MicroPython.

    Small ints and exponents are two exact floats and one rounding here;
    MicroPython divides a big int by converting it to a float first (two
    roundings, CPython rounds once), so ints of 53 bits or more, and powers
    of ten past 10**22, go to mbus.bigscale (imported on first use).
    """
    if e >= 0:
        if type(v) is int or e <= 22:
            return v * 10 ** e
    elif e >= -22 and (type(v) is not int or -_EXACT < v < _EXACT):
        return v / 10 ** -e
    from mbus.bigscale import scale_big

    return scale_big(v, e)


def real(mv, i, big):
    """(value, None) of a 32-bit IEEE float (type H); NaN is invalid."""
    v = unpack_from(">f" if big else "<f", mv, i)[0]
    if v != v:
        return None, "real is NaN"
    return v, None


def bcd(mv, i, n, big):
    """(value, None) of BCD (type A), or (None, reason) for digits A-F.

    Fh as the most significant digit makes the number negative; any other
    digit above 9 is reported, not decoded.
    """
    s = "%0*x" % (2 * n, integer(mv, i, n, big, False)) if n else "0"
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
    """Text of an LVAR field or plain-text VIF, sent last character first."""
    b = bytes(mv[i + n - 1 - k] for k in range(n))
    for c in b:
        if c > 0x7E or c < 0x20:
            # ISO 8859-1 maps byte values to code points one to one.
            return "".join(chr(c) for c in b)
    return b.decode()


def timepoint(mv, i, n, big):
    """(ISO 8601 str, None) of a date/time field by its length, or (None, why).

    2 bytes type G (date), 3 type J (time of day), 4 type F (date and time to
    the minute), 6 type I (to the second: a seconds byte, then F's layout).
    Year 127 means "every year": the yearless form --MM-DD is returned.
    """
    v = integer(mv, i, n, big, False)
    if n == 3:
        second, minute, hour = v & 0x3F, (v >> 8) & 0x3F, (v >> 16) & 0x1F
        if second > 59 or minute > 59 or hour > 23:
            return None, "time out of range"
        return "%02d:%02d:%02d" % (hour, minute, second), None
    if n not in (2, 4, 6):
        return None, "no date/time type is %d bytes long" % n
    second = hundreds = 0
    if n == 6:
        second = v & 0x3F
        v >>= 8
    elif n == 4:
        hundreds = (v >> 13) & 0x03
    if n > 2 and v & 0x80:
        return None, "date/time flagged invalid"
    d = v >> 16 if n > 2 else v
    day, month = d & 0x1F, (d >> 8) & 0x0F
    yy = ((d >> 5) & 0x07) | ((d >> 9) & 0x78)
    if not (1 <= month <= 12 and 1 <= day <= 31) or 99 < yy < 127:
        return None, "date out of range" if n == 2 else "date/time out of range"
    if yy == 127:
        s = "--%02d-%02d" % (month, day)
    else:
        if hundreds:
            year = 1900 + 100 * hundreds + yy
        else:
            year = 2000 + yy if yy < 81 else 1900 + yy
        s = "%04d-%02d-%02d" % (year, month, day)
    if n == 2:
        return s, None
    minute, hour = v & 0x3F, (v >> 8) & 0x1F
    if minute > 59 or hour > 23 or second > 59:
        return None, "date/time out of range"
    if n == 4:
        return "%sT%02d:%02d" % (s, hour, minute), None
    return "%sT%02d:%02d:%02d" % (s, hour, minute, second), None

