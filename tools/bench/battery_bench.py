"""Battery and flash benchmark of the whole firmware (MicroPython unix port):

1. battery mode, 5 corpus meters (read every 60 s, so each wake reads all
   five) on the simulator in --realtime mode at 2400 baud, forwarding over
   HTTP on every wake: time from wake to sleep
   per cycle (the firmware's own count from its first import to deep sleep,
   and the process's wall time), split into reading and forwarding;
2. flash bytes programmed and blocks erased per reading through the whole
   firmware on LittleFS (tools/flashsim.py, a 2 MiB ESP32 partition): in
   battery mode with the wake state in a flash file (the unix port's
   adapter) and in RTC memory (the ESP32's, emulated off the flash), and in
   mains mode (which also keeps latest/<meter>.json for the API).

    python tools/bench/battery_bench.py [--corpus DIR] [--cycles 3] [--readings 100] [--heap 128wK]

Writes build/bench-battery.json. Wake times are a PC's running the unix
port against a bus paced like a real one; an ESP32 adds its boot (~0.3 s to
main.py with .mpy files), Wi-Fi association and DHCP (typically 1-3 s).
"""
import argparse
import json
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, "host_tests"), os.path.join(ROOT, "tools")]
HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["heat", "water", "gas", "elec", "heat2"]


LFS_HEAP = "160wK"  # LittleFS runs: the flash simulator's block buffers share the heap


def board(work, image, staged, counts, rtc=None, heap=LFS_HEAP, wake=True):
    """The firmware on LittleFS (lfs_board.py); heap does not change what is written."""
    from unix_board import UnixBoard

    argv = [os.path.join(HERE, "lfs_board.py"), image, staged, counts] + ([rtc] if rtc else [])
    return UnixBoard(work, heap=heap, wake=wake, argv=argv).start()


def stage(work, cfg, sleep=None):
    import firmware_image

    staged = firmware_image.stage(os.path.join(work, "staged"), "unix-sim", cfg)
    if sleep:  # the ESP32's adapter: machine.deepsleep, state in RTC memory
        path = os.path.join(staged, "board.json")
        b = json.load(open(path))
        b["sleep"] = sleep
        json.dump(b, open(path, "w"))
    return staged


def counts_of(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def wake_figures(b):
    """Per finished wake: firmware's awake ms, reading ms, forwarding ms, wall ms, readings."""
    out = []
    for i, run in enumerate(b.runs):
        end = b.boot_lines[i + 1] if i + 1 < len(b.boot_lines) else len(b.lines)
        text = "\n".join(b.lines[b.boot_lines[i]:end])
        m = re.search(r"([\d.]+) INFO battery: awake (\d+) ms", text)
        if not m:
            continue
        start = re.search(r"([\d.]+) INFO battery: wake \d+", text)
        fwd = re.search(r"([\d.]+) INFO battery: forwarding \(", text)
        done = re.search(r"battery: forwarded in (\d+) ms", text)
        reads = len(re.findall(r"battery: read \w+, seq \d+", text))
        t_fwd = float(fwd.group(1)) if fwd else float(m.group(1))
        out.append({"awake_ms": int(m.group(2)), "wall_ms": run["wall_ms"], "readings": reads,
                    "boot_ms": round(float(start.group(1)) * 1000),
                    "reading_ms": round((t_fwd - float(start.group(1))) * 1000),
                    "forwarding_ms": int(done.group(1)) if done else None, "sleep_ms": run["sleep_ms"]})
    return out


def battery_run(work, sim, rx_url, cycles, rtc=False, heap=None, interval=10):
    """heap given: the firmware's own flash directory (timing); else LittleFS (flash figures)."""
    from fw_e2e import http_sink, meters
    from unix_board import UnixBoard

    os.makedirs(work)
    cfg = {"name": "bench", "bus": {"port": sim.port}, "meters": meters(NAMES, interval_s=interval),
           "sinks": [http_sink(rx_url)], "power": {"mode": "battery", "awake_max_s": 60, "forward_s": 20}}
    sleep = {"kind": "machine", "rtc_memory": 2048} if rtc else None
    staged = stage(work, cfg, sleep)
    counts = os.path.join(work, "counts.jsonl")
    if heap:
        b = UnixBoard(staged, heap=heap, wake=True).start()
    else:
        b = board(work, os.path.join(work, "flash.img"), staged, counts, os.path.join(work, "rtc.bin") if rtc else None)
    try:
        deadline = time.monotonic() + cycles * (interval + 30) + 30
        while len(b.runs) < cycles + 1:
            if time.monotonic() > deadline or (b.runs and b.runs[-1]["rc"] not in (76,)):
                raise SystemExit("battery run stopped:\n" + "\n".join(b.lines[-30:]))
            time.sleep(0.2)
    finally:
        b.stop()
    if any("MemoryError" in x for x in b.lines):
        print("  note: MemoryError lines at %s:" % heap, [x for x in b.lines if "MemoryError" in x][:3])
    wakes = wake_figures(b)[1:cycles + 1]  # the cold boot is not a cycle
    if heap:
        return wakes, None
    c = counts_of(counts)[1:cycles + 1]
    readings = sum(w["readings"] for w in wakes)
    return wakes, {"programmed_per_reading": sum(x["programmed"] for x in c) / readings,
                   "erased_per_reading": sum(x["erased"] for x in c) / readings, "readings": readings}


def mains_run(work, sim, rx_url, readings):
    from fw_e2e import http_sink, meters

    os.makedirs(work)
    cfg = {"name": "bench", "bus": {"port": sim.port}, "meters": meters(NAMES, interval_s=2),
           "sinks": [http_sink(rx_url)], "api": {"enabled": False}}
    staged = stage(work, cfg)
    counts = os.path.join(work, "counts.jsonl")
    b = board(work, os.path.join(work, "flash.img"), staged, counts, wake=False)
    try:
        deadline = time.monotonic() + readings + 60
        while len(b.readings()) < readings:
            if time.monotonic() > deadline or not b.running():
                raise SystemExit("mains run stopped:\n" + "\n".join(b.lines[-30:]))
            time.sleep(0.5)
    finally:
        b.stop()
    n = len(b.readings())
    c = counts_of(counts)[-1]
    return {"programmed_per_reading": c["programmed"] / n, "erased_per_reading": c["erased"] / n, "readings": n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "libmbus"))
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--readings", type=int, default=100, help="mains readings for the flash figure")
    # 112wK: sending the 5.7 kB reading of the EMU meter finds no free block that large (README)
    ap.add_argument("--heap", default="128wK", help="battery mode's heap for the wake times")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-battery.json"))
    a = ap.parse_args()
    os.environ["MBUS_CORPUS"] = os.path.abspath(a.corpus)
    from fw_e2e import simulator
    from fwd_servers import Receiver

    import pathlib

    work = tempfile.mkdtemp(prefix="bat-bench-")
    result = {"heap": a.heap}
    with Receiver() as rx:
        sim = simulator(pathlib.Path(work), NAMES, ["--realtime"])
        try:
            print("Battery mode: 5 meters, simulator --realtime at 2400 baud, HTTP forwarding every wake, "
                  "-X heapsize=%s" % a.heap)
            wakes, _ = battery_run(os.path.join(work, "timing"), sim, rx.url, a.cycles, heap=a.heap, interval=60)
            print("%-6s %-9s %-11s %-13s %-10s %-9s %s" % ("cycle", "readings", "awake ms", "(boot/read/fwd)",
                                                          "wall ms", "sleep ms", ""))
            for i, w in enumerate(wakes):
                print("%-6d %-9d %-11d %4d/%5d/%4s  %-10d %-9d" % (i + 1, w["readings"], w["awake_ms"], w["boot_ms"],
                                                                  w["reading_ms"], w["forwarding_ms"], w["wall_ms"],
                                                                  w["sleep_ms"]))
            avg = sum(w["awake_ms"] for w in wakes) / len(wakes)
            wall = sum(w["wall_ms"] for w in wakes) / len(wakes)
            print("mean awake %.0f ms (process wall %.0f ms) per cycle of 5 readings" % (avg, wall))
        finally:
            sim.stop()
        sim = simulator(pathlib.Path(work), NAMES)  # not paced: the flash figures do not depend on it
        try:
            _w, flash_rtc = battery_run(os.path.join(work, "rtc"), sim, rx.url, a.cycles, rtc=True)
            _w, flash_file = battery_run(os.path.join(work, "file"), sim, rx.url, a.cycles)
            mains = mains_run(os.path.join(work, "mains"), sim, rx.url, a.readings)
        finally:
            sim.stop()
    print("\nFlash per reading through the whole firmware (LittleFS, 2 MiB, 4 KiB blocks; one HTTP sink; "
          "-X heapsize=%s)" % LFS_HEAP)
    for label, f in (("battery, wake state in RTC memory (ESP32)", flash_rtc),
                     ("battery, wake state in a flash file (unix port)", flash_file),
                     ("mains (with latest/<meter>.json for the API)", mains)):
        print("  %-48s %6.0f bytes programmed, %.2f blocks erased (%d readings)"
              % (label, f["programmed_per_reading"], f["erased_per_reading"], f["readings"]))
    result.update({"wakes": wakes, "mean_awake_ms": avg, "mean_wall_ms": wall, "flash_battery_rtc": flash_rtc,
                   "flash_battery_file": flash_file, "flash_mains": mains})
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print("details: %s" % a.out)


if __name__ == "__main__":
    main()
