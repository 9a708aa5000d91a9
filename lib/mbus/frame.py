# Link layer (EN 13757-2, FT1.2): the four frame formats, checksum, building
# and checking. Pure functions on bytes: no I/O here.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from mbus.errors import FrameError

ACK = const(0xE5)
START_SHORT = const(0x10)
START_LONG = const(0x68)
STOP = const(0x16)

# C field: function codes sent by the master ...
C_SND_NKE = const(0x40)
C_SND_UD = const(0x53)
C_REQ_UD1 = const(0x5A)
C_REQ_UD2 = const(0x5B)
C_FCB = const(0x20)  # frame count bit
C_FCV = const(0x10)  # frame count bit valid
# ... and by the slave (0x08 plus the ACD 0x20 and DFC 0x10 bits).
C_RSP_UD = const(0x08)

ADDR_NETWORK = const(0xFD)  # the selected slave (secondary addressing)
ADDR_BROADCAST_REPLY = const(0xFE)  # every slave answers
ADDR_BROADCAST = const(0xFF)  # no slave answers

# Longest user data a long frame carries: L counts C, A, CI and data.
MAX_USER_DATA = const(252)


def checksum(buf, start, end):
    """Arithmetic sum of buf[start:end] modulo 256."""
    s = 0
    for i in range(start, end):
        s += buf[i]
    return s & 0xFF


def short_frame(c, a):
    return bytes((START_SHORT, c, a, (c + a) & 0xFF, STOP))


def long_frame(c, a, ci, data=b""):
    """Control frame when data is empty, long frame otherwise."""
    n = len(data)
    if n > MAX_USER_DATA:
        raise FrameError("user data of %d bytes exceeds the %d a long frame holds" % (n, MAX_USER_DATA))
    out = bytearray(n + 9)
    out[0] = out[3] = START_LONG
    out[1] = out[2] = n + 3
    out[4] = c
    out[5] = a
    out[6] = ci
    out[7:7 + n] = data
    out[7 + n] = checksum(out, 4, 7 + n)
    out[8 + n] = STOP
    return bytes(out)


def expected_length(buf, n):
    """Total length of the frame that starts at buf[0], given n bytes seen.

    Returns the length once it is known (1 for ACK, 5 for short, L+6 for
    long/control), 0 when more bytes are needed to tell, and raises
    FrameError when the start cannot begin a frame. Used by reply framers.
    """
    if n < 1:
        return 0
    b = buf[0]
    if b == ACK:
        return 1
    if b == START_SHORT:
        return 5
    if b != START_LONG:
        raise FrameError("0x%02X is not a frame start" % b, 0)
    if n < 4:
        return 0
    if buf[1] != buf[2]:
        raise FrameError("length fields differ: 0x%02X and 0x%02X" % (buf[1], buf[2]), 1)
    if buf[3] != START_LONG:
        raise FrameError("second start byte is 0x%02X, not 0x68" % buf[3], 3)
    if buf[1] < 3:
        raise FrameError("length field %d is below the minimum of 3" % buf[1], 1)
    return buf[1] + 6


# Frame kinds, as named in the decoded JSON.
KIND_ACK = "ack"
KIND_SHORT = "short"
KIND_CONTROL = "control"
KIND_LONG = "long"


def parse(data):
    """Check one whole frame; return (kind, c, a, ci, start, end).

    For long frames data[start:end] is the user data after the CI field.
    c, a and ci are None where the kind has no such field. Raises FrameError
    naming the byte at fault.
    """
    n = len(data)
    if n == 0:
        raise FrameError("empty frame", 0)
    want = expected_length(data, n)
    if want == 0:
        raise FrameError("frame truncated: %d bytes cannot hold a header" % n, n)
    if n < want:
        raise FrameError("frame truncated: %d of %d bytes" % (n, want), n)
    if n > want:
        raise FrameError("%d bytes after the end of a %d-byte frame" % (n - want, want), want)
    if want == 1:
        return KIND_ACK, None, None, None, 1, 1
    first = 1 if want == 5 else 4
    c = data[first]
    a = data[first + 1]
    cs = checksum(data, first, want - 2)
    if data[want - 2] != cs:
        raise FrameError("checksum is 0x%02X, computed 0x%02X" % (data[want - 2], cs), want - 2)
    if data[want - 1] != STOP:
        raise FrameError("stop byte is 0x%02X, not 0x16" % data[want - 1], want - 1)
    if want == 5:
        return KIND_SHORT, c, a, None, 5, 5
    ci = data[6]
    kind = KIND_CONTROL if want == 9 else KIND_LONG
    return kind, c, a, ci, 7, want - 2
