# Bus scans, as steps of a Protocol (see mbus.master). Imported only when a
# scan runs, so a gateway that never scans never loads this.
#
# The secondary scan is a wildcard search: select a mask, and when several
# slaves answer, split the first wildcard nibble into its values and recurse.
# It splits every nibble, including the hexadecimal ones of manufacturer,
# version and medium (0-E there, 0-9 in the BCD identification number; when
# 0-9 do not account for the slaves that collided, an identification nibble
# is tried with A-E too, for meters whose numbers are not BCD).
#
# A slave whose nibble is one that no probe names (F, which is the wildcard
# itself, or a letter in an identification nibble whose 0-9 split looked
# complete) only answers masks that keep that nibble open. So a second pass
# verifies: select the whole mask again, deselect (CI 56h) every slave
# found, and ask the selected slave for data.
# Silence proves the list complete; a reply is a slave the first pass
# missed, and the search continues with found slaves excluded the same way,
# which also separates a slave from another that shadows it.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from mbus import requests as rq
from mbus.errors import CollisionError, FrameError, NoReplyError
from mbus.frame import ADDR_NETWORK
from mbus.master import EXPECT_ACK, EXPECT_RSP_UD

NONE = "none"
SINGLE = "single"
COLLISION = "collision"
REFINE = "refine"  # one slave answered, but its reply names no secondary address
BCD_DIGITS = "0123456789"
NON_BCD = "ABCDE"
HEX_DIGITS = BCD_DIGITS + NON_BCD
ID_NIBBLES = const(8)


def scan_primary(p, addresses=None, progress=None, retries=0, read=False):
    """SND_NKE to each address; a garbled answer is a collision.

    Two meters that answer after the same delay put identical E5h on the
    line, whose wired AND is a clean E5h: with read=True each address that
    answered is also asked for data (REQ_UD2), and a garbled telegram marks
    the collision the E5h hid. The result then maps the addresses read to
    the secondary address in their reply ("secondary")."""
    found = []
    collisions = []
    secondary = {}
    probes = 0
    for a in range(rq.MAX_PRIMARY + 1) if addresses is None else addresses:
        rq.check_primary(a)
        # A slave that heard the SND_NKE expects FCB=1 next (FDh-FFh: any slave).
        if a <= rq.MAX_PRIMARY:
            p.fcb.pop(a, None)
        else:
            p.fcb.clear()
        outcome = NONE
        for _ in range(retries + 1):
            probes += 1
            try:
                yield from p.exchange(rq.snd_nke(a), EXPECT_ACK, a)
            except NoReplyError:
                outcome = NONE
                continue
            except (CollisionError, FrameError):
                outcome = COLLISION
                continue
            outcome = SINGLE
            p.fcb[a] = 1
            break
        if outcome == SINGLE and read and a <= rq.MAX_PRIMARY:
            outcome = yield from _read_one(p, a, retries, secondary)
        if outcome == SINGLE:
            found.append(a)
        elif outcome == COLLISION:
            collisions.append(a)
        if progress:
            progress(probes, a, outcome)
    out = {"found": found, "collisions": collisions, "probes": probes}
    if read:
        out["secondary"] = secondary
    return out


def _read_one(p, a, retries, secondary):
    """REQ_UD2 (FCB=1: the SND_NKE just reset the link) to an address that
    answered E5h: COLLISION when the telegram comes back garbled, else
    SINGLE (also for silence or an E5h: one meter without data for us)."""
    outcome = SINGLE
    for _ in range(retries + 1):
        try:
            frame = yield from p.exchange(rq.req_ud2(a, 1), EXPECT_RSP_UD, a)
        except CollisionError:
            outcome = COLLISION  # several telegrams at once, or noise: ask again
            continue
        except (NoReplyError, FrameError):
            break
        sec = rq.reply_secondary(frame)
        if sec is not None:
            secondary[a] = sec
        outcome = SINGLE
        break
    # The meter is one telegram into its sequence: the next read starts afresh.
    p.fcb.pop(a, None)
    return outcome


class _Unverifiable(Exception):
    """A found slave still answers after its deselection: no CI 56h support."""


class _SecondaryScan:
    def __init__(self, p, progress, retries, found=None):
        self.p = p
        self.progress = progress
        self.retries = retries
        self.on_found = found
        self.found = {}  # secondary address -> primary address in the reply
        self.collisions = []
        self.probes = 0
        self.frames = p.sent

    def probe(self, mask, exclude):
        """Select mask (and with exclude, deselect every found slave under it);
        then ask the selected slave for its header.
        Returns (outcome, secondary address or None, primary address)."""
        p = self.p
        outcome = NONE
        for _ in range(self.retries + 1):
            self.probes += 1
            try:
                yield from p.exchange(rq.select(mask), EXPECT_ACK, mask)
            except NoReplyError:
                continue
            except (CollisionError, FrameError):
                outcome = COLLISION
                continue
            outcome = SINGLE
            break
        if self.progress:
            self.progress(self.probes, mask, outcome)
        if outcome == NONE or (outcome == COLLISION and not exclude):
            return outcome, None, None
        if exclude:
            # Deselect what is known under mask: found slaves, and the masks of
            # collisions no mask could split (they are reported as such).
            for known in self.known(mask):
                try:
                    yield from p.exchange(rq.deselect(known), EXPECT_ACK, known)
                except (NoReplyError, CollisionError, FrameError):
                    pass  # whether it still listens shows in the reply below
        # After a clean E5h silence would be odd, so the master's retries apply;
        # with found slaves deselected silence is the expected answer.
        req = rq.req_ud2(ADDR_NETWORK, 1)
        try:
            if exclude:
                frame = yield from self.retried(req)
            else:
                frame = yield from p.transact(req, EXPECT_RSP_UD, mask)
        except NoReplyError:
            return NONE, None, None
        except (CollisionError, FrameError):
            return COLLISION, None, None
        sec = rq.reply_secondary(frame)
        if sec is None and mask.find("F") < 0:
            sec = mask  # a slave without the long header: the full mask is its address
        if sec is None:
            return REFINE, None, None  # one slave, address unknown: narrow the mask
        if not rq.matches(mask, sec):
            return COLLISION, None, None
        if exclude and sec in self.found:
            raise _Unverifiable()
        return SINGLE, sec, frame[5]

    def add(self, sec, primary):
        self.found[sec] = primary
        if self.on_found:
            self.on_found(sec, primary)

    def retried(self, req):
        for i in range(self.retries + 1):
            try:
                return (yield from self.p.exchange(req, EXPECT_RSP_UD, ADDR_NETWORK))
            except NoReplyError:
                if i == self.retries:
                    raise

    def known(self, mask):
        out = [sec for sec in self.found if rq.matches(mask, sec)]
        for c in self.collisions:
            if _overlap(mask, c):
                out.append(c)
        return out

    def node(self, mask, pos, exclude):
        outcome, sec, primary = yield from self.probe(mask, exclude)
        if outcome == SINGLE:
            self.add(sec, primary)
        elif outcome != NONE:
            yield from self.split(mask, pos, exclude, 2 if outcome == COLLISION else 1)
        return outcome

    def split(self, mask, pos, exclude, slaves=2):
        """Probe the values of the first wildcard nibble from pos; slaves is
        how many answered mask (2: a collision, so at least two)."""
        i = mask.find("F", pos)
        if i < 0:
            self.collisions.append(mask)
            return
        hexed = i >= ID_NIBBLES
        seen = yield from self.values(mask, i, HEX_DIGITS if hexed else BCD_DIGITS, exclude)
        if not hexed and seen < slaves:
            # The digits 0-9 account for fewer slaves than answered: the others
            # have a letter there (identification numbers need not be BCD).
            hexed = True
            yield from self.values(mask, i, NON_BCD, exclude)
        if exclude:
            yield from self.rest(mask, i + 1, hexed)

    def values(self, mask, i, digits, exclude):
        """Probe mask with nibble i set to each of digits; returns how many
        slaves answered at least (a collision counts two)."""
        seen = 0
        for d in digits:
            outcome = yield from self.node(mask[:i] + d + mask[i + 1:], i + 1, exclude)
            if outcome != NONE:
                seen += 2 if outcome == COLLISION else 1
        return seen

    def rest(self, mask, pos, hexed=True):
        """Find the slaves under mask that are not found yet (exclusion probes);
        hexed is False while identification nibble pos-1 was tried with 0-9 only."""
        while True:
            outcome, sec, primary = yield from self.probe(mask, True)
            if outcome == SINGLE:
                self.add(sec, primary)
                continue  # maybe more
            if outcome == NONE:
                return
            if not hexed:
                # Unknown slaves are left under mask: try the letters there.
                hexed = True
                yield from self.values(mask, pos - 1, NON_BCD, True)
                continue
            # Several unknown slaves, all with an unnamed nibble before pos
            # (or, at the top, anywhere): keep it open, split the next one.
            yield from self.split(mask, pos, True, 2 if outcome == COLLISION else 1)
            return


def _overlap(a, b):
    """True when some address matches both masks."""
    for i in range(16):
        if a[i] != "F" and b[i] != "F" and a[i] != b[i]:
            return False
    return True


def scan_secondary(p, mask=rq.WILDCARD, progress=None, retries=0, verify=True, found=None):
    """Find every slave matching mask by secondary address.

    progress(probes, mask, outcome) follows every probe; found(secondary,
    primary) each slave as it is found, so a caller that stops the scan
    early still has what it found."""
    s = _SecondaryScan(p, progress, retries, found)
    mask = rq.normalize_secondary(mask)
    first = yield from s.node(mask, 0, False)
    verified = first == NONE
    if verify and first != NONE:
        try:
            yield from s.rest(mask, 0)
            verified = True
        except _Unverifiable:
            pass
    return {"found": sorted(s.found), "primary": s.found, "collisions": s.collisions, "probes": s.probes,
            "frames": p.sent - s.frames, "verified": verified}
