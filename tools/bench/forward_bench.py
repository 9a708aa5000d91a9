"""Forwarding benchmark: flash bytes written per reading by the outbox on
LittleFS, and forwarding throughput of a backlog to Mosquitto (MQTT QoS 1)
and to an HTTP server, on the MicroPython unix port (ESP32 heap).

    python tools/bench/forward_bench.py [--corpus DIR] [--readings N]

Readings are built from libmbus corpus frames as the firmware makes them.
Throughput is the host's (a PC running the unix port), not an ESP32's.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, "host_tests"), os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]
MP = os.path.join(ROOT, ".venv", "bin", "micropython")
HERE = os.path.dirname(os.path.abspath(__file__))


def build(out):
    """lib/ and firmware/ as .mpy, as they go onto a board."""
    from build_mpy import compile_one, sources

    for rel in sources():
        compile_one(rel, out)
    return ":".join((".frozen", os.path.join(out, "lib"), os.path.join(out, "firmware"), os.path.join(ROOT, "tools")))


def mp(args, path, heap="112wK"):
    env = dict(os.environ)
    env["MICROPYPATH"] = path
    r = subprocess.run([MP, "-X", "heapsize=" + heap, os.path.join(HERE, "forward_mp.py")] + args,
                       capture_output=True, text=True, env=env, timeout=600)
    if r.returncode:
        sys.exit("micropython failed:\n" + r.stdout + r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--readings", type=int, default=300)
    a = ap.parse_args()
    if a.corpus:
        os.environ["MBUS_CORPUS"] = os.path.abspath(a.corpus)
    from fwd_readings import all_meters
    from fwd_servers import Mosquitto, Receiver

    tmp = tempfile.mkdtemp(prefix="fwdbench")
    path = build(os.path.join(tmp, "mpy"))
    readings = os.path.join(tmp, "readings.json")
    with open(readings, "w") as f:
        json.dump(all_meters(), f)

    print("Outbox on LittleFS (simulated 2 MiB ESP32 partition, 4 KiB blocks), steady state")
    print("%-6s %-9s %-10s %-22s %-20s %s" % ("sinks", "segment", "JSON B/rd", "append: B prog / erases",
                                              "acks: B prog / erases", "total B per reading"))
    for sinks, seg in ((1, 16384), (2, 16384), (2, 4096), (2, 65536)):
        r = mp(["flash", readings, str(a.readings), str(sinks), str(seg)], path, heap="8M")
        total = r["append_programmed"] + r["ack_programmed"]
        print("%-6d %-9d %-10.0f %8.0f / %-11.2f %8.0f / %-9.2f %.0f (%.1fx the JSON), %.2f erases"
              % (sinks, seg, r["json_bytes"], r["append_programmed"], r["append_erased"], r["ack_programmed"],
                 r["ack_erased"], total, total / r["json_bytes"], r["append_erased"] + r["ack_erased"]))

    print("\nForwarding a backlog (unix port, .mpy modules, -X heapsize=112wK: the heap of an ESP32 without PSRAM)")
    os.makedirs(os.path.join(tmp, "broker"))
    broker = Mosquitto(os.path.join(tmp, "broker")).start()
    try:
        with Receiver() as srv:
            for label, sinks in (
                ("MQTT QoS 1 to Mosquitto", [{"type": "mqtt", "name": "mq", "host": "127.0.0.1", "port": broker.port}]),
                ("HTTP POST", [{"type": "http", "name": "web", "url": srv.url}]),
                ("MQTT + HTTP together", [{"type": "mqtt", "name": "mq", "host": "127.0.0.1", "port": broker.port},
                                          {"type": "http", "name": "web", "url": srv.url}]),
            ):
                cfg = os.path.join(tmp, "sinks.json")
                with open(cfg, "w") as f:
                    json.dump(sinks, f)
                r = mp(["drain", readings, str(a.readings), os.path.join(tmp, "ob%d" % time.time_ns()), cfg], path)
                print("%-24s %4d readings in %5d ms = %5.0f/s; heap used by forwarding: %4.1f%% resident, "
                      "%4.1f%% at peak" % (label, r["readings"], r["ms"], r["per_s"], 100.0 * r["resident"] / r["heap"],
                                          100.0 * r["peak"] / r["heap"]))
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
