# Application layer (EN 13757-3): CI field, header and data records of one
# telegram, decoded into the JSON-ready dict of README "The JSON telegram".
# Works on offsets into one memoryview; values are scaled to the base unit of
# their quantity as libmbus's normalized output does.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from mbus import tables as T
from mbus import values as V
from mbus.errors import DecodeError, UnsupportedError
from mbus.frame import parse as parse_frame

MAX_DIFE = const(10)
MAX_VIFE = const(10)
LONG_HEADER = const(12)
SHORT_HEADER = const(4)
FIXED_LENGTH = const(16)

_PRIMARY = T.index(T.PRIMARY)
_FD = T.index(T.EXT_FD)
_FB = T.index(T.EXT_FB)
_ORTHO = T.index(T.ORTHO)


def view(data):
    """A byte memoryview of data; anything else is a DecodeError."""
    try:
        mv = memoryview(data)
        # CPython only: other formats, shapes or strides become plain bytes.
        if getattr(mv, "format", "B") != "B" or not getattr(mv, "c_contiguous", True) \
                or getattr(mv, "ndim", 1) != 1:
            mv = memoryview(mv.tobytes())
    except (TypeError, ValueError) as e:
        raise DecodeError("expected bytes, bytearray or memoryview: %s" % e)
    return mv


def decode_frame(data):
    """Decode one whole M-Bus frame (link layer checked first)."""
    mv = view(data)
    kind, c, a, ci, start, end = parse_frame(mv)
    if ci is None:
        raise UnsupportedError("a %s frame carries no telegram" % kind, 0)
    return decode(mv, start - 1, end, {"type": kind, "c": c, "a": a, "ci": ci})


def decode_user_data(data):
    """Decode user data that starts with its CI field (no link frame)."""
    mv = view(data)
    if not len(mv):
        raise DecodeError("empty user data: the CI field is missing", 0)
    return decode(mv, 0, len(mv), {"type": "user_data", "c": None, "a": None, "ci": mv[0]})


def decode(mv, i, end, frame):
    """Telegram from the CI field at mv[i] up to mv[end]."""
    ci = mv[i]
    i += 1
    tg = {"frame": frame}
    if ci == 0x72 or ci == 0x76:
        big = ci == 0x76
        if end - i < LONG_HEADER:
            raise DecodeError("long header needs 12 bytes, only %d follow the CI field" % (end - i), end)
        tg["header"] = long_header(mv, i, big)
        records(mv, i + LONG_HEADER, end, big, tg)
    elif ci == 0x7A:
        if end - i < SHORT_HEADER:
            raise DecodeError("short header needs 4 bytes, only %d follow the CI field" % (end - i), end)
        tg["header"] = header(None, None, None, None, mv[i], mv[i + 1], V.unsigned(mv, i + 2, 2, False))
        records(mv, i + SHORT_HEADER, end, False, tg)
    elif ci == 0x78:
        tg["header"] = header(None, None, None, None, None, None, None)
        records(mv, i, end, False, tg)
    elif ci == 0x73 or ci == 0x77:
        fixed(mv, i, end, ci == 0x77, tg)
    elif ci == 0x70:
        # Application error; no code at all means "unspecified" (code 0).
        code = mv[i] if i < end else 0
        tg["header"] = header(None, None, None, None, None, None, None)
        tg["records"] = []
        tg["more_records_follow"] = False
        msgs = T.APPLICATION_ERRORS
        tg["error"] = {"code": code, "message": msgs[code] if code < len(msgs) else "reserved"}
    elif ci == 0x71:
        tg["header"] = header(None, None, None, None, None, None, None)
        tg["records"] = []
        tg["more_records_follow"] = False
        tg["alarm"] = V.unsigned(mv, i, end - i, False)
    else:
        name = T.MASTER_CI.get(ci)
        if name:
            raise UnsupportedError("CI field 0x%02X (%s) is sent by a master, not a slave response" % (ci, name),
                                   i - 1)
        raise UnsupportedError("unknown CI field 0x%02X" % ci, i - 1)
    return tg


def header(ident, man, version, medium, access, status, signature):
    h = {"id": ident, "manufacturer": None, "version": version, "medium": None, "medium_code": medium,
         "access_number": access, "status": status, "status_flags": None, "signature": signature,
         "secondary_address": None}
    if man is not None:
        h["manufacturer"] = chr(((man >> 10) & 0x1F) + 64) + chr(((man >> 5) & 0x1F) + 64) + chr((man & 0x1F) + 64)
        # Wire order of mode 1 (low byte first), as the master's select sends it.
        h["secondary_address"] = "%s%02X%02X%02X%02X" % (ident, man & 0xFF, man >> 8, version, medium)
    if medium is not None:
        names = T.MEDIUMS
        h["medium"] = names[medium] if medium < len(names) else "reserved"
    if status is not None:
        h["status_flags"] = status_flags(status)
    return h


def long_header(mv, i, big):
    return header(V.hexstr(mv, i, 4, not big), V.unsigned(mv, i + 4, 2, big), mv[i + 6], mv[i + 7],
                  mv[i + 8], mv[i + 9], V.unsigned(mv, i + 10, 2, big))


def status_flags(status):
    flags = []
    state = T.APPLICATION_STATES[status & 3]
    if state:
        flags.append(state)
    for bit in range(6):
        if status & (4 << bit):
            flags.append(T.STATUS_BITS[bit])
    return flags


def records(mv, i, end, big, tg):
    """Data records from mv[i] to mv[end] into tg (records, special functions)."""
    out = []
    tg["records"] = out
    tg["more_records_follow"] = False
    functions = T.FUNCTIONS
    lengths = T.DATA_LENGTH
    primary = T.PRIMARY
    pindex = _PRIMARY
    while i < end:
        at = i
        dif = mv[i]
        i += 1
        coding = dif & 0x0F
        if coding == 0x0F:
            if dif == 0x2F:
                continue  # idle filler
            if dif == 0x0F or dif == 0x1F:
                # Manufacturer data header: the rest of the user data is the
                # manufacturer's; 1Fh adds "more records follow".
                tg["manufacturer_data"] = V.hexstr(mv, i, end - i)
                tg["more_records_follow"] = dif == 0x1F
                return
            if dif == 0x7F:
                out.append({"function": "instantaneous", "storage": 0, "tariff": 0, "subunit": 0,
                            "quantity": "global_readout", "unit": "", "value": None})
                continue
            raise UnsupportedError("DIF 0x%02X is a reserved special function" % dif, at)
        storage = (dif >> 6) & 1
        tariff = subunit = 0
        if dif & 0x80:
            n = 0
            while True:
                if i >= end:
                    raise DecodeError("record ends inside its DIFE chain", i)
                if n == MAX_DIFE:
                    raise DecodeError("more than 10 DIFEs in one record", i)
                dife = mv[i]
                i += 1
                storage |= (dife & 0x0F) << (1 + 4 * n)
                tariff |= ((dife >> 4) & 3) << (2 * n)
                subunit |= ((dife >> 6) & 1) << n
                n += 1
                if not dife & 0x80:
                    break
        if i >= end:
            raise DecodeError("record ends before its VIF", i)
        vif = mv[i]
        base = vif & 0x7F
        if vif & 0x80 or base == 0x7C:
            i, g, n, x = extended_vib(mv, i, end)
        else:
            i += 1
            g = primary[pindex[base]]
            n = base - g[0]
            x = None
        # Data field.
        if coding == 0x0D:
            if i >= end:
                raise DecodeError("record ends before its LVAR length byte", i)
            size = lvar_length(mv[i], i)
            i += 1
        else:
            size = lengths[coding]
        if i + size > end:
            raise DecodeError("record data needs %d bytes, only %d left" % (size, end - i), i)
        rec = {"function": functions[(dif >> 4) & 3], "storage": storage, "tariff": tariff,
               "subunit": subunit}
        value(mv, i, size, coding, big, g, n, x, rec)
        i += size
        out.append(rec)


def extended_vib(mv, i, end):
    """VIF at mv[i] with VIFEs or plain text: (next offset, group, n, extras).

    extras holds what the VIFEs add: corrections (scale, offset, unit, kind,
    duration) for value() and record keys (modifiers, record_error, vib).
    """
    vif = mv[i]
    base = vif & 0x7F
    x = {}
    n = 0
    if base == 0x7C:
        ve, nv, text, j = plain_text(mv, i, end)
        g = (0, "plain_text", text, 0, T.DEC)
    else:
        ve, nv, j = vife_chain(mv, i + 1, end)
        if base == 0x7D or base == 0x7B:
            code = mv[ve] & 0x7F
            if base == 0x7D:
                g = T.EXT_FD[_FD[code]]
            else:
                g = T.EXT_FB[_FB[code]]
            n = code - g[0]
            ve += 1
            nv -= 1
            if g[4] == T.RESERVED:
                x["vib"] = V.hexstr(mv, i, j - i)
        elif base == 0x7F:
            # Manufacturer-specific VIF: its VIFEs are the manufacturer's too.
            g = T.PRIMARY[_PRIMARY[0x7F]]
            x["vib"] = V.hexstr(mv, i, j - i)
            nv = 0
        else:
            g = T.PRIMARY[_PRIMARY[base]]
            n = base - g[0]
    if nv:
        orthogonal(mv, ve, nv, x)
    return j, g, n, x


def vife_chain(mv, j, end):
    """(first VIFE offset, count, offset after the chain)."""
    start = j
    while True:
        if j >= end:
            raise DecodeError("record ends inside its VIFE chain", j)
        if j - start == MAX_VIFE:
            raise DecodeError("more than 10 VIFEs in one record", j)
        j += 1
        if not mv[j - 1] & 0x80:
            return start, j - start, j


def plain_text(mv, i, end):
    """Plain-text VIF at mv[i]: (VIFE offset, VIFE count, unit, next offset).

    EN 13757-3 puts the length byte and the ASCII unit after the VIFEs. Many
    devices (and libmbus) put them right after the VIF; that order is used
    when the standard one does not fit the data.
    """
    ext = mv[i] & 0x80
    if ext:
        try:
            ve, nv, j = vife_chain(mv, i + 1, end)
            if j < end:
                n = mv[j]
                if j + 1 + n <= end and printable(mv, j + 1, n):
                    return ve, nv, V.text(mv, j + 1, n), j + 1 + n
        except DecodeError:
            pass
    j = i + 1
    if j >= end:
        raise DecodeError("record ends before its plain-text VIF length", j)
    n = mv[j]
    if j + 1 + n > end:
        raise DecodeError("plain-text VIF of %d characters runs past the end of the data" % n, j)
    text = V.text(mv, j + 1, n)
    j += 1 + n
    if ext:
        ve, nv, j = vife_chain(mv, j, end)
        return ve, nv, text, j
    return j, 0, text, j


def printable(mv, i, n):
    for k in range(i, i + n):
        if not 0x20 <= mv[k] <= 0x7E:
            return False
    return True


def orthogonal(mv, j, count, x):
    """Read combinable (orthogonal) VIFEs mv[j:j+count] into extras x."""
    table = T.ORTHO
    mods = []
    k = j
    stop = j + count
    while k < stop:
        code = mv[k] & 0x7F
        k += 1
        first, kind, name, arg = table[_ORTHO[code]]
        if kind == T.SCALE:
            x["scale"] = x.get("scale", 0) + code - first + arg
        elif kind == T.OFFSET:
            x["offset"] = code - first + arg
        elif kind == T.LABEL:
            mods.append(name)
        elif kind == T.PER:
            x["unit"] = x.get("unit", "") + "/" + name
        elif kind == T.PULSE:
            x["unit"] = x.get("unit", "") + "/pulse"
            mods.append(name)
        elif kind == T.TIMES:
            x["unit"] = x.get("unit", "") + "*" + name
        elif kind == T.ERROR:
            errors = T.RECORD_ERRORS
            x["record_error"] = errors[code] if code < len(errors) else "reserved"
        elif kind == T.DATE_OF:
            x["kind"] = T.TIMEPOINT
            mods.append(event_name("date_of_", code, name, True))
        elif kind == T.DURATION_OF:
            x["kind"] = T.DURATION
            x["duration"] = code & 3
            mods.append(event_name("duration_of_", code, name, False))
        elif kind == T.NEXT_TABLE:
            if k < stop:
                code = mv[k] & 0x7F
                k += 1
                ext = T.ORTHO_EXT
                mods.append(ext[code] if code < len(ext) else "reserved")
        else:  # MANUFACTURER: the remaining VIFEs are not ours to read
            mods.append("manufacturer_specific")
            x["vib"] = V.hexstr(mv, k - 1, stop - k + 1)
            break
    if mods:
        x["modifiers"] = mods


def event_name(prefix, code, name, has_end):
    """Names of the "date of"/"duration of" VIFEs, spelled out from their bits."""
    if name == "start":
        return "start_date_of"
    s = prefix
    if has_end:
        s += "end_" if code & 1 else "begin_"
    s += "last" if code & 4 else "first"
    if name:
        s += "_upper_" if code & 8 else "_lower_"
        s += name
    return s


def lvar_length(lv, at):
    """Data length in bytes of an LVAR field (EN 13757-3:2013 table 5)."""
    if lv <= 0xBF:
        return lv  # text
    if 0xC0 <= lv <= 0xC9 or 0xD0 <= lv <= 0xD9:
        return lv & 0x0F  # BCD of 2*n digits, positive (Cxh) or negative (Dxh)
    if 0xE0 <= lv <= 0xEF:
        return lv - 0xE0  # binary number
    if 0xF0 <= lv <= 0xFA:
        return 4 * (lv - 0xEC)  # binary number of 4*(LVAR-ECh) bytes
    raise UnsupportedError("LVAR 0x%02X is reserved" % lv, at)


_EXTRAS = ("modifiers", "record_error", "vib")


def value(mv, i, size, coding, big, g, n, x, rec):
    """Decode the data field, scale it, fill quantity, unit and value."""
    first, quantity, unit, exp, kind = g
    why = None
    if coding == 0x0D:
        v, why = lvar(mv, i, size, big)
    elif size == 0:
        v = None
    elif coding >= 9:
        v, why = V.bcd(mv, i, size, big)
    elif coding == 5:
        v, why = V.real(mv, i, big)
    else:
        v = V.integer(mv, i, size, big)
    if x:
        kind = x.get("kind", kind)
        e = x.get("scale", 0)
    else:
        e = 0
    if kind == T.TIMEPOINT and coding < 8 and coding != 5:
        # Date/time type by field length: G, J, F or I.
        decoder = V.TIMEPOINT[size] if size < len(V.TIMEPOINT) else None
        if decoder is None:
            why = "no date/time type is %d bytes long" % size
        else:
            v, why = decoder(mv, i, big)
        unit = ""
    elif v is None or isinstance(v, str):
        pass
    elif kind == T.DEC:
        e += exp + n
        v = v * 10 ** e if e >= 0 else v / 10 ** -e
        if x and "offset" in x:
            e = exp + n + x["offset"]
            v += 10 ** e if e >= 0 else 1 / 10 ** -e
    elif kind == T.DURATION:
        if x and "duration" in x:
            unit = "s"
            k = x["duration"]
        else:
            k = exp + n
        if e:
            v = v * 10 ** e if e >= 0 else v / 10 ** -e
        v = v * T.DURATION_S[k]
    elif e:
        v = v * 10 ** e if e >= 0 else v / 10 ** -e
    rec["quantity"] = quantity
    rec["unit"] = unit + x["unit"] if x and "unit" in x else unit
    rec["value"] = v
    if x:
        for key in _EXTRAS:
            if key in x:
                rec[key] = x[key]
    if why:
        rec["invalid"] = why
    if why or g[4] == T.RESERVED or (x and "vib" in x):
        rec["raw"] = V.hexstr(mv, i, size)


def lvar(mv, i, n, big):
    """Value of an LVAR field whose length byte is at mv[i - 1]."""
    lv = mv[i - 1]
    if lv <= 0xBF:
        return V.text(mv, i, n), None
    if lv < 0xE0:
        v, why = V.bcd(mv, i, n, big) if n else (0, None)
        if v is not None and lv >= 0xD0:
            v = -v
        return v, why
    # Binary numbers: hex, most significant byte first.
    return V.hexstr(mv, i, n, not big), None


def fixed(mv, i, end, big, tg):
    """Fixed data structure (CI 73h/77h): id, two counters, their units."""
    if end - i != FIXED_LENGTH:
        raise DecodeError("fixed data structure is 16 bytes, got %d" % (end - i), end)
    status = mv[i + 5]
    u1 = mv[i + 6]
    u2 = mv[i + 7]
    medium = ((u2 >> 6) << 2) | (u1 >> 6)
    h = header(V.hexstr(mv, i, 4, not big), None, None, None, mv[i + 4], status, None)
    h["medium_code"] = medium
    h["medium"] = T.FIXED_MEDIUMS[medium]
    tg["header"] = h
    # Status bit 6: both counters are stored (historic) values.
    storage = 1 if status & 0x40 else 0
    out = []
    first_code = u1 & 0x3F
    for off, code in ((8, first_code), (12, u2 & 0x3F)):
        rec = {"function": "instantaneous", "storage": storage, "tariff": 0, "subunit": 0}
        if code == 0x3E:
            # "Same unit as counter 1, historic value".
            code = first_code
            rec["storage"] = 1
        g = fixed_unit(code)
        if status & 0x80:
            v, why = V.integer(mv, i + off, 4, big), None
        else:
            v, why = V.bcd(mv, i + off, 4, big)
        if v is not None:
            e = g[3] + g[4] * (code - g[0])
            v = v * 10 ** e if e >= 0 else v / 10 ** -e
        rec["quantity"] = g[1]
        rec["unit"] = g[2]
        rec["value"] = v
        if why:
            rec["invalid"] = why
            rec["raw"] = V.hexstr(mv, i + off, 4)
        out.append(rec)
    tg["records"] = out
    tg["more_records_follow"] = False


def fixed_unit(code):
    g = T.FIXED_UNITS[0]
    for u in T.FIXED_UNITS:
        if u[0] > code:
            break
        g = u
    return g
