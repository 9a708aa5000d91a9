# Data type K of EN 13757-3 annex A: the daylight saving rule a meter reports
# under VIF FDh 72h. Few meters send it, so telegram.py imports this module
# on the first such record instead of every board paying for it at import.
from mbus.values import integer


def rule(mv, i, n, big):
    """(interval str, fields, None) of a type K daylight saving rule, or (None, None, why).

    Layout of EN 13757-3:2018 annex A type K as transcribed in Lexicality/libmburs
    (src/parse/types/date.rs, TypeKDST), bits of the 32-bit value: 0-4 hour DST
    begins, 8-12 day it begins, 15 enabled, 16-20 day it ends, 21-22 hours of
    deviation, 23 its sign (set: +), 24-27 month it begins, 28-31 month it ends.
    Bits 5-7 and 13-14 (the local time's deviation to GMT) are left in raw:
    that source combines them inconsistently with the range it checks.
    """
    if n != 4:
        return None, None, "type K is 4 bytes, not %d" % n
    v = integer(mv, i, 4, big, False)
    hour, day1, day2 = v & 0x1F, (v >> 8) & 0x1F, (v >> 16) & 0x1F
    month1, month2 = (v >> 24) & 0x0F, v >> 28
    if hour > 23 or not (day1 and day2 and 1 <= month1 <= 12 and 1 <= month2 <= 12):
        return None, None, "daylight saving rule out of range"
    deviation = (v >> 21) & 3
    if not v & 0x800000:
        deviation = -deviation
    begin = "--%02d-%02dT%02d:00" % (month1, day1, hour)
    end = "--%02d-%02d" % (month2, day2)
    return begin + "/" + end, {"begin": begin, "end": end, "deviation_h": deviation,
                               "enabled": bool(v & 0x8000)}, None
