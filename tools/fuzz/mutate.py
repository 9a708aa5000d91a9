# Mutation campaign for the MicroPython unix port; the same seed gives the
# same inputs on CPython, for comparison.
#
#   python tools/fuzz/seeds.py --corpus CORPUS --pack seeds.bin
#   micropython -X heapsize=32wK tools/fuzz/mutate.py [--count 20000] [--seed 1] [--limit-ms 50] seeds.bin
#   micropython tools/fuzz/mutate.py --as-is inputs.bin      (each input once, unmutated)
#
# Seed frames are mutated with a xorshift PRNG (bit flips, bytes set to
# random or boundary values, inserted, deleted, duplicated, spliced in from
# another frame, truncation), then 7 times in 8 given their length fields,
# checksum and stop byte back so they get past the link layer. Each input
# goes to mbus.decode, to mbus.decode_user_data (from the CI field on) and,
# as it was before the fix-up, to the reply framer (fed whole and byte by
# byte: the same frame, a valid one). Checks: only MBusError escapes, no
# MemoryError, the telegram is plain JSON (contract.py). Each decode is
# timed and, on MicroPython, the heap its telegram holds is measured. A
# telegram that outgrows the heap is the decoder's DecodeError, counted as
# outcome "heap". Findings are printed ("FINDING ...") with their input as
# hex; then one "summary KEY JSON" line per figure. Kept lean: it shares a
# 32wK heap with the decoder.
import gc
import sys
from array import array

try:
    import mbus
except ImportError:  # CPython, run by path
    sys.path[:0] = [__file__.rsplit("/", 3)[0] + "/lib"]
    import mbus
from contract import Finding, check_telegram, error_label, fix_up
from mbus import MBusError
from mbus.frame import parse
from mbus.framer import Framer

try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython
    from time import perf_counter_ns

    def ticks_us():
        return perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b

MEM = hasattr(gc, "mem_alloc")
# Boundary values for rarely taken paths: extension bits, special DIFs, VIF
# tables, plain text, LVAR ranges; and IEEE infinities, NaN, the largest real.
BYTES = (b"\x00\x0d\x0f\x1f\x2f\x3f\x7b\x7c\x7d\x7e\x7f\x80\x8d\xbf\xc0\xc9\xd0\xd9\xe0\xe5\xef"
         b"\xf0\xf4\xf5\xf6\xf7\xfa\xfb\xfc\xfd\xff")
WORDS = (b"\x00\x00\x80\x7f", b"\x00\x00\x80\xff", b"\x00\x00\xc0\x7f", b"\xff\xff\x7f\x7f", b"\xff\xff\xff\xff")
KEEP = 4  # slowest inputs timed again at the end


class Rng:
    """xorshift32: the same numbers on every interpreter."""

    def __init__(self, seed):
        self.s = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def below(self, n):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x % n


class Pack:
    """Frames read one at a time from a pack file (seeds.py --pack: each
    after its 2-byte little-endian length), not all held in the heap."""

    def __init__(self, path):
        self.f = open(path, "rb")
        self.at = array("I")
        pos = 0
        while True:
            head = self.f.read(2)
            if len(head) < 2:
                break
            self.at.append(pos)
            pos += 2 + (head[0] | head[1] << 8)
            self.f.seek(pos)

    def __len__(self):
        return len(self.at)

    def __getitem__(self, k):
        self.f.seek(self.at[k])
        head = self.f.read(2)
        return self.f.read(head[0] | head[1] << 8)


def mutate(rng, seeds):
    """(mutated bytes, the same after the link-layer fix-up or None)."""
    b = bytearray(seeds[rng.below(len(seeds))])
    for _ in range(1 + rng.below(4)):
        n = len(b)
        at = rng.below(n) if n else 0
        op = rng.below(10)
        if n == 0 or op == 0:
            b[at:at] = bytes((rng.below(256),))
        elif op == 1:
            b[at] ^= 1 << rng.below(8)
        elif op == 2:
            b[at] = rng.below(256)
        elif op == 3:
            b[at] = BYTES[rng.below(len(BYTES))]
        elif op == 4:
            b[at:at + 4] = WORDS[rng.below(len(WORDS))]
        elif op == 5:
            b[at:at + 1 + rng.below(4)] = b""
        elif op == 6:
            b[at:at] = b[at:at + 1 + rng.below(8)]
        elif op == 7:
            other = seeds[rng.below(len(seeds))]
            b[at:] = other[rng.below(len(other)):]
        elif op == 8:
            b[at:] = b""
        else:
            b[at] ^= 0x80  # extension bit of a DIF/DIFE/VIF/VIFE
    raw = bytes(b)
    return raw, fix_up(raw) if rng.below(8) else None


def call(fn, data):
    """(result, MBusError or None, microseconds, heap the result holds)."""
    tg = err = None
    gc.collect()
    a0 = gc.mem_alloc() if MEM else 0
    t0 = ticks_us()
    try:
        tg = fn(data)
    except MBusError as e:
        err = e
    us = ticks_diff(ticks_us(), t0)
    if not MEM:
        return tg, err, us, 0
    gc.collect()
    return tg, err, us, gc.mem_alloc() - a0


def check_framer(data):
    """Whole and byte by byte: the same outcome; a frame found is valid."""
    whole = Framer()
    whole.feed(data)
    whole.finish()
    split = Framer()
    for k in range(len(data)):
        split.feed(data, k) if k == len(data) - 1 else split.feed(data[k:k + 1])
    split.finish()
    if whole.frame != split.frame or whole.skipped != split.skipped or split.total != len(data):
        raise Finding("framer: fed whole %r, byte by byte %r" % (whole.frame, split.frame))
    if whole.frame is not None:
        parse(whole.frame)


TARGETS = ("decode", "decode_user_data")
LABELS = ("ok", "FrameError", "DecodeError", "UnsupportedError", "heap", "other")
BUF = 272  # a frame is at most 261 bytes; longer inputs are never kept


class Slot:
    """A kept input, copied into a buffer allocated once: long-lived objects
    made while the decoder runs would fragment a 32wK heap."""

    def __init__(self):
        self.value = self.target = self.n = 0
        self.buf = bytearray(BUF)

    def keep(self, value, target, data):
        if len(data) <= BUF:
            self.value, self.target, self.n = value, target, len(data)
            self.buf[:self.n] = data

    def data(self):
        return bytes(self.buf[:self.n])


class Campaign:
    def __init__(self):
        self.inputs = self.calls = self.findings = 0
        self.counts = array("I", [0] * (len(TARGETS) * len(LABELS)))
        self.slow = [Slot() for _ in range(KEEP)]  # the slowest calls
        self.peak = Slot()  # the call whose telegram held the most heap

    def check(self, target, fn, data):
        tg, err, us, used = call(fn, data)
        self.calls += 1
        low = self.slow[0]
        for s in self.slow:
            if s.value < low.value:
                low = s
        if us > low.value:
            low.keep(us, target, data)
        if used > self.peak.value:
            self.peak.keep(used, target, data)
        if err is None:
            check_telegram(tg)
            label = 0
        else:
            name = error_label(err)
            # "heap": the decoder's DecodeError for a telegram that outgrew the heap.
            label = 4 if "free heap" in str(err) else LABELS.index(name) if name in LABELS else 5
        self.counts[target * len(LABELS) + label] += 1

    def outcomes(self):
        out = {}
        for t in range(len(TARGETS)):
            for k in range(len(LABELS)):
                if self.counts[t * len(LABELS) + k]:
                    out[TARGETS[t] + ":" + LABELS[k]] = self.counts[t * len(LABELS) + k]
        return out

    def one(self, raw, fixed):
        """Every target on one input; a finding is printed and counted."""
        self.inputs += 1
        frame = raw if fixed is None else fixed
        try:
            self.check(0, mbus.decode, frame)
            if len(frame) > 8:
                self.check(1, mbus.decode_user_data, frame[6:-2])
            check_framer(raw)
        except Exception as e:  # anything but an MBusError is a finding
            self.findings += 1
            gc.collect()  # the heap may be what ran out: print in small pieces
            print("FINDING", type(e).__name__, e)
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
            e = None
            gc.collect()
            print("FINDING input", frame.hex())

    def retime(self, repeats=10):
        """(us, target name, input): the kept slowest inputs timed again,
        best of repeats, so a scheduler pause or gc cycle is not taken for
        the decoder's time."""
        best = (0, "", b"")
        for s in self.slow:
            data = s.data()
            fn = mbus.decode_user_data if s.target else mbus.decode
            t = min([call(fn, data)[2] for _ in range(repeats)])
            if t > best[0]:
                best = (t, TARGETS[s.target], data)
        return best


def main(argv):
    opts = {"--count": 20000, "--seed": 1, "--limit-ms": 50}
    as_is = "--as-is" in argv
    path = None
    k = 0
    while k < len(argv):
        if argv[k] in opts:
            opts[argv[k]] = int(argv[k + 1])
            k += 1
        elif argv[k] != "--as-is":
            path = argv[k]
        k += 1
    mbus.decode  # the decoder's modules first, before the heap holds more
    from mbus import bigscale  # noqa: F401 (else the first 53-bit scaling loads it mid-heap)
    gc.collect()
    base = gc.mem_alloc() if MEM else 0
    seeds = Pack(path)
    run = Campaign()
    if as_is:
        for k in range(len(seeds)):
            raw = seeds[k]
            run.one(raw, fix_up(raw))
    else:
        rng = Rng(opts["--seed"])
        for _ in range(opts["--count"]):
            raw, fixed = mutate(rng, seeds)
            run.one(raw, fixed)
    us, target, data = run.retime()
    peak, ptarget, pdata = run.peak.value, TARGETS[run.peak.target], run.peak.data()
    seeds = run.slow = None
    # One "summary KEY JSON" line per figure: small allocations only, since
    # the heap may be fragmented by now.
    import json

    for key, value in (("interpreter", sys.implementation.name), ("inputs", run.inputs),
                       ("calls", run.calls), ("findings", run.findings), ("outcomes", run.outcomes()),
                       ("limit_ms", opts["--limit-ms"]), ("slowest_us", us), ("slowest_target", target),
                       ("slowest_hex", data), ("heap_base", base),
                       ("heap_total", gc.mem_free() + gc.mem_alloc() if MEM else None),
                       ("peak_retained", peak), ("peak_target", ptarget), ("peak_hex", pdata)):
        gc.collect()
        print("summary", key, value.hex() if key.endswith("hex") else json.dumps(value))
    return 1 if run.findings or us > opts["--limit-ms"] * 1000 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
