"""Decoder benchmark: heap on the MicroPython unix port, speed on CPython.

    python tools/bench/decode_bench.py --corpus ../shared/corpus/libmbus [--rounds 20]

Heap (unix port, lib/ compiled to .mpy, 64-bit build: pointers and GC blocks
are twice an ESP32's): the import footprint of the decoder, and per frame of
the 76 test frames the heap a decode allocates with the GC off (the peak it
needs when nothing is collected) and what the decoded telegram keeps.

Speed (CPython, this process, the same 76 frames already in memory):
microseconds per frame for mbus.decode, pymeterbus (meterbus.load plus
to_JSON) and pymbusparser (parse), best of --rounds passes, with ratios.
A frame a decoder rejects still counts (its time is spent).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "lib"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import mbus  # noqa: E402
from build_mpy import compile_one, sources  # noqa: E402

# Runs on the unix port with the .mpy build on MICROPYPATH; argv: frame files.
HEAP_SCRIPT = """
import gc, sys
gc.collect()
base = gc.mem_alloc()
import mbus
from mbus import telegram
gc.collect()
print("import", gc.mem_alloc() - base)
for path in sys.argv[1:]:
    with open(path) as f:
        raw = mbus.from_hex(f.read())
    mbus.decode(raw)  # the first decode of a frame fills the name cache
    gc.collect()
    before = gc.mem_alloc()
    gc.disable()
    tg = mbus.decode(raw)
    peak = gc.mem_alloc() - before
    gc.enable()
    gc.collect()
    print("frame", path.rsplit("/", 1)[-1], len(raw), peak, gc.mem_alloc() - before)
    tg = None
"""


def frame_files(corpus):
    folder = os.path.join(corpus, "test-frames")
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".hex")]


def heap(files):
    micropython = os.path.join(os.path.dirname(sys.executable), "micropython")
    with tempfile.TemporaryDirectory() as tmp:
        for rel in sources(("lib",)):
            compile_one(rel, tmp)
        script = os.path.join(tmp, "heap.py")
        with open(script, "w") as f:
            f.write(HEAP_SCRIPT)
        env = dict(os.environ, MICROPYPATH=os.path.join(tmp, "lib"))
        out = subprocess.run([micropython, script] + files, capture_output=True, text=True, env=env, check=True)
    footprint = 0
    frames = []
    for line in out.stdout.splitlines():
        f = line.split()
        if f[0] == "import":
            footprint = int(f[1])
        else:
            frames.append((f[1], int(f[2]), int(f[3]), int(f[4])))
    return footprint, frames


def speed(frames, rounds):
    import meterbus
    from pymbusparser import parse

    def pymeterbus(raw):
        return meterbus.load(raw).to_JSON()

    results = []
    for name, fn in (("mbus.decode", mbus.decode), ("pymeterbus", pymeterbus), ("pymbusparser", parse)):
        ok = 0
        for raw in frames:
            try:
                fn(raw)
                ok += 1
            except Exception:
                pass
        best = None
        for _ in range(rounds):
            t = time.perf_counter()
            for raw in frames:
                try:
                    fn(raw)
                except Exception:
                    pass
            t = time.perf_counter() - t
            best = t if best is None or t < best else best
        results.append((name, best / len(frames) * 1e6, ok))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "libmbus"))
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    files = frame_files(a.corpus)
    frames = []
    for path in files:
        with open(path) as f:
            frames.append(mbus.from_hex(f.read()))

    footprint, per_frame = heap(files)
    peaks = sorted(p for _, _, p, _ in per_frame)
    kept = sorted(k for _, _, _, k in per_frame)
    biggest = max(per_frame, key=lambda r: r[2])
    print("MicroPython unix port (64-bit), lib/ as .mpy, %d frames" % len(per_frame))
    print("  import footprint          %6d bytes" % footprint)
    print("  peak heap per frame       %6d bytes largest (%s, %d bytes), %d median" % (
        peaks[-1], biggest[0], biggest[1], statistics.median(peaks)))
    print("  telegram kept per frame   %6d bytes largest, %d median" % (kept[-1], statistics.median(kept)))
    print()
    print("CPython %s, %d frames, best of %d rounds" % (sys.version.split()[0], len(frames), a.rounds))
    results = speed(frames, a.rounds)
    ours = results[0][1]
    for name, us, ok in results:
        print("  %-14s %8.1f us/frame  %5.2fx mbus.decode  (%d/%d frames decoded)" % (name, us, us / ours, ok,
                                                                                      len(frames)))


if __name__ == "__main__":
    main()
