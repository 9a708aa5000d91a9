"""One simulated meter: how a slave answers each master frame (EN 13757-2/-3).

A slave answers SND_NKE and SND_UD with E5h, REQ_UD2 with its telegrams. Its
frame count bit (FCB) state follows the link layer (EN 13757-2): after
SND_NKE (and at power-on) it expects FCB=1 in the next FCV=1 frame, as if
the previous one had FCB=0; a frame with the same FCB as the previous one
is a retry (the last reply is repeated: right after the reset that is the
E5h to SND_NKE; a command is acknowledged again but not executed) and a
toggled FCB advances to the next telegram.
"""
from mbus import frame
from mbus import requests as rq

from sim import telegrams as tg

ACK = b"\xe5"
FN_MASK = 0x4F  # C field without FCB and FCV
FN_SND_NKE = 0x40
FN_SND_UD = 0x43
FN_REQ_UD2 = 0x4B
FN_REQ_UD1 = 0x4A


class Slave:
    def __init__(self, name, primary, secondary, telegrams, response_delay_bits=11, wildcards="nibble",
                 faults=None, count_access=False, baudrate=None):
        if not telegrams:
            raise ValueError("slave %s has no telegram" % name)
        if wildcards not in ("nibble", "byte"):
            raise ValueError("slave %s: wildcards must be 'nibble' or 'byte', got %r" % (name, wildcards))
        self.name = name
        self.primary = rq.check_primary(primary)
        self.secondary = rq.normalize_secondary(secondary)
        self.telegrams = list(telegrams)
        self.response_delay_bits = response_delay_bits
        self.wildcards = wildcards
        self.faults = faults or {}
        self.count_access = count_access
        self.baudrate = baudrate  # None: whatever the line runs at
        self.selected = False
        self.access = 0
        self.reset_link()
        self.index = 0

    def reset_link(self):
        self.last_fcb = 0  # FCB of the previous FCV=1 frame; after a reset the next one must be 1
        self.started = False  # telegrams[index] has been sent since the reset
        self.index = 0

    # -- matching --------------------------------------------------------------

    def matches(self, mask_bytes):
        mask = rq.secondary_string(mask_bytes)
        if self.wildcards == "nibble":
            return rq.matches(mask, self.secondary)
        # Standard: F nibbles in the identification, FFh bytes elsewhere.
        if not rq.matches(mask[:8] + "FFFFFFFF", self.secondary):
            return False
        for i in range(8, 16, 2):
            if mask[i:i + 2] != "FF" and mask[i:i + 2] != self.secondary[i:i + 2]:
                return False
        return True

    def addressed(self, a):
        return a == self.primary or a == frame.ADDR_BROADCAST_REPLY or a == frame.ADDR_BROADCAST or (
            a == frame.ADDR_NETWORK and self.selected)

    # -- behaviour ---------------------------------------------------------------

    def handle(self, c, a, ci, data):
        """React to one master frame; returns (reply bytes or None, note)."""
        fn = c & FN_MASK
        # A broadcast reaches slaves in any link state: its FCB means nothing.
        fcv = c & frame.C_FCV and a != frame.ADDR_BROADCAST and a != frame.ADDR_BROADCAST_REPLY
        fcb = 1 if c & frame.C_FCB else 0
        silent = a == frame.ADDR_BROADCAST
        if fn == FN_SND_NKE:
            if a == frame.ADDR_NETWORK:
                if not self.selected:
                    return None, None
                self.selected = False
            elif not self.addressed(a):
                return None, None
            self.reset_link()
            return (None if silent else ACK), "link reset"
        if fn == FN_SND_UD and ci is not None and a == frame.ADDR_NETWORK and ci in (rq.CI_SELECT, rq.CI_DESELECT):
            return self._selection(ci, data)
        if not self.addressed(a):
            return None, None
        if fn == FN_SND_UD and ci is not None:
            repeat = fcv and fcb == self.last_fcb
            if fcv:
                self.last_fcb = fcb
            if repeat:
                return (None if silent else ACK), "repeated command acknowledged, not executed"
            note = self._command(ci, data)
            if note is None:
                return None, "CI %02Xh ignored" % ci
            return (None if silent else ACK), note
        if fn == FN_REQ_UD2 and not silent:
            return self._respond(fcv, fcb)
        if fn == FN_REQ_UD1 and not silent:
            return ACK, "no class 1 data"
        return None, None

    def _selection(self, ci, data):
        if len(data) < 8:
            return None, "selection with %d address bytes ignored" % len(data)
        hit = self.matches(data[:8])
        if ci == rq.CI_SELECT:
            self.selected = hit
            return (ACK, "selected") if hit else (None, None)
        if hit and self.selected:
            self.selected = False
            return ACK, "deselected"
        return None, None

    def _command(self, ci, data):
        if ci == rq.CI_APPLICATION_RESET:
            self.index = 0
            self.started = False
            return "application reset" + (" subcode %02Xh" % data[0] if data else "")
        if ci == rq.CI_DATA_SEND:
            if len(data) == 3 and data[0] == 0x01 and data[1] == 0x7A:
                if data[2] > rq.MAX_PRIMARY:
                    return None
                old, self.primary = self.primary, data[2]
                return "primary address %d -> %d" % (old, self.primary)
            return "%d bytes of user data accepted" % len(data)
        if rq.CI_BAUDRATE <= ci < rq.CI_BAUDRATE + len(rq.BAUDRATES):
            self.baudrate = rq.BAUDRATES[ci - rq.CI_BAUDRATE]
            return "baud rate -> %d after this acknowledgement" % self.baudrate
        return None

    def _respond(self, fcv, fcb):
        if fcv and fcb == self.last_fcb and not self.started:
            # The same FCB before any telegram since the reset (FCB=0 right
            # after SND_NKE): a repetition of the frame before, whose answer
            # was an E5h. A master that kept an old FCB across a link reset
            # gets E5h, not a telegram.
            return ACK, "FCB %d unchanged, no telegram since the reset (FCB=1 expected): E5h repeated" % fcb
        if fcv and fcb == self.last_fcb:
            note = "FCB unchanged: telegram %d/%d repeated"
        else:
            if self.started:
                self.index = (self.index + 1) % len(self.telegrams)
                if self.count_access:
                    self.access += 1
            note = "telegram %d/%d"
        self.started = True
        if fcv:
            self.last_fcb = fcb
        t = self.telegrams[self.index]
        if self.count_access:
            t = tg.with_access_number(t, self.access)
        return tg.with_address(t, self.primary), note % (self.index + 1, len(self.telegrams))
