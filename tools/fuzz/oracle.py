# What the CPython fuzz campaigns assert about one input, shared by the
# atheris harness, the hypothesis properties and the regression corpus (the
# telegram contract itself is in contract.py, which MicroPython loads too).
#
# Each check_* takes bytes and returns an outcome label ("ok" or the name of
# the MBusError subclass raised); anything else that escapes the library, or
# a result that breaks the contract, raises Finding.
import mbus
from contract import Finding, check_telegram, error_label, fix_up  # noqa: F401
from mbus import MBusError
from mbus.framer import Framer
from mbus.frame import parse


def check_with(fn, data):
    """fn(data) (mbus.decode or mbus.decode_user_data): "ok" for a telegram
    that keeps the contract, the error's class name for an MBusError."""
    try:
        tg = fn(data)
    except MBusError as e:
        return error_label(e)
    check_telegram(tg)
    return "ok"


def check_decode(data):
    return check_with(mbus.decode, data)


def check_user_data(data):
    return check_with(mbus.decode_user_data, data)


def first_frame(data):
    """Reference framer, written apart from mbus.frame: (offset, frame) of
    the first whole valid frame in data, or (len(data), None)."""
    n = len(data)
    for i in range(n):
        b = data[i]
        if b == 0xE5:
            return i, data[i:i + 1]
        if b == 0x10:
            if i + 5 <= n and (data[i + 1] + data[i + 2]) & 0xFF == data[i + 3] and data[i + 4] == 0x16:
                return i, data[i:i + 5]
        elif b == 0x68 and i + 4 <= n:
            size = data[i + 1]
            end = i + size + 6
            if size == data[i + 2] and size >= 3 and data[i + 3] == 0x68 and end <= n \
                    and sum(data[i + 4:end - 2]) & 0xFF == data[end - 2] and data[end - 1] == 0x16:
                return i, data[i:end]
    return n, None


def chunks(data, sizes):
    """data cut into pieces whose lengths cycle through sizes (bytes)."""
    out = []
    i = 0
    k = 0
    while i < len(data):
        step = 1 + (sizes[k % len(sizes)] & 15) if sizes else len(data)
        out.append(data[i:i + step])
        i += step
        k += 1
    return out


def run_framer(pieces):
    f = Framer()
    for p in pieces:
        f.feed(p)
    f.finish()
    return f


def check_framer(data, sizes=b""):
    """Framer fed data whole and in pieces (lengths from sizes, or from the
    data's first bytes): the same frame as the reference, counts add up."""
    at, want = first_frame(data)
    for pieces in ([data], chunks(data, sizes or data[:8])):
        try:
            f = run_framer(pieces)
        except MBusError as e:
            raise Finding("framer raised %s: %s" % (type(e).__name__, e))
        if f.frame != want:
            raise Finding("framer found %r, the reference %r (pieces %d)" % (f.frame, want, len(pieces)))
        if f.total != len(data):
            raise Finding("framer counted %d bytes of %d" % (f.total, len(data)))
        if want is not None and (f.skipped != at or f.trailing != len(data) - at - len(want)):
            raise Finding("framer skipped %d / trailing %d, expected %d / %d"
                          % (f.skipped, f.trailing, at, len(data) - at - len(want)))
        if want is None and f.error is not None and not isinstance(f.error, MBusError):
            raise Finding("framer error %r is not an MBusError" % f.error)
    return "ok" if want is not None else "no frame"


def check_read(data, sizes=b""):
    """The master's whole read step (framing, checks, decode, merge) on data
    as the reply stream: a reading or an MBusError, never anything else."""
    from mbus.master import READ, WRITE, Protocol

    pieces = chunks(data, sizes or data[-8:])
    core = Protocol(retries=1, sync_fcb=False, check_address=False)
    step = core.read(1)
    value = None
    k = 0
    try:
        while True:
            op, arg = step.send(value)
            value = None
            if op == READ and arg > 0 and k < len(pieces):
                value = pieces[k]
                k += 1
            elif op == READ:
                value = b""
            elif op != WRITE:
                raise Finding("read step asked for I/O %r" % op)
    except StopIteration as e:
        reading = e.value
    except MBusError as e:
        return error_label(e)
    check_telegram(reading["telegram"])
    for fr in reading["frames"]:
        parse(fr)
    return "ok"


def check_decoders(data):
    """data to decode, to decode_user_data and, fixed up, to decode again."""
    fixed = fix_up(data)
    return check_decode(data), check_user_data(data), check_decode(fixed) if fixed is not None else None


def check_reply(data):
    """data as a reply stream: to the framer and to the read step."""
    return check_framer(data), check_read(data)


def check_all(data):
    """Every target on one input; the outcomes as a tuple."""
    return check_decoders(data) + check_reply(data)

