# Bus scans, as steps of a Protocol (see mbus.master). Imported only when a
# scan runs, so a gateway that never scans never loads this.
#
# The secondary scan is a wildcard search: select a mask, and when several
# slaves answer, split the first wildcard nibble into its values and recurse.
# It splits every nibble, including the hexadecimal ones of manufacturer,
# version and medium (0-E there, 0-9 in the BCD identification number). A
# slave whose nibble is one no probe names (F, which is the wildcard itself,
# or a non-BCD digit in the identification) is only matched while that nibble
# stays a wildcard: when the named values explain fewer than two of the
# colliding slaves, the search keeps the nibble open and splits the next one.
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
HEX_DIGITS = "0123456789ABCDE"
ID_NIBBLES = const(8)


def scan_primary(p, addresses=None, progress=None, retries=0):
    """SND_NKE to each address; a garbled answer is a collision."""
    found = []
    collisions = []
    probes = 0
    for a in range(rq.MAX_PRIMARY + 1) if addresses is None else addresses:
        rq.check_primary(a)
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
        if outcome == SINGLE:
            found.append(a)
        elif outcome == COLLISION:
            collisions.append(a)
        if progress:
            progress(probes, a, outcome)
    return {"found": found, "collisions": collisions, "probes": probes}


class _SecondaryScan:
    def __init__(self, p, progress, retries):
        self.p = p
        self.progress = progress
        self.retries = retries
        self.found = {}  # secondary address -> primary address in the reply
        self.collisions = []
        self.probes = 0

    def probe(self, mask):
        """Select mask; on E5h ask the selected slave for its header.
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
        if outcome != SINGLE:
            return outcome, None, None
        try:
            frame = yield from p.transact(rq.req_ud2(ADDR_NETWORK, 1), EXPECT_RSP_UD, mask)
        except NoReplyError:
            return NONE, None, None  # the E5h was not a slave's after all
        except (CollisionError, FrameError):
            return COLLISION, None, None
        sec = rq.reply_secondary(frame)
        if sec is None and mask.find("F") < 0:
            sec = mask  # a slave without the long header: the full mask is its address
        if sec is None:
            return REFINE, None, None  # one slave, address unknown: narrow the mask
        if not rq.matches(mask, sec):
            return COLLISION, None, None
        return SINGLE, sec, frame[5]

    def node(self, mask, pos):
        outcome, sec, primary = yield from self.probe(mask)
        if outcome == SINGLE:
            self.found[sec] = primary
        elif outcome != NONE:
            yield from self.split(mask, pos, 2 if outcome == COLLISION else 1)

    def split(self, mask, pos, need):
        """Split the first wildcard at or after pos; need is how many slaves
        the mask is known to hold (2 for a collision, 1 for one without a
        header)."""
        i = mask.find("F", pos)
        if i < 0:
            self.collisions.append(mask)
            return
        head = mask[:i]
        tail = mask[i + 1:]
        for d in BCD_DIGITS if i < ID_NIBBLES else HEX_DIGITS:
            yield from self.node(head + d + tail, i + 1)
        if self.known(mask) >= need:
            return
        if need == 2:
            # Too few slaves behind the named values: probe again in case the
            # collision was noise, and if it persists keep this nibble open.
            outcome, sec, primary = yield from self.probe(mask)
            if outcome == SINGLE:
                self.found[sec] = primary
                return
            if outcome == NONE:
                return
            if outcome == REFINE:
                need = 1
        yield from self.split(mask, i + 1, need)

    def known(self, mask):
        n = 0
        for sec in self.found:
            if rq.matches(mask, sec):
                n += 1
        for c in self.collisions:
            if rq.matches(mask, c):
                n += 2
        return n


def scan_secondary(p, mask=rq.WILDCARD, progress=None, retries=0):
    """Find every slave matching mask by secondary address."""
    s = _SecondaryScan(p, progress, retries)
    yield from s.node(rq.normalize_secondary(mask), 0)
    found = sorted(s.found)
    return {"found": found, "primary": s.found, "collisions": s.collisions, "probes": s.probes}
