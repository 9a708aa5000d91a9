"""Memory benchmark of the gateway: >= 500 polls on the MicroPython unix port
with the ESP32's heap (-X heapsize=112wK), simulated meters over TCP.

    python tools/bench/firmware_bench.py [--polls 500] [--heap 112wK] [--meters 8] [--sinks mqtt,http]

Reports the lowest free heap seen (the firmware samples it after a garbage
collection every second and after every poll), the free heap over time and
its drift (least-squares slope over the second half of the run, in bytes
per 100 polls: a leak shows as a steady negative slope), the worst start
delay of a scheduled poll, and errors. Goal: >= 40 % free at all times, no
drift. Writes build/bench-firmware.json.

--rom runs the code from a ROMFS image (make deploy ROMFS=1), as a board with
a ROMFS partition does: bytecode and constants out of the heap. The image
sits in the unix port's heap, which is made larger by its size; the figures
are of the heap the gateway is given (112wK).

--sinks mqtt,http adds a real Mosquitto broker (Home Assistant discovery on)
and a local HTTP receiver as the gateway's sinks: the gateway a user runs.
The run then also checks that every reading reached each sink.
"""
import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))
import firmware_image  # noqa: E402
from fw_helpers import free_port, http  # noqa: E402
from fwd_servers import Mosquitto, Receiver  # noqa: E402
from unix_board import Simulator, UnixBoard  # noqa: E402

FRAMES = ("kamstrup_multical_601.hex", "itron_cyble_m-bus_v1.4_water.hex", "itron_cyble_m-bus_v1.4_gas.hex",
          "EMU_EMU-Professional-375-M-Bus.hex", "landis+gyr_ultraheat_t230.hex", "abb_delta.hex",
          "siemens_water.hex", "engelmann_sensostar2c.hex")


def slope(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "libmbus"))
    ap.add_argument("--polls", type=int, default=500)
    ap.add_argument("--heap", default="112wK")
    ap.add_argument("--meters", type=int, default=8)
    ap.add_argument("--sinks", default="", help="comma-separated: mqtt, http (real local servers)")
    ap.add_argument("--rom", action="store_true", help="the code in a ROMFS image (make deploy ROMFS=1)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-firmware.json"))
    a = ap.parse_args()
    corpus = os.path.abspath(a.corpus)
    work = tempfile.mkdtemp(prefix="fw-bench-")
    slaves = [{"name": "m%d" % i, "primary": i + 1, "telegrams": ["test-frames/" + FRAMES[i % len(FRAMES)]]}
              for i in range(a.meters)]
    bus = os.path.join(work, "bus.json")
    with open(bus, "w") as f:
        json.dump({"corpus": corpus, "slaves": slaves}, f)
    sim = Simulator(bus).start()
    board = None
    samples = []
    kinds = [k for k in a.sinks.split(",") if k]
    broker = receiver = None
    try:
        port = free_port()
        cfg = {"bus": {"port": sim.port}, "api": {"port": port, "token": "bench-token-1"},
               "meters": [{"name": s["name"], "address": s["primary"], "interval_s": 2} for s in slaves]}
        sinks = []
        if "mqtt" in kinds:
            os.makedirs(os.path.join(work, "broker"))
            broker = Mosquitto(os.path.join(work, "broker")).start()
            sinks.append({"type": "mqtt", "name": "broker", "host": "127.0.0.1", "port": broker.port})
        if "http" in kinds:
            receiver = Receiver().__enter__()
            sinks.append({"type": "http", "name": "web", "url": receiver.url})
        if sinks:
            cfg["sinks"] = sinks
        flash = firmware_image.stage(os.path.join(work, "flash"), "unix-sim", cfg, romfs=a.rom)
        rom = firmware_image.romfs_path(flash) if a.rom else None
        rom_alloc = (os.path.getsize(rom) + 15) // 16 * 16 if rom else 0  # the image's share of the heap
        board = UnixBoard(flash, heap=a.heap, rom=rom).start()
        board.wait_for("api: listening")
        t0 = time.time()
        refused = 0  # status requests not answered with the status (a heap too small for the answer)
        deadline = time.time() + a.polls * 2  # a gateway that cannot poll for lack of heap ends the run too
        while True:
            time.sleep(2)
            if not board.running():
                raise SystemExit("the firmware stopped:\n" + "\n".join(board.lines[-20:]))
            if time.time() > deadline:
                break
            try:
                status, s = http(port, "GET", "/api/status")
            except OSError:
                status, s = None, None
            if status != 200 or not isinstance(s, dict):
                refused += 1
                continue
            samples.append({"t": round(time.time() - t0, 1), "polls": s["bus"]["polls"], "heap_free": s["heap_free"],
                            "heap_total": s["heap_free"] + s["heap_alloc"] - rom_alloc,
                            "heap_free_low": s["heap_free_low"],
                            "errors": s["bus"]["errors"], "lateness_ms": s["bus"]["worst_lateness_ms"]})
            if s["bus"]["polls"] >= a.polls:
                break
        if not samples:
            raise SystemExit("no status request was answered (%d refused); the firmware's last lines:\n%s"
                             % (refused, "\n".join(board.lines[-30:])))
        forwarded = {}
        if sinks:  # let the last readings leave the outbox, then compare
            time.sleep(5)
            try:
                _, s = http(port, "GET", "/api/status")
                forwarded = {name: st.get("pending") for name, st in s["forwarding"]["outbox"]["sinks"].items()}
            except (OSError, TypeError, KeyError):
                forwarded = {"unknown": "status not answered"}
    finally:
        if board is not None:
            board.stop()
        sim.stop()
        if broker is not None:
            broker.stop()
        if receiver is not None:
            receiver.__exit__()
    last = samples[-1]
    total = last["heap_total"]
    # the gateway's own low-water mark and what status answers saw (an answer
    # is written while the API's request code is loaded: part of "at all times")
    low = min(min(x["heap_free_low"], x["heap_free"]) for x in samples)
    half = samples[len(samples) // 2:]
    drift = slope([x["polls"] for x in half], [x["heap_free"] for x in half]) * 100
    memory_errors = sum("MemoryError" in x for x in board.lines)
    result = {"heap": a.heap, "rom": a.rom, "heap_total_bytes": total, "meters": a.meters, "polls": last["polls"],
              "errors": last["errors"], "memory_errors_logged": memory_errors, "readings": len(board.readings()),
              "lowest_free_bytes": low, "lowest_free_percent": round(100.0 * low / total, 1),
              "free_first_bytes": samples[0]["heap_free"], "free_last_bytes": last["heap_free"],
              "drift_bytes_per_100_polls": round(drift, 1), "worst_lateness_ms": last["lateness_ms"],
              "duration_s": last["t"], "status_refused": refused, "sinks": kinds, "pending_at_end": forwarded, "samples": samples}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.splitext(a.out)[0] + ".log", "w") as f:  # the firmware's console
        f.write("\n".join(board.lines) + "\n")
    print("firmware memory benchmark: %d polls of %d meters at -X heapsize=%s (%d bytes of heap), %.0f s, code %s"
          % (last["polls"], a.meters, a.heap, total, last["t"], "in ROM (ROMFS)" if a.rom else "in the heap (.mpy)"))
    print("  readings %d, bus errors %d, MemoryError lines %d, status requests not answered %d of %d"
          % (result["readings"], last["errors"], memory_errors, refused, refused + len(samples)))
    if kinds:
        print("  sinks %s; readings still queued per sink at the end: %s" % (", ".join(kinds), forwarded))
        if receiver is not None:
            print("  HTTP receiver accepted %d readings" % len(receiver.accepted))
    print("  lowest free heap  %6d bytes = %4.1f %%   (goal >= 40 %%)" % (low, result["lowest_free_percent"]))
    print("  free heap         first %d, last %d bytes" % (samples[0]["heap_free"], last["heap_free"]))
    print("  drift             %+.1f bytes per 100 polls over the second half" % drift)
    print("  worst poll start delay %d ms" % last["lateness_ms"])
    print("  details: %s (console: .log beside it)" % a.out)


if __name__ == "__main__":
    main()
