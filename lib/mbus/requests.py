# Every frame a master sends (EN 13757-2 link layer, EN 13757-3 CI codes),
# and the 16-character secondary address form. Pure functions: no I/O.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from binascii import hexlify, unhexlify

from mbus.frame import ADDR_BROADCAST, ADDR_NETWORK, C_FCB, C_REQ_UD2, C_SND_NKE, C_SND_UD, long_frame, short_frame

CI_APPLICATION_RESET = const(0x50)
CI_DATA_SEND = const(0x51)
CI_SELECT = const(0x52)
CI_DESELECT = const(0x56)
CI_RSP_UD = const(0x72)  # variable data reply with the long (secondary address) header
CI_BAUDRATE = const(0xB8)  # B8h..BFh: switch to BAUDRATES[ci - B8h]
BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400)
MAX_PRIMARY = const(250)
WILDCARD = "FFFFFFFFFFFFFFFF"


def check_primary(a):
    """A primary address 0..250, or FDh (selected), FEh and FFh (broadcasts)."""
    if not isinstance(a, int) or not (0 <= a <= MAX_PRIMARY or ADDR_NETWORK <= a <= ADDR_BROADCAST):
        raise ValueError("primary address must be 0..250 or 253..255, got %r" % (a,))
    return a


def fcb_bit(fcb):
    return C_FCB if fcb else 0


def snd_nke(a):
    """Link reset (SND_NKE): the slave answers E5h and expects FCB=1 next."""
    return short_frame(C_SND_NKE, check_primary(a))


def req_ud2(a, fcb):
    """Request class 2 data (REQ_UD2, FCV=1): answered by RSP_UD."""
    return short_frame(C_REQ_UD2 | fcb_bit(fcb), check_primary(a))


def snd_ud(a, ci, data=b"", fcb=False):
    """Send user data (SND_UD, FCV=1): any CI with any data, answered by E5h."""
    if not 0 <= ci <= 0xFF:
        raise ValueError("CI field must be one byte, got %r" % (ci,))
    return long_frame(C_SND_UD | fcb_bit(fcb), check_primary(a), ci, bytes(data))


def select(mask):
    """Select by secondary address (CI 52h to FDh); F nibbles are wildcards."""
    return snd_ud(ADDR_NETWORK, CI_SELECT, secondary_bytes(mask))


# The frames of the less frequent commands live in mbus.requests_rare, loaded
# on their first use; they are reachable here as well.
_RARE = ("req_ud1", "application_reset", "set_primary_address", "switch_baudrate", "deselect")


def __getattr__(name):
    if name not in _RARE:
        raise AttributeError("module 'mbus.requests' has no attribute '%s'" % name)
    return getattr(__import__("mbus.requests_rare", None, None, (name,)), name)


def secondary_bytes(address):
    """'IIIIIIIIMMMMVVDD' -> the 8 bytes on the wire (identification LSB first)."""
    if not isinstance(address, str) or len(address) != 16:
        raise ValueError("secondary address must be 16 hex digits, got %r" % (address,))
    try:
        raw = unhexlify(address)
    except ValueError:
        raise ValueError("secondary address must be 16 hex digits, got %r" % (address,))
    return bytes((raw[3], raw[2], raw[1], raw[0])) + raw[4:]


def secondary_string(buf, off=0):
    """The 8 wire bytes at buf[off] -> 'IIIIIIIIMMMMVVDD' (uppercase)."""
    raw = bytes((buf[off + 3], buf[off + 2], buf[off + 1], buf[off])) + bytes(buf[off + 4:off + 8])
    return hexlify(raw).decode().upper()


def normalize_secondary(address):
    """Validated, uppercase form of a secondary address or mask."""
    secondary_bytes(address)
    return address.upper()


def reply_secondary(frame):
    """Secondary address in an RSP_UD long frame's header, or None without one."""
    if len(frame) >= 17 and frame[0] == 0x68 and frame[6] == CI_RSP_UD:
        return secondary_string(frame, 7)
    return None


def matches(mask, address):
    """True when address fits mask; an F nibble in mask matches any nibble."""
    for i in range(16):
        m = mask[i]
        if m != "F" and m != address[i]:
            return False
    return True

