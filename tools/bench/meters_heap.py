"""What configured meters cost the gateway's heap (unix port, .mpy as deployed).

    python tools/bench/meters_heap.py [--counts 8,64,250] [--heap 112wK]

For each meter count: the firmware boots (app.prepare: config check,
extensions, the boot-time code unloaded), the running modules are imported
and the scheduler is built as Gateway.run builds it; then the heap kept
(after a collection) is measured at a generous heap, and the smallest heap
that boots that many meters is found by bisection (in wK). A /api/status
answer is then rendered as the API writes it: its size, and the most heap
it holds at once (after a collection at each chunk) besides what it found. Meters alternate
between primary and secondary addresses and leave interval_s, multi,
max_frames and enabled to their defaults every other time, as a real config
does. Also: the most meters that boot at --heap. Prints a table and writes
build/meters-heap.json.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import firmware_image  # noqa: E402
from unix_board import micropython  # noqa: E402

RUNNING = ("app", "api", "microdot", "scheduler", "bus", "net", "health", "readings", "log", "hw",
           "mbus.master", "mbus.tcp", "mbus.aio", "mbus.telegram")
PROBE = """
import gc, json
import app
gw = app.prepare()
ok = gw is not None and gw.safe_reason is None
if ok:  # the bus and the scheduler as Gateway.run makes them
    import bus, scheduler
    gw.bus = bus.Bus(gw.cfg["bus"], gw.cfg["meters"].n)
    gw.scheduler = scheduler.Scheduler(gw.bus, gw.cfg.pop("meters"), gw.dispatch, None)
for name in %r:
    __import__(name)
gc.collect()
out = {"ok": ok, "free": gc.mem_free(), "alloc": gc.mem_alloc()}
if ok:  # a /api/status answer as api.json_response writes it: its size and the most it holds at once
    try:
        import api
        base = gc.mem_alloc()
        size = most = 0
        for chunk in api._batched(api._json_chunks(gw.status(), 2)):
            size += len(chunk)
            gc.collect()
            most = max(most, gc.mem_alloc() - base)
        out["status_bytes"], out["status_most"] = size, most
    except MemoryError:  # at the smallest heaps: boot is what counts there
        pass
print(json.dumps(out))
"""


def meters(n):
    out = []
    for i in range(n):
        if i % 2:
            m = {"name": "heat-%03d" % (i + 1), "address": "%08d2D2C0104" % (12345600 + i)}
        else:
            m = {"name": "water-%03d" % (i + 1), "address": i % 250 + 1, "interval_s": 900, "multi": True}
        out.append(m)
    return out


def flash(work, image, n):
    d = os.path.join(work, "flash-%d" % n)
    if not os.path.exists(d):
        shutil.copytree(image, d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"bus": {"port": 1}, "api": {"token": "t0123456789"}, "meters": meters(n)}, f)
    return d


def probe(d, heap_wk):
    """The probe's result at heap_wk (an int), or None when it does not boot."""
    env = {"MICROPYPATH": ":.frozen:lib", "PATH": "/usr/bin:/bin", "MBUS_RESET_CAUSE": "power"}
    for f in ("boot_state.json",):
        if os.path.exists(os.path.join(d, f)):
            os.remove(os.path.join(d, f))
    r = subprocess.run([micropython(), "-X", "heapsize=%dwK" % heap_wk, "-c", PROBE % (RUNNING,)], cwd=d, env=env,
                       capture_output=True, text=True, timeout=120)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines or not lines[-1].startswith("{"):
        return None
    got = json.loads(lines[-1])
    return got if got["ok"] else None


def smallest_heap(d, lo=40, hi=1024):
    """The smallest heap (wK) at which the probe boots; lo does not, hi does."""
    if probe(d, hi) is None:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(d, mid) is None:
            lo = mid
        else:
            hi = mid
    return hi


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="8,64,150,250")
    ap.add_argument("--heap", default="112wK")
    ap.add_argument("--max", type=int, default=2000, help="upper bound when looking for the most meters at --heap")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "meters-heap.json"))
    a = ap.parse_args()
    heap_wk = int(a.heap.rstrip("wK"))
    work = tempfile.mkdtemp(prefix="meters-heap-")
    try:
        image = firmware_image.stage(os.path.join(work, "image"), "unix-sim")
        rows = []
        for n in [int(x) for x in a.counts.split(",")]:
            d = flash(work, image, n)
            big = probe(d, 2048)
            rows.append({"meters": n, "alloc_after_boot": big and big["alloc"], "smallest_heap_wk": smallest_heap(d),
                         "at_heap": probe(d, heap_wk), "status_bytes": big and big.get("status_bytes"),
                         "status_most": big and big.get("status_most")})
        base = rows[0]
        for r in rows[1:]:
            if r["alloc_after_boot"] is not None and base["alloc_after_boot"] is not None:
                r["kept_per_meter"] = round((r["alloc_after_boot"] - base["alloc_after_boot"]) / (r["meters"] - base["meters"]))
        lo, hi = 1, a.max  # the most meters booting at --heap
        if probe(flash(work, image, hi), heap_wk) is not None:
            most = hi
        else:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if probe(flash(work, image, mid), heap_wk) is not None:
                    lo = mid
                else:
                    hi = mid
            most = lo
        total = None
        print("%7s  %16s  %14s  %18s  %20s  %s" % ("meters", "kept after boot", "kept per meter", "smallest heap (wK)",
                                                   "status: bytes, held", "free at " + a.heap))
        for r in rows:
            at = r["at_heap"]
            if at:
                total = at["free"] + at["alloc"]
            print("%7d  %16s  %14s  %18s  %20s  %s" % (r["meters"], r["alloc_after_boot"], r.get("kept_per_meter", "-"),
                                                       r["smallest_heap_wk"], "%s, %s" % (r["status_bytes"], r["status_most"]),
                                                 "-" if not at else "%d (%.1f %%)" % (at["free"], 100.0 * at["free"] / (at["free"] + at["alloc"]))))
        print("most meters that boot at %s: %d%s" % (a.heap, most, " (or more)" if most == a.max else ""))
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump({"heap": a.heap, "heap_total_bytes": total, "rows": rows, "most_meters_at_heap": most}, f, indent=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
