# The request frames of the master's less frequent commands (mbus.commands):
# alarm data, application reset, new primary address, baud rate switch,
# deselection. mbus.requests has the frames of every read and offers these
# too (module __getattr__); this module is loaded on their first use.
from mbus.frame import ADDR_NETWORK, C_REQ_UD1, short_frame
from mbus.requests import (BAUDRATES, CI_APPLICATION_RESET, CI_BAUDRATE, CI_DATA_SEND, CI_DESELECT, MAX_PRIMARY,
                           WILDCARD, check_primary, fcb_bit, secondary_bytes, snd_ud)


def req_ud1(a, fcb):
    """Request class 1 (alarm) data (REQ_UD1, FCV=1)."""
    return short_frame(C_REQ_UD1 | fcb_bit(fcb), check_primary(a))


def application_reset(a, subcode=None, fcb=False):
    """SND_UD with CI 50h, optionally with a one-byte subcode."""
    if subcode is None:
        return snd_ud(a, CI_APPLICATION_RESET, b"", fcb)
    if not 0 <= subcode <= 0xFF:
        raise ValueError("application reset subcode must be one byte, got %r" % (subcode,))
    return snd_ud(a, CI_APPLICATION_RESET, bytes((subcode,)), fcb)


def set_primary_address(a, new, fcb=False):
    """SND_UD CI 51h with the record DIF 01h, VIF 7Ah (bus address) = new."""
    if not isinstance(new, int) or not 0 <= new <= MAX_PRIMARY:
        raise ValueError("new primary address must be 0..250, got %r" % (new,))
    return snd_ud(a, CI_DATA_SEND, bytes((0x01, 0x7A, new)), fcb)


def switch_baudrate(a, baudrate, fcb=False):
    """Control frame with CI B8h..BFh: the slave acknowledges, then changes rate."""
    if baudrate not in BAUDRATES:
        raise ValueError("baud rate must be one of %s, got %r" % (BAUDRATES, baudrate))
    return snd_ud(a, CI_BAUDRATE + BAUDRATES.index(baudrate), b"", fcb)


def deselect(mask=WILDCARD):
    """Deselect the slaves matching mask (CI 56h to FDh)."""
    return snd_ud(ADDR_NETWORK, CI_DESELECT, secondary_bytes(mask))
