# Fixed data structure (CI 73h/77h, EN 13757-3): identification, status and
# two counters with their units. Few meters send it, so the decoder imports
# this module on the first such telegram only.
from mbus import tables as T
from mbus import values as V
from mbus.errors import DecodeError
from mbus.telegram import header

LENGTH = 16  # bytes after the CI field


def fixed(mv, i, end, big, tg):
    """Fixed data structure (CI 73h/77h): id, two counters, their units."""
    if end - i != LENGTH:
        raise DecodeError("fixed data structure is %d bytes, got %d" % (LENGTH, end - i), end)
    status = mv[i + 5]
    u1 = mv[i + 6]
    u2 = mv[i + 7]
    medium = ((u2 >> 6) << 2) | (u1 >> 6)
    h = tg["header"] = header(V.hexstr(mv, i, 4, not big), None, None, None, mv[i + 4], status, None)
    h["medium_code"] = medium
    h["medium"] = T.listed(T.FIXED_MEDIUMS, medium)
    # Status bit 7: counters binary, not BCD; bit 6: stored (historic) values
    # at a fixed date. The variable data structure leaves both to the
    # manufacturer, this one defines them.
    flags = h["status_flags"]
    for k in range(len(flags)):
        if flags[k] == "manufacturer_bit_6":
            flags[k] = "historic_values"
        elif flags[k] == "manufacturer_bit_7":
            flags[k] = "counters_binary"
    storage = 1 if status & 0x40 else 0
    units = T.FIXED_UNITS
    for off, code in ((8, u1 & 0x3F), (12, u2 & 0x3F)):
        rec = {"function": "instantaneous", "storage": storage, "tariff": 0, "subunit": 0}
        if code == 0x3E:
            # "Same unit as counter 1, historic value".
            code = u1 & 0x3F
            rec["storage"] = 1
        r = 0
        while r + 5 < len(units) and units[r + 5] <= code:
            r += 5
        if status & 0x80:
            v, why = V.integer(mv, i + off, 4, big), None
        else:
            v, why = V.bcd(mv, i + off, 4, big)
        if v is not None:
            e = units[r + 3] - 128 + (units[r + 4] - 128) * (code - units[r])
            v = V.scale(v, e)
        rec["quantity"] = T.name(units[r + 1])
        rec["unit"] = T.name(units[r + 2])
        rec["value"] = v
        if why:
            rec["invalid"] = why
            rec["raw"] = V.hexstr(mv, i + off, 4)
        tg["records"].append(rec)
