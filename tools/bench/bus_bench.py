"""Bus master benchmark against the simulator.

    python tools/bench/bus_bench.py [--json FILE]

1. Reads the ten meters of tools/sim/bench.json through the simulator in
   --realtime mode at 2400 baud, twice: cold (a fresh master synchronises
   each link with SND_NKE first) and warm (frame count bits known). Each pass
   is compared with its floor: every byte on the wire at 11 bits, plus each
   reply's response delay as the simulated meters are configured (33 bit
   times; EN 13757-2 allows 11 bit times up to 330 + 50 ms), plus the 11 bit
   times of idle line before each request.
2. Measures the heap the master costs on the MicroPython unix port
   (-X heapsize=112wK, the ESP32's heap without PSRAM), from .mpy files.
3. Counts the probes of the secondary scan for the 1, 10 and 50 meter buses
   (tools/sim/one.json, ten.json, fifty.json), next to a libmbus-style search
   that probes only 0-9 in every position and does not verify.
"""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "lib"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from sim.process import Simulator  # noqa: E402
from mbus import requests as rq  # noqa: E402
from mbus.errors import MBusError, NoReplyError  # noqa: E402
from mbus.master import EXPECT_ACK, EXPECT_RSP_UD, Master  # noqa: E402
from mbus.transport import TcpTransport  # noqa: E402
from sim import config as simconfig  # noqa: E402

BAUD = 2400


class Counting:
    """Wraps a transport and counts the frames and bytes each way."""

    def __init__(self, t):
        self.t = t
        self.baudrate = t.baudrate
        self.out = self.inp = self.frames = 0

    def write(self, data):
        self.frames += 1
        self.out += len(data)
        self.t.write(data)

    def read(self, ms):
        data = self.t.read(ms)
        self.inp += len(data)
        return data

    def close(self):
        self.t.close()


def floor_s(c, delay_bits):
    bits = (c.out + c.inp) * 11 + c.frames * (delay_bits + 11)
    return bits / BAUD


def read_pass(m, c, addresses):
    c.out = c.inp = c.frames = 0
    t0 = time.monotonic()
    for a in addresses:
        m.read(a)
    return time.monotonic() - t0


def bench_reads(tmp):
    cfg_path = os.path.join(ROOT, "tools", "sim", "bench.json")
    bus = simconfig.load(cfg_path)
    delays = {s.response_delay_bits for s in bus.slaves}
    assert len(delays) == 1, "the floor assumes one response delay"
    delay = delays.pop()
    sim = Simulator(cfg_path, tmp, "--realtime", "--quiet")
    try:
        c = Counting(TcpTransport(sim.host, sim.port, BAUD))
        m = Master(c)
        rows = []
        for name in ("cold", "warm"):
            elapsed = read_pass(m, c, [s.primary for s in bus.slaves])
            fl = floor_s(c, delay)
            rows.append({"pass": name, "meters": len(bus.slaves), "frames": c.frames, "bytes": c.out + c.inp,
                         "time_s": round(elapsed, 3), "floor_s": round(fl, 3),
                         "over_floor_pct": round(100 * (elapsed / fl - 1), 1)})
        m.close()
    finally:
        sim.stop()
    return rows


def bench_memory(tmp):
    import subprocess

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from build_mpy import compile_one, sources

    build = os.path.join(tmp, "mpy")
    for rel in sources(("lib",)):
        compile_one(rel, build)
    sim = Simulator(os.path.join(ROOT, "tools", "sim", "bench.json"), tmp, "--quiet")
    try:
        env = dict(os.environ, MICROPYPATH=".frozen:" + os.path.join(build, "lib"))
        mp = os.path.join(os.path.dirname(sys.executable), "micropython")
        p = subprocess.run([mp, "-X", "heapsize=112wK", os.path.join(HERE, "bus_memory.py"), sim.host,
                            str(sim.port), "2"], capture_output=True, text=True, env=env, timeout=60)
    finally:
        sim.stop()
    if p.returncode:
        raise RuntimeError(p.stdout + p.stderr)
    return dict(json.loads(p.stdout))


def libmbus_style(p, mask="FFFFFFFFFFFFFFFF"):
    """The classic search: digits 0-9 at every position, select + REQ_UD2."""
    found, probes = set(), [0]

    def node(mask):
        probes[0] += 1
        try:
            yield from p.exchange(rq.select(mask), EXPECT_ACK, mask)
        except NoReplyError:
            return
        except MBusError:
            state = "collision"
        else:
            try:
                frame = yield from p.exchange(rq.req_ud2(0xFD, 1), EXPECT_RSP_UD, mask)
                found.add(rq.reply_secondary(frame))
                return
            except NoReplyError:
                return
            except MBusError:
                state = "collision"
        i = mask.find("F")
        if state == "collision" and i >= 0:
            for d in "0123456789":
                yield from node(mask[:i] + d + mask[i + 1:])

    yield from node(mask)
    return {"found": sorted(found), "probes": probes[0]}


def bench_scans(tmp):
    rows = []
    for name in ("one", "ten", "fifty"):
        cfg = os.path.join(ROOT, "tools", "sim", name + ".json")
        bus = simconfig.load(cfg)
        d = os.path.join(tmp, name)
        os.makedirs(d)
        sim = Simulator(cfg, d, "--quiet")
        try:
            m = Master(TcpTransport(sim.host, sim.port), baudrate=38400, reply_timeout_ms=30)
            r = m.scan_secondary()
            classic = m.run(libmbus_style(m.core))
            m.close()
        finally:
            sim.stop()
        want = sorted(s.secondary for s in bus.slaves)
        rows.append({"bus": name + ".json", "meters": len(want), "found": len(r["found"]),
                     "complete": r["found"] == want, "verified": r["verified"], "probes": r["probes"],
                     "frames": r["frames"], "libmbus_style_probes": classic["probes"],
                     "libmbus_style_found": len(set(classic["found"]) & set(want))})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reads = bench_reads(tmp)
        memory = bench_memory(tmp)
        scans = bench_scans(tmp)
    print("Reading the 10 meters of tools/sim/bench.json, simulator --realtime, %d baud:" % BAUD)
    print("  pass  frames  bytes   time     floor    over floor")
    for r in reads:
        print("  %-5s %6d %6d %7.3f s %7.3f s  %+5.1f %%" % (r["pass"], r["frames"], r["bytes"], r["time_s"],
                                                         r["floor_s"], r["over_floor_pct"]))
    print("Heap on the MicroPython unix port (64-bit; .mpy; bytes):")
    for k, v in memory.items():  # insertion order: as bus_memory.py lists them
        print("  %-28s %6d" % (k, v))
    print("Secondary scan (probes = selections sent; frames = everything sent):")
    print("  bus          meters found verified probes frames | libmbus-style: probes found")
    for r in scans:
        print("  %-12s %6d %5d %8s %6d %6d | %21d %5d" % (r["bus"], r["meters"], r["found"], r["verified"],
                                                          r["probes"], r["frames"], r["libmbus_style_probes"],
                                                          r["libmbus_style_found"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"reads": reads, "memory": memory, "scans": scans}, f, indent=1)
    ok = all(r["over_floor_pct"] <= 10 for r in reads) and all(r["complete"] for r in scans)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
