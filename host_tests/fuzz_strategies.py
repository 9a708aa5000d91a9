"""Structure-aware hypothesis strategies for EN 13757-3 user data and
EN 13757-2 reply streams: records built from DIF/DIFE/VIF/VIFE chains, LVAR
lengths and CI fields, framed with their checksum right so the application
layer is reached.

A well-formed record comes with what its DIF and DIFEs say (function,
storage, tariff, subunit), so tests can check the decoder read the chain
the way it was written.
"""
from hypothesis import strategies as st

from mbus import frame

FUNCTIONS = ("instantaneous", "maximum", "minimum", "error")
# Data field bytes by DIF coding (0Dh LVAR and 0Fh special are built apart).
SIZES = (0, 1, 2, 3, 4, 4, 6, 8, 0, 1, 2, 3, 4, None, 6, None)
# Slave-to-master CIs the decoder knows, then the rest of the byte range.
CIS = (0x72, 0x76, 0x7A, 0x78, 0x73, 0x77, 0x70, 0x71)
HEADER = {0x72: 12, 0x76: 12, 0x7A: 4, 0x78: 0}
SPECIAL_DIFS = (0x0F, 0x1F, 0x2F, 0x7F, 0x3F, 0x4F, 0x5F, 0x6F)
INTERESTING = (0x00, 0x0D, 0x0F, 0x1F, 0x2F, 0x7C, 0x7D, 0x7E, 0x7F, 0x80, 0x8D, 0xBF, 0xC9, 0xD9,
               0xE0, 0xEF, 0xF0, 0xF4, 0xF5, 0xF6, 0xF7, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF)


def ext(codes):
    """Chain bytes: the extension bit on every byte but the last."""
    return bytes((c | 0x80) if k < len(codes) - 1 else (c & 0x7F) for k, c in enumerate(codes))


@st.composite
def dif_chain(draw, coding=None):
    """(DIF + DIFEs, function, storage, tariff, subunit) of a well-formed chain."""
    if coding is None:
        coding = draw(st.sampled_from([c for c in range(16) if c != 0x0F]))
    function = draw(st.integers(0, 3))
    storage = draw(st.integers(0, 1))
    difes = draw(st.lists(st.integers(0, 0x7F), max_size=10))
    dif = coding | function << 4 | storage << 6 | (0x80 if difes else 0)
    tariff = subunit = 0
    for n, d in enumerate(difes):
        storage |= (d & 0x0F) << (1 + 4 * n)
        tariff |= ((d >> 4) & 3) << (2 * n)
        subunit |= ((d >> 6) & 1) << n
    return bytes([dif]) + ext(difes), (FUNCTIONS[function], storage, tariff, subunit)


@st.composite
def vif_chain(draw):
    """A VIF with up to 10 VIFEs (first table, FBh, FDh, manufacturer, plain text)."""
    kind = draw(st.sampled_from(("primary", "fb", "fd", "manufacturer", "text")))
    vifes = draw(st.lists(st.integers(0, 0x7F), max_size=9))
    if kind == "primary":
        base = draw(st.integers(0, 0x7F).filter(lambda c: c not in (0x7B, 0x7C, 0x7D, 0x7F)))
        return ext([base] + vifes) if vifes else bytes([base])
    if kind == "manufacturer":
        return ext([0x7F] + vifes)
    if kind == "text":
        unit = draw(st.binary(max_size=12).map(lambda b: bytes(0x20 + c % 0x5F for c in b)))
        if not vifes:
            return bytes([0x7C, len(unit)]) + unit
        return ext([0x7C] + vifes) + bytes([len(unit)]) + unit  # EN 13757-3 order
    code = draw(st.integers(0, 0x7F))
    return ext([0x7B if kind == "fb" else 0x7D, code] + vifes)


@st.composite
def lvar_data(draw):
    """LVAR byte and its data (text, positive or negative BCD, binary)."""
    lv = draw(st.one_of(st.integers(0, 0xBF), st.integers(0xC0, 0xC9), st.integers(0xD0, 0xD9),
                        st.integers(0xE0, 0xEF), st.integers(0xF0, 0xF6)))
    if lv <= 0xBF:
        size = lv
    elif lv < 0xE0:
        size = lv & 0x0F
    elif lv < 0xF0:
        size = lv - 0xE0
    elif lv <= 0xF4:
        size = 4 * (lv - 0xEC)
    else:
        size = 48 if lv == 0xF5 else 64
    return bytes([lv]) + draw(st.binary(min_size=size, max_size=size))


@st.composite
def record(draw):
    """(record bytes, expected (function, storage, tariff, subunit))."""
    coding = draw(st.sampled_from([c for c in range(16) if c != 0x0F]))
    dif, expect = draw(dif_chain(coding))
    vib = draw(vif_chain())
    if coding == 0x0D:
        data = draw(lvar_data())
    else:
        data = draw(st.binary(min_size=SIZES[coding], max_size=SIZES[coding]))
    return dif + vib + data, expect


@st.composite
def user_data(draw, ci=None):
    """(user data from the CI field on, expected record tuples) of a
    well-formed telegram that fits one long frame."""
    if ci is None:
        ci = draw(st.sampled_from((0x72, 0x76, 0x7A, 0x78)))
    out = bytearray([ci]) + draw(st.binary(min_size=HEADER[ci], max_size=HEADER[ci]))
    expected = []
    for rec, expect in draw(st.lists(record(), max_size=12)):
        fill = b"\x2f" if draw(st.booleans()) and draw(st.booleans()) else b""  # idle filler
        if len(out) + len(fill) + len(rec) > frame.MAX_USER_DATA + 1:
            break
        out += fill + rec
        expected.append(expect)
    tail = draw(st.sampled_from((b"", b"\x0f", b"\x1f", b"\x2f\x2f")))
    if tail[:1] in (b"\x0f", b"\x1f"):
        tail += draw(st.binary(max_size=10))
    if len(out) + len(tail) <= frame.MAX_USER_DATA + 1:
        out += tail
    return bytes(out), expected


@st.composite
def mutated_user_data(draw):
    """Well-formed user data (or any CI with random bytes) after a few
    mutations aimed at chains: extension bits, LVAR and DIF codings,
    interesting bytes, inserted and deleted bytes, truncation."""
    if draw(st.integers(0, 9)) == 0:
        ud = bytes([draw(st.integers(0, 255))]) + draw(st.binary(max_size=60))
    else:
        ud = draw(user_data())[0]
    b = bytearray(ud)
    for _ in range(draw(st.integers(1, 6))):
        if len(b) < 2:
            break
        at = draw(st.integers(1, len(b) - 1))
        op = draw(st.integers(0, 6))
        if op == 0:
            b[at] ^= 0x80  # extension bit: chains run on or stop short
        elif op == 1:
            b[at] = draw(st.sampled_from(INTERESTING))
        elif op == 2:
            b[at] = (b[at] & 0xF0) | draw(st.integers(0, 15))  # DIF coding / LVAR nibble
        elif op == 3:
            b[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == 4:
            del b[at:at + draw(st.integers(1, 4))]
        elif op == 5:
            del b[at:]
        else:
            b[at] = draw(st.integers(0, 255))
    return bytes(b[:frame.MAX_USER_DATA + 1])


def long_frame(ud, c=0x08, a=0x01):
    """ud (CI onwards) in a long frame with its checksum right."""
    return frame.long_frame(c, a, ud[0], ud[1:])


@st.composite
def reply_stream(draw):
    """(bytes a master might hear, chunk lengths): valid ACK, short and long
    frames, noise, frames cut short or with a wrong checksum, in any order."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            parts.append(b"\xe5")
        elif kind == 1:
            parts.append(frame.short_frame(draw(st.integers(0, 255)), draw(st.integers(0, 255))))
        elif kind == 2:
            parts.append(long_frame(draw(user_data())[0], draw(st.integers(0, 255)), draw(st.integers(0, 255))))
        elif kind == 3:
            parts.append(draw(st.binary(min_size=1, max_size=12)))
        else:
            fr = bytearray(long_frame(draw(user_data())[0]))
            if kind == 4:
                fr = fr[:draw(st.integers(1, len(fr) - 1))]
            else:
                fr[draw(st.integers(0, len(fr) - 1))] ^= draw(st.integers(1, 255))
            parts.append(bytes(fr))
    return b"".join(parts), draw(st.binary(min_size=1, max_size=8))
