"""Where the gateway's heap goes, on the MicroPython unix port at the ESP32's
heap size: per-module import cost, qstr pools, the live heap of the running
gateway and the runtime peaks of its operations.

    python tools/bench/heap_profile.py [--heap 112wK] [--meters 8] [--source] [--json FILE]

It stages the firmware as `make deploy` would (.mpy files; --source: .py
files, compiled on the board), starts the simulator with --meters corpus
meters, and runs tools/bench/heap_probe.py on the unix port inside the
staged flash:

  imports  each module imported alone, in load order: the bytes it adds to
           the live heap after gc.collect() (its code, constants, objects
           and the qstrs it interns), and the qstr pool after it. A jump in
           the pool is a new qstr pool block (each is twice the last one).
  runtime  the real gateway (app.prepare(), Gateway.run()) reading every
           meter; the live heap and the largest free block at each stage;
           then for each operation "need" = the smallest free piece of heap
           in which it succeeds (every other hole plugged with ballast: its
           transient peak; ">=" when that is the largest free block, whose
           size is shown, so the heap's fragmentation limits it), "churn" =
           what it allocates with the collector stopped, "kept" = what
           stays live after it.

Figures are for the 64-bit unix port: pointers, object headers and qstr
pool entries are twice an ESP32's; code bytes and string data are the same.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))
import firmware_image  # noqa: E402
from build_mpy import mpy_cross  # noqa: E402
from firmware_bench import FRAMES  # noqa: E402
from fw_helpers import free_port  # noqa: E402
from unix_board import Simulator, micropython  # noqa: E402

# Load order of the running gateway (each module after what it imports).
LIBRARY = ("mbus", "mbus.clock", "mbus.frame", "mbus.requests", "mbus.framer", "mbus.master", "mbus.aio",
           "mbus.tcp", "mbus.tables", "mbus.values", "mbus.telegram")
WEB = ("microdot",)
FIRMWARE = ("compat", "fsutil", "log", "hw", "health", "readings", "scheduler", "bus", "net", "api", "app")
# loaded for a rare job, then unloaded
ON_DEMAND = ("startup", "config", "api_admin", "status", "page", "mbus.commands", "mbus.requests_rare", "mbus.scan")
GROUPS = (("asyncio (frozen)", ("asyncio",)), ("lib/mbus", LIBRARY), ("microdot", WEB), ("firmware", FIRMWARE),
          ("on demand", ON_DEMAND))
BIG_FRAME = "EMU_EMU-Professional-375-M-Bus.hex"  # the corpus frame with the largest decoded telegram
QSTR_LINE = re.compile(r"qstr pool: n_pool=(\d+), n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)")


def bare_alloc(flash, heap, code):
    """Live heap of a fresh interpreter in the flash directory after code."""
    env = dict(os.environ, MICROPYPATH=":.frozen:lib")
    p = subprocess.run([micropython(), "-X", "heapsize=" + heap, "-c",
                        code + "\nimport gc\ngc.collect()\nprint(gc.mem_alloc())"],
                       cwd=flash, env=env, capture_output=True, text=True, check=True)
    return int(p.stdout.split()[-1])


def run_probe(flash, heap, args, timeout=600):
    env = dict(os.environ, MICROPYPATH=":.frozen:lib", HEAP_PROBE=" ".join(args))
    p = subprocess.run([micropython(), "-X", "heapsize=" + heap, "-c", "import heap_probe; heap_probe.main()"],
                       cwd=flash, env=env, capture_output=True, text=True, timeout=timeout)
    out = []
    for line in p.stdout.splitlines():
        m = QSTR_LINE.match(line)
        if m and out:
            out[-1]["qstr"] = {"pools": int(m.group(1)), "count": int(m.group(2)), "bytes": int(m.group(4))}
        elif line.startswith("{"):
            out.append(json.loads(line))
    if p.returncode != 0:
        raise SystemExit("heap probe failed (%d):\n%s\n%s" % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return out


def stage(flash, cfg, source):
    firmware_image.stage(flash, "unix-sim", cfg, compiled=not source)
    probe = os.path.join(ROOT, "tools", "bench", "heap_probe.py")
    if source:
        shutil.copyfile(probe, os.path.join(flash, "heap_probe.py"))
    else:
        subprocess.run([mpy_cross(), "-o", os.path.join(flash, "heap_probe.mpy"), probe], check=True)


def imports_table(rows):
    base = rows[0]
    print("import costs (bytes live after gc.collect(); qstr pool total after the import)")
    print("  %-18s %7s %7s %6s" % ("module", "bytes", "qstrs", "pool"))
    prev_q = base["qstr"]
    by_name = {r["module"]: r for r in rows[1:]}
    totals = {}
    for group, names in GROUPS:
        total = 0
        for name in names:
            r = by_name.get(name)
            if r is None:
                continue
            q = r["qstr"]
            grew = " +pool %d" % (q["bytes"] - prev_q["bytes"]) if q["pools"] > prev_q["pools"] else ""
            print("  %-18s %7d %7d %6d%s" % (name, r["bytes"], q["count"], q["bytes"], grew))
            prev_q = q
            total += r["bytes"]
        totals[group] = total
        print("  %-18s %7d" % ("= " + group, total))
    print("  qstr pools at the end: %d pools, %d qstrs, %d bytes" % (prev_q["pools"], prev_q["count"], prev_q["bytes"]))
    return totals


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "libmbus"))
    ap.add_argument("--heap", default="112wK")
    ap.add_argument("--meters", type=int, default=8)
    ap.add_argument("--polls", type=int, default=2, help="reads of every meter before the runtime figures")
    ap.add_argument("--source", action="store_true", help="stage .py sources instead of .mpy")
    ap.add_argument("--skip-runtime", action="store_true")
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "heap-profile.json"))
    a = ap.parse_args()
    corpus = os.path.abspath(a.corpus)
    work = os.path.join(ROOT, "build", "heap-profile")
    os.makedirs(work, exist_ok=True)
    frames = list(FRAMES)
    if BIG_FRAME not in frames:
        frames.append(BIG_FRAME)
    slaves = [{"name": "m%d" % i, "primary": i + 1, "telegrams": ["test-frames/" + frames[i % len(frames)]]}
              for i in range(max(a.meters, 1))]
    big = next((s["name"] for s in slaves if s["telegrams"][0].endswith(BIG_FRAME)), None)
    if big is None:
        raise SystemExit("use --meters %d or more: the biggest corpus frame is meter %d" % (
            frames.index(BIG_FRAME) + 1, frames.index(BIG_FRAME) + 1))
    bus = os.path.join(work, "bus.json")
    with open(bus, "w") as f:
        json.dump({"corpus": corpus, "slaves": slaves}, f)
    report = {"heap": a.heap, "source": a.source, "meters": len(slaves)}

    flash = os.path.join(work, "flash")
    stage(flash, None, a.source)
    rows = run_probe(flash, a.heap, ["imports", "asyncio"] + list(LIBRARY + WEB + FIRMWARE + ON_DEMAND))
    report["heap_free_at_start"] = rows[0]["free"] + rows[0]["alloc"]
    report["imports"] = rows
    report["import_totals"] = imports_table(rows)
    if a.skip_runtime:
        return

    sim = Simulator(bus).start()
    try:
        cfg = {"bus": {"port": sim.port}, "api": {"port": free_port(), "token": "profile-token-1"},
               "meters": [{"name": s["name"], "address": s["primary"], "interval_s": 2} for s in slaves]}
        stage(flash, cfg, a.source)
        frame = os.path.join(corpus, "test-frames", BIG_FRAME)
        rows = run_probe(flash, a.heap, ["runtime", frame, big, str(a.polls)])
    finally:
        sim.stop()
    report["runtime"] = rows
    total = report["heap_free_at_start"]
    # the probe's own module is not the gateway's (asyncio, which it imports, is)
    probe = bare_alloc(flash, a.heap, "import heap_probe") - bare_alloc(flash, a.heap, "import asyncio")
    report["probe_bytes"] = probe
    print()
    print("runtime (%d meters; heap %d bytes; percentages of it; the probe's own %d bytes taken off)"
          % (len(slaves), total, probe))
    for r in rows:
        if r["kind"] == "stage":
            r["alloc"] -= probe
            if "least" in r:
                r["least"] -= probe
                r["name"] += " (least %d)" % r["least"]
            extra = " (+%d bytes)" % r["bytes"] if "bytes" in r else ""
            print("  live %7d = %4.1f %%  free %4.1f %%  largest free block %6d  %s%s" % (
                r["alloc"], 100.0 * r["alloc"] / total, 100.0 - 100.0 * r["alloc"] / total, r["largest"], r["name"],
                extra))
    print("  %-52s %7s %7s %7s %6s" % ("operation (%s, %s)" % (big, BIG_FRAME[:-4]), "need", "largest", "churn",
                                      "kept"))
    for r in rows:
        if r["kind"] == "op":
            needed = "FAILS"
            if r["need"] is not None:
                needed = (">=" if r["need"] >= r["largest"] - 128 else "") + str(r["need"])
            print("  %-52s %7s %7d %7s %6d" % (r["name"], needed, r["largest"],
                                               "> free" if r["churn"] is None else r["churn"], r["kept"]))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(report, f, indent=1)
    print("details: %s" % a.json)


if __name__ == "__main__":
    main()
