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

_EXTRAS = ("modifiers", "record_error", "record_error_code", "vib", "daylight_saving")


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


def decode(data):
    """Decode one whole frame (bytes, bytearray or memoryview) to a dict.

    The link layer is checked first. Raises an MBusError subclass naming
    the problem and its byte offset in the frame.
    """
    mv = view(data)
    kind, c, a, ci, start, end = parse_frame(mv)
    if ci is None:
        raise UnsupportedError("a %s frame carries no telegram" % kind, 0)
    try:
        return telegram(mv, start - 1, end, {"type": kind, "c": c, "a": a, "ci": ci})
    except MemoryError:
        raise heap_error(end - start + 1, start - 1)


def decode_user_data(data):
    """Decode application-layer user data that starts with the CI field."""
    mv = view(data)
    if not len(mv):
        raise DecodeError("empty user data: the CI field is missing", 0)
    try:
        return telegram(mv, 0, len(mv), {"type": "user_data", "c": None, "a": None, "ci": mv[0]})
    except MemoryError:
        raise heap_error(len(mv), 0)


def heap_error(n, at):
    # Over a hundred records fit in 252 bytes: a dense telegram can outgrow
    # a small heap. The partial telegram is garbage by now, so this error
    # can be built, and the caller sees an MBusError like for any bad input.
    return DecodeError("telegram of %d bytes does not fit the free heap" % n, at)


def merge(telegrams):
    """One telegram from the decoded telegrams of consecutive frames of a meter.

    Header and frame come from the first, records and manufacturer data are
    concatenated in order, and more_records_follow is False.
    """
    if not telegrams:
        raise DecodeError("no telegrams to merge")
    out = dict(telegrams[0])
    address = out["header"]["secondary_address"]
    records = []
    mdata = None
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


def telegram(mv, i, end, frame):
    """Telegram from the CI field at mv[i] up to mv[end]."""
    ci = mv[i]
    i += 1
    n = end - i
    tg = {"frame": frame, "header": None, "records": [], "more_records_follow": False}
    if ci == 0x72 or ci == 0x76:
        big = ci == 0x76
        if n < LONG_HEADER:
            raise DecodeError("long header needs 12 bytes, only %d follow the CI field" % n, end)
        tg["header"] = header(V.hexstr(mv, i, 4, not big), V.integer(mv, i + 4, 2, big, False), mv[i + 6],
                              mv[i + 7], mv[i + 8], mv[i + 9], V.integer(mv, i + 10, 2, big, False))
        records(mv, i + LONG_HEADER, end, big, tg)
    elif ci == 0x7A:
        if n < SHORT_HEADER:
            raise DecodeError("short header needs 4 bytes, only %d follow the CI field" % n, end)
        tg["header"] = header(None, None, None, None, mv[i], mv[i + 1], V.integer(mv, i + 2, 2, False, False))
        records(mv, i + SHORT_HEADER, end, False, tg)
    elif ci == 0x78:
        tg["header"] = header(None, None, None, None, None, None, None)
        records(mv, i, end, False, tg)
    elif ci == 0x73 or ci == 0x77:
        from mbus.fixed import fixed  # rare: loaded by the first such telegram
        fixed(mv, i, end, ci == 0x77, tg)
    elif ci == 0x70 or ci == 0x71:
        tg["header"] = header(None, None, None, None, None, None, None)
        if ci == 0x71:
            tg["alarm"] = V.integer(mv, i, n, False, False)
        else:
            # Application error; no code at all means "unspecified" (code 0).
            code = mv[i] if n else 0
            msg = T.listed(T.APPLICATION_ERRORS, code)
            tg["error"] = {"code": code, "message": msg.replace("_", " ") if msg else "reserved"}
    else:
        what = T.MASTER_CI.get(ci)
        if what:
            raise UnsupportedError("CI field 0x%02X (%s) is sent by a master, not a slave response" % (ci, what),
                                   i - 1)
        raise UnsupportedError("unknown CI field 0x%02X" % ci, i - 1)
    return tg


def header(ident, man, version, medium, access, status, signature):
    h = {"id": ident, "manufacturer": None, "version": version, "medium": None, "medium_code": medium,
         "access_number": access, "status": status, "status_flags": None, "signature": signature,
         "secondary_address": None}
    if man is not None:
        h["manufacturer"] = chr(((man >> 10) & 0x1F) + 64) + chr(((man >> 5) & 0x1F) + 64) + chr((man & 0x1F) + 64)
        # Manufacturer in mode 1 wire order (low byte first), as the master's select sends it.
        h["secondary_address"] = "%s%02X%02X%02X%02X" % (ident, man & 0xFF, man >> 8, version, medium)
    if medium is not None:
        h["medium"] = T.listed(T.MEDIUMS, medium) or "reserved"
    if status is not None:
        flags = []
        state = T.APPLICATION_STATES[status & 3]
        if state:
            flags.append(state)
        for bit in range(6):
            if status & (4 << bit):
                flags.append(T.STATUS_BITS[bit])
        h["status_flags"] = flags
    return h


def records(mv, i, end, big, tg):
    """Data records from mv[i] to mv[end] into tg (records, special functions)."""
    out = tg["records"]
    functions = T.FUNCTIONS
    lengths = T.DATA_LENGTH
    name = T.name
    rows = T.PRIMARY
    index = T.PRIMARY_INDEX
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
            i, vi, x = extended_vib(mv, i, end)
        else:
            i += 1
            r = index[base] * 5
            vi = (name(rows[r + 1]), name(rows[r + 2]), rows[r + 3] - 128 + base - rows[r], rows[r + 4])
            x = {"vib": V.hexstr(mv, i - 1, 1)} if vi[3] == T.RESERVED else None
        # Data field; LVAR sizes per the EN 13757-3 LVAR table.
        if coding == 0x0D:
            if i >= end:
                raise DecodeError("record ends before its LVAR length byte", i)
            lv = mv[i]
            if lv <= 0xBF:
                size = lv  # text
            elif 0xC0 <= lv <= 0xC9 or 0xD0 <= lv <= 0xD9:
                size = lv & 0x0F  # BCD of 2*size digits, positive (Cxh) or negative (Dxh)
            elif 0xE0 <= lv <= 0xEF:
                size = lv - 0xE0  # binary number
            elif 0xF0 <= lv <= 0xF4:
                size = 4 * (lv - 0xEC)  # binary number of 16, 20, 24, 28 or 32 bytes
            elif lv == 0xF5 or lv == 0xF6:
                size = 48 if lv == 0xF5 else 64  # binary number
            else:
                raise UnsupportedError("LVAR 0x%02X is reserved (EN 13757-3)" % lv, i)
            i += 1
        else:
            size = lengths[coding]
        if i + size > end:
            raise DecodeError("record data needs %d bytes, only %d left" % (size, end - i), i)
        quantity, unit, v, why, exact = value(mv, i, size, coding, big, vi, x)
        # One literal with every key: the dict is sized once, not regrown.
        rec = {"function": functions[(dif >> 4) & 3], "storage": storage, "tariff": tariff,
               "subunit": subunit, "quantity": quantity, "unit": unit, "value": v}
        if exact is not None:
            rec["decimal"] = exact
        if coding == 0x08:
            rec["readout_selection"] = True  # a master's request for this record, no data
        if x or why:
            for key in _EXTRAS:
                if x and key in x:
                    rec[key] = x[key]
            if why:
                rec["invalid"] = why
            if why or "vib" in x or "daylight_saving" in x:
                rec["raw"] = V.hexstr(mv, i, size)
        i += size
        out.append(rec)


def extended_vib(mv, i, end):
    """VIF at mv[i] with VIFEs or plain text: (next offset, VIF info, extras).

    VIF info is (quantity, unit, exponent, kind); extras holds what the
    VIFEs add: corrections (scale, offset, unit, kind, duration) for value()
    and record keys (modifiers, record_error, vib; value() adds
    daylight_saving).
    """
    base = mv[i] & 0x7F
    x = {}
    if base == 0x7C:
        ve, nv, text, j = plain_text(mv, i, end)
        vi = ("plain_text", text, 0, T.DEC)
    else:
        ve, nv, j = vife_chain(mv, i + 1, end)
        if base == 0x7D or base == 0x7B:
            code = mv[ve] & 0x7F
            rows, index = (T.EXT_FD, T.FD_INDEX) if base == 0x7D else (T.EXT_FB, T.FB_INDEX)
            ve += 1
            nv -= 1
        else:
            code = base
            rows, index = T.PRIMARY, T.PRIMARY_INDEX
        r = index[code] * 5
        vi = (T.name(rows[r + 1]), T.name(rows[r + 2]), rows[r + 3] - 128 + code - rows[r], rows[r + 4])
        if base == 0x7F:
            # Manufacturer-specific VIF: its VIFEs are the manufacturer's too.
            nv = 0
        if base == 0x7F or vi[3] == T.RESERVED:
            x["vib"] = V.hexstr(mv, i, j - i)
    if nv and orthogonal(mv, ve, nv, x):
        # A reserved VIFE or record error code: the whole VIB is kept, so the
        # code is not lost in the name "reserved".
        x["vib"] = V.hexstr(mv, i, j - i)
    return j, vi, x


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
    when the standard one does not fit the data (too long or not ASCII).
    """
    ext = mv[i] & 0x80
    if ext:
        try:
            ve, nv, j = vife_chain(mv, i + 1, end)
            n = mv[j] if j < end else 255
            if j + 1 + n <= end:
                for k in range(j + 1, j + 1 + n):
                    if not 0x20 <= mv[k] <= 0x7E:
                        break
                else:
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


def orthogonal(mv, j, count, x):
    """Read combinable (orthogonal) VIFEs mv[j:j+count] into extras x; True
    when one of them (or a record error code) is a reserved code."""
    rows = T.ORTHO
    index = T.ORTHO_INDEX
    mods = []
    k = j
    stop = j + count
    while k < stop:
        code = mv[k] & 0x7F
        k += 1
        r = index[code] * 4
        kind = rows[r + 1]
        name = T.name(rows[r + 2])
        arg = code - rows[r] + rows[r + 3] - 128
        if kind == T.SCALE:
            x["scale"] = x.get("scale", 0) + arg
        elif kind == T.OFFSET:
            x["offset"] = arg
        elif kind == T.LABEL:
            mods.append(name)
        elif kind == T.PER or kind == T.TIMES or kind == T.PULSE:
            if kind == T.PULSE:
                mods.append(name)
                name = "pulse"
            x["unit"] = x.get("unit", "") + ("*" if kind == T.TIMES else "/") + name
        elif kind == T.ERROR:
            if code:  # code 0 says "no error"
                x["record_error"] = T.listed(T.RECORD_ERRORS, code) or "reserved"
                x["record_error_code"] = code
        elif kind == T.DATE_OF or kind == T.DURATION_OF:
            # Spelled out from the code's bits: 0 end/begin, 2 last/first, 3 upper/lower.
            if name == "start":
                label = "start_date_of"
            else:
                label = "date_of_" if kind == T.DATE_OF else "duration_of_"
                if kind == T.DATE_OF:
                    label += "end_" if code & 1 else "begin_"
                label += "last" if code & 4 else "first"
                if name:
                    label += ("_upper_" if code & 8 else "_lower_") + name
            mods.append(label)
            x["kind"] = T.TIMEPOINT if kind == T.DATE_OF else T.DURATION
            x["duration"] = code & 3
        elif kind == T.NEXT_TABLE:
            if k < stop:
                code = mv[k] & 0x7F
                k += 1
                mods.append(T.listed(T.ORTHO_EXT, code) or "reserved")
        else:
            # MANUFACTURER: the VIFEs from here on are the manufacturer's. The
            # value stays decoded by the VIF, as devices use this to tag
            # variants (phases, say) of a standard value; raw bytes are kept.
            mods.append("manufacturer_specific")
            x["vib"] = V.hexstr(mv, k - 1, stop - k + 1)
            break
    if mods:
        x["modifiers"] = mods
    return "reserved" in mods or x.get("record_error") == "reserved"


def value(mv, i, size, coding, big, vi, x):
    """(quantity, unit, value, why invalid or None, exact decimal text or None)
    of a record's data field."""
    quantity, unit, e, kind = vi
    why = exact = None
    if coding == 0x0D:
        lv = mv[i - 1]
        if lv <= 0xBF:
            v = V.text(mv, i, size)
        elif lv < 0xE0:
            v, why = V.bcd(mv, i, size, big)
            if lv >= 0xD0 and v is not None:
                v = -v
        else:
            v = V.hexstr(mv, i, size, not big)  # binary: hex, most significant byte first
    elif size == 0:
        v = None
    elif coding >= 9:
        v, why = V.bcd(mv, i, size, big)
    elif coding == 5:
        v, why = V.real(mv, i, big)
    else:
        v = V.integer(mv, i, size, big)
    scale = 0
    if x:
        kind = x.get("kind", kind)
        scale = x.get("scale", 0)
    if kind == T.TIMEPOINT and coding < 8 and coding != 5:
        if size:
            v, why = V.timepoint(mv, i, size, big)
        unit = ""
    elif kind == T.DAYLIGHT and coding < 8 and coding != 5 and size:
        # Only VIF FDh 72h has this kind, so x is the dict extended_vib made.
        from mbus.daylight import rule
        v, fields, why = rule(mv, i, size, big)
        if fields:
            x["daylight_saving"] = fields
    elif v is None or isinstance(v, str):
        pass
    elif kind == T.DEC:
        e += scale
        if x and "offset" in x:
            # Additive correction: + 10**offset in the base unit (EN 13757-3
            # "unit of VIF"; libmbus and pymbusparser read it so too).
            off = x["offset"]
            if type(v) is int:
                low = e if e < off else off
                v = v * 10 ** (e - low) + 10 ** (off - low)  # exact: (v*10**e + 10**off) / 10**low
                e = low
            else:
                v = V.scale(v, e) + V.scale(1, off)
                e = 0
        if e < 0 and type(v) is int:
            exact = V.decimal(v, e)
        v = V.scale(v, e)
    elif kind == T.DURATION:
        if x and "duration" in x:
            unit = "s"
            e = x["duration"]
        if scale:
            v = V.scale(v, scale)
        v = v * T.DURATION_S[e]
    elif scale:
        v = V.scale(v, scale)
    if type(v) is float and v - v != 0:
        # A real of +-inf, or scaled past the float range (single precision
        # on the ESP32): JSON has no such number.
        v, why = None, "value is not a finite number"
    if x and "unit" in x:
        unit += x["unit"]
    return quantity, unit, v, why, exact
