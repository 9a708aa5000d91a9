# The master's less frequent commands, as steps of a Protocol (see
# mbus.master): link reset (ping), selection, REQ_UD1, SND_UD commands, baud
# rate switch.
# Imported on their first use (Protocol.__getattr__), so a gateway that only
# reads meters never loads this. Each function takes the Protocol first.
from mbus import requests as rq
from mbus import requests_rare as rare
from mbus.errors import CollisionError, FrameError, MBusError, NoReplyError
from mbus.frame import ADDR_BROADCAST, ADDR_BROADCAST_REPLY, ADDR_NETWORK
from mbus.master import BAUD, EXPECT_ACK, EXPECT_NOTHING, EXPECT_RSP_UD


def _send(p, address, build):
    """SND_UD-like command: build(a, fcb) -> frame, answered by E5h."""
    a, key = yield from p._address(address)
    if a == ADDR_BROADCAST or a == ADDR_BROADCAST_REPLY:
        yield from p.transact(build(a, 0), EXPECT_NOTHING if a == ADDR_BROADCAST else EXPECT_ACK, a)
        return a, key
    fcb = yield from p._next_fcb(a, key)
    try:
        yield from p.transact(build(a, fcb), EXPECT_ACK, a if key == a else key)
    except MBusError:
        p.fcb.pop(key, None)
        raise
    p.fcb[key] = fcb ^ 1
    return a, key


def forget_links(p, a):
    """The FCB state a SND_NKE to a makes stale: every slave that heard it
    expects FCB=1 next, and only its own E5h tells that it heard it. FEh and
    FFh reach every slave (all entries go), FDh the selected one, whichever
    secondary address that was (all secondary entries and FDh go)."""
    if a == ADDR_BROADCAST or a == ADDR_BROADCAST_REPLY:
        p.fcb.clear()
    elif a == ADDR_NETWORK:
        for key in [k for k in p.fcb if isinstance(k, str) or k == ADDR_NETWORK]:
            del p.fcb[key]
    else:
        p.fcb.pop(a, None)


def ping(p, address):
    """SND_NKE; True when E5h came back (the link is then reset), False on
    silence. Raises CollisionError when the answer is garbled. The FCB
    state of every slave the SND_NKE may have reset is forgotten, so the
    next exchange with it synchronises afresh."""
    a = rq.check_primary(address)
    forget_links(p, a)
    if a == ADDR_BROADCAST:
        yield from p.transact(rq.snd_nke(a), EXPECT_NOTHING, a)
        return False
    try:
        yield from p.transact(rq.snd_nke(a), EXPECT_ACK, a)
    except NoReplyError:
        return False
    if a <= rq.MAX_PRIMARY:
        p.fcb[a] = 1
    return True


def read_class1(p, address):
    """REQ_UD1 (alarm / class 1 data): the long frame, or None for E5h."""
    a, key = yield from p._address(address)
    fcb = yield from p._next_fcb(a, key)
    who = a if key == a else key
    err = None
    for _ in range(p.retries + 1):
        try:
            frame = yield from p.exchange(rare.req_ud1(a, fcb), EXPECT_RSP_UD, who)
            p._check_origin(frame, who, key)
        except FrameError as e:
            if len(p.framer.frame or b"") == 1:
                frame = None  # E5h: nothing to report
            else:
                err = e
                continue
        except (NoReplyError, CollisionError) as e:
            err = e
            continue
        p.fcb[key] = fcb ^ 1
        return frame
    p.fcb.pop(key, None)
    raise err.__class__("%s (%d attempts)" % (err, p.retries + 1))


def _acknowledged(p, frame, mask):
    """True when E5h came back, False on silence; CollisionError when garbled."""
    try:
        yield from p.transact(frame, EXPECT_ACK, mask)
    except NoReplyError:
        return False
    return True


def select(p, mask):
    """Select by secondary address (F nibbles are wildcards): True when E5h
    came back, False on silence; CollisionError when garbled."""
    mask = rq.normalize_secondary(mask)
    return (yield from _acknowledged(p, rq.select(mask), mask))


def deselect(p, mask=rq.WILDCARD):
    """CI 56h: the slaves matching mask leave the selected state."""
    mask = rq.normalize_secondary(mask)
    return (yield from _acknowledged(p, rare.deselect(mask), mask))


def set_primary_address(p, address, new):
    """Give the slave at address (int or secondary) the primary address new."""
    rare.set_primary_address(0, new)  # validates new before anything is sent
    a, key = yield from _send(p, address, lambda a, fcb: rare.set_primary_address(a, new, fcb))
    if key == a and key in p.fcb:
        p.fcb[new] = p.fcb.pop(key)


def application_reset(p, address, subcode=None):
    """SND_UD CI 50h (optionally with a subcode)."""
    yield from _send(p, address, lambda a, fcb: rare.application_reset(a, subcode, fcb))


def send_user_data(p, address, data, ci=rq.CI_DATA_SEND):
    """Raw SND_UD with any CI and user data; True once acknowledged."""
    yield from _send(p, address, lambda a, fcb: rq.snd_ud(a, ci, data, fcb))
    return True


def switch_baudrate(p, address, baudrate):
    """CI B8h..BFh; after the E5h (sent at the old rate) the transport and
    the timeouts switch to baudrate."""
    rare.switch_baudrate(0, baudrate)
    yield from _send(p, address, lambda a, fcb: rare.switch_baudrate(a, baudrate, fcb))
    yield (BAUD, baudrate)
    p.set_baudrate(baudrate)
