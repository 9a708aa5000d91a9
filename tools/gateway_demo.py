"""make demo: the gateway on the MicroPython unix port against simulated meters.

Starts tools/simulator.py with meters from the libmbus corpus (heat, water,
gas by secondary address, electricity), stages the firmware for
boards/unix-sim into build/demo-flash, and runs it with the ESP32's heap
(-X heapsize=112wK). Every reading is printed as one JSON line; the API and
status page are on http://127.0.0.1:8080/. Ctrl-C stops everything.

The corpus: --corpus, else $MBUS_CORPUS, else ../shared/corpus/libmbus
beside the clone (`make demo CORPUS=...` passes --corpus).
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import firmware_image  # noqa: E402
from unix_board import Simulator, UnixBoard  # noqa: E402

TOKEN = "demo-token"
METERS = (  # name, primary address, corpus frame, address the gateway uses, interval
    ("heat", 1, "kamstrup_multical_601.hex", 1, 10),
    ("water", 2, "itron_cyble_m-bus_v1.4_water.hex", 2, 15),
    ("gas", 3, "itron_cyble_m-bus_v1.4_gas.hex", "1002038777041403", 20),
    ("power", 4, "EMU_EMU-Professional-375-M-Bus.hex", 4, 10),
)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.environ.get("MBUS_CORPUS") or os.path.join(ROOT, "..", "shared", "corpus",
                                                                                       "libmbus"))
    ap.add_argument("--heap", default="112wK", help="MicroPython heap (112wK: an ESP32 without PSRAM)")
    ap.add_argument("--api-port", type=int, default=8080)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="where demo-flash/ and demo-bus.json go")
    a = ap.parse_args()
    corpus = os.path.abspath(a.corpus)
    if not os.path.isdir(os.path.join(corpus, "test-frames")):
        raise SystemExit("corpus not found at %s (give --corpus, CORPUS=... to make, or MBUS_CORPUS=...)" % corpus)
    build = a.build
    os.makedirs(build, exist_ok=True)
    bus_file = os.path.join(build, "demo-bus.json")
    with open(bus_file, "w") as f:
        json.dump({"corpus": corpus, "slaves": [{"name": n, "primary": p, "telegrams": ["test-frames/" + t]}
                                               for n, p, t, _, _ in METERS]}, f, indent=1)
    sim = Simulator(bus_file).start()
    board = None
    try:
        cfg = {"name": "demo-gateway", "bus": {"port": sim.port},
               "api": {"port": a.api_port, "token": TOKEN},
               "meters": [{"name": n, "address": addr, "interval_s": s} for n, _, _, addr, s in METERS]}
        flash = firmware_image.stage(os.path.join(build, "demo-flash"), "unix-sim", cfg)
        print("simulator: %d meters on %s:%d; firmware: %s at -X heapsize=%s" % (len(METERS), sim.host, sim.port,
                                                                                 flash, a.heap))
        print("API: http://127.0.0.1:%d/ (status page), /api/readings, /api/status; token for changes: %s"
              % (a.api_port, TOKEN))
        print("Ctrl-C stops the demo.\n", flush=True)
        board = UnixBoard(flash, heap=a.heap, echo=lambda line: print(line, flush=True), reboot=True).start()
        while board.thread.is_alive():
            time.sleep(0.5)
        print("the firmware stopped (exit code %s)" % board.proc.returncode)
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        if board is not None:
            board.stop()
        sim.stop()
    print("demo stopped")


if __name__ == "__main__":
    main()
