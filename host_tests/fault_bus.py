"""Bus fault campaign: the whole firmware on the MicroPython unix port (ESP32
heap, .mpy image) reads simulated meters over a real socket while the
simulator disturbs its replies at a set rate (no reply, broken checksum, cut
short, noise in front, late, echo of the request, a second meter talking at
once), and two meters share one primary address so that every read of it
collides. The firmware forwards to an HTTP receiver and answers its API
throughout. run() returns the figures and the problems found:

- a wrong value: a forwarded reading whose frames are not exactly the
  telegrams a simulated meter at that address holds (in its order), or whose
  decoded telegram differs from CPython's decode of those telegrams;
- a lost or invented reading: the receiver's readings are not every stored
  reading at least once, in seq order, or a meter's count differs from its
  successful polls;
- polling stopped: a meter that can answer had no reading in the last part
  of the run, or the API did not answer;
- counters that do not tell the faults: the firmware's bus counters
  (/api/status) checked against what the simulator injected (--stats), and
  each meter's failed exchanges against its failed reads.

test_fault_bus.py runs it short; tools/fuzz/campaign.py (make fuzz) long.
"""
import json
import os
import re
import time

import mbus
from conftest import CORPUS
from fw_e2e import console_readings, delivered
from fw_helpers import TOKEN, flash_dir, free_port, http
from fwd_servers import Receiver
from sim import config as simconfig
from sim import telegrams as tg
from unix_board import Simulator, UnixBoard

HEAP = "112wK"
FAULT_KINDS = ("no_reply", "bad_checksum", "truncate", "noise", "slow", "echo", "collision")
SLOW_MS = 250  # past the reply window of a 5-byte request at 2400 baud (23 ms on the line + 188 ms)
RETRIES = 2  # the master's default: three attempts per exchange
SHARED = 6  # the primary address two meters answer at

# name, primary address, telegrams (corpus files; "+" marks "more records follow")
METERS = (
    ("heat", 1, ["kamstrup_multical_601"]),
    ("water", 2, ["itron_cyble_m-bus_v1.4_water"]),
    ("gas", 3, ["itron_cyble_m-bus_v1.4_gas"]),  # read by its secondary address
    ("elec", 4, ["EMU_EMU-Professional-375-M-Bus"]),
    ("multi", 5, ["+kamstrup_382_005", "+kamstrup_382_005", "kamstrup_382_005"]),
    ("shared-a", SHARED, ["sontex_supercal_531_telegram1"]),
    ("shared-b", SHARED, ["landis+gyr_ultraheat_t230"]),
)
BY_SECONDARY = ("gas",)
# a bug in the firmware, not a fault of the bus: never expected
BUGS = re.compile(r"unexpected error|Traceback|crashed|MemoryError|stage outbox failed|storing seq")


def bus_config(rate, seed):
    slaves = []
    for name, primary, files in METERS:
        telegrams = [{"file": "test-frames/%s.hex" % f.lstrip("+"), "more_records_follow": f.startswith("+")}
                     for f in files]
        slaves.append({"name": name, "primary": primary, "telegrams": telegrams})
    # the two at the shared address answer 11 bit times apart, as two meters would
    slaves[-2]["response_delay_bits"], slaves[-1]["response_delay_bits"] = 20, 31
    faults = {k: rate for k in FAULT_KINDS}
    faults["slow_ms"] = SLOW_MS
    return {"corpus": CORPUS, "seed": seed, "faults": faults, "slaves": slaves}


def expected(cfg):
    """{firmware meter name: (address, [[frame hex, ...] a reading may carry])}:
    a meter's whole sequence of telegrams. At the shared address also what
    is left of one meter's sequence: while the other answers alone (its
    partner's reply lost), it moves the partner's frame count bit too, so
    the master's next read can meet the partner mid-sequence, which no
    master can tell (README, "Robustness")."""
    out = {}
    for s, frames in _sequences(cfg):
        name = "shared" if s.primary == SHARED else s.name
        address = s.secondary if name in BY_SECONDARY else s.primary
        runs = [frames[i:] for i in range(len(frames))] if name == "shared" else [frames]
        out.setdefault(name, (address, []))[1].extend(runs)
    return out


def _sequences(cfg):
    """(slave, [frame hex, ...] as it sends them) for each simulated meter."""
    return [(s, [tg.with_address(t, s.primary).hex().upper() for t in s.telegrams])
            for s in simconfig.build(cfg).slaves]


def shared_figures(cfg, received):
    """Readings at the shared address: per meter that sent them, and how
    many began mid-sequence."""
    full = [f for s, f in _sequences(cfg) if s.primary == SHARED]
    assert len({len(f[0]) for f in full}) == 2, "the shared-address meters need telegrams of different lengths"
    out = {"mid_sequence": 0}
    for r in received:
        if r.get("meter") == "shared":
            sec = r["telegram"]["header"]["secondary_address"]
            out[sec] = out.get(sec, 0) + 1
            out["mid_sequence"] += r["raw"] not in full
    return out


def _same(a, b):
    """JSON values equal; floats to 1e-12 (the interpreters print them differently)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1e-12 * max(1, abs(b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def check_values(received, want):
    """Problems with the values the receiver got: frames and telegrams."""
    problems = []
    decoded = {}
    for r in received:
        name = r.get("meter")
        if name not in want:
            problems.append("seq %s: reading of an unknown meter %r" % (r.get("seq"), name))
            continue
        options = want[name][1]
        if r["raw"] not in options:
            problems.append("seq %d (%s): WRONG VALUE: frames %s are no meter's telegrams at that address"
                            % (r["seq"], name, r["raw"]))
            continue
        key = tuple(r["raw"])
        if key not in decoded:
            decoded[key] = json.loads(json.dumps(mbus.merge([mbus.decode(bytes.fromhex(f)) for f in r["raw"]])))
        if not _same(r["telegram"], decoded[key]):
            problems.append("seq %d (%s): WRONG VALUE: the telegram differs from the decode of its frames"
                            % (r["seq"], name))
    return problems


def check_counters(s1, s2, stats):
    """Problems with the firmware's counters: s1 is /api/status while the
    simulator ran, s2 after it stopped (the line's counters are final then:
    a transport error counts as no exchange), stats the simulator's. One
    exchange may have been cut short by the stop: +-1 where it matters."""
    problems = []
    bus = s2["bus"]
    out = stats["outcomes"]
    late = stats["late"]
    injected = stats["faults"]
    unusable = out["silenced"] + out["collided"] + out["damaged"]

    def need(ok, what):
        if not ok:
            problems.append("counters: " + what)

    need(bus["exchanges_failed"] >= unusable - 1,
         "%d exchanges failed, but %d replies could not be used" % (bus["exchanges_failed"], unusable))
    need(bus["exchanges_failed"] <= unusable + out["noisy"] + 2 * late + 1,
         "%d exchanges failed, more than the faults explain" % bus["exchanges_failed"])
    need(out["silenced"] - 1 <= bus["no_reply"] <= out["silenced"] + late + 1,
         "%d silences seen, %d replies dropped and %d late" % (bus["no_reply"], out["silenced"], late))
    need(bus["garbled"] + bus["bad_frame"] >= out["collided"] + out["damaged"] - late - 1,
         "%d garbled or bad frames seen, %d collided and %d damaged on the line"
         % (bus["garbled"] + bus["bad_frame"], out["collided"], out["damaged"]))
    need(injected.get("echo", 0) - 1 <= bus["echoes"] <= injected.get("echo", 0),
         "%d echoes dropped, %d injected" % (bus["echoes"], injected.get("echo", 0)))
    need(out["noisy"] - late - 1 <= bus["noise_skipped"] <= out["noisy"],
         "%d replies with noise skipped, %d sent" % (bus["noise_skipped"], out["noisy"]))
    need(sum(m["faults"] for m in s2["meters"].values()) == bus["exchanges_failed"],
         "the meters' failed exchanges do not add up to the bus's")
    for name, m in s1["meters"].items():
        # a read fails after RETRIES + 1 failed attempts of one exchange (at
        # the shared address also when the two meters' frames cannot merge)
        need(name == "shared" or m["faults"] >= (RETRIES + 1) * m["errors"],
             "meter %s: %d failed reads but only %d failed exchanges" % (name, m["errors"], m["faults"]))
    shared = s1["meters"]["shared"]
    need(shared["errors"] and shared["faults"] >= RETRIES + 1,
         "the meter at the shared address does not show its collisions: %s" % shared)
    return problems


def run(tmp_path, seconds=30, rate=0.05, seed=1, interval_s=2, echo=None):
    """The campaign; returns {"problems": [...], figures...}."""
    cfg = bus_config(rate, seed)
    want = expected(cfg)
    (tmp_path / "bus.json").write_text(json.dumps(cfg))
    stats_path = str(tmp_path / "sim-stats.json")
    sim = Simulator(str(tmp_path / "bus.json"), ["--stats", stats_path]).start()
    board = None
    problems = []
    api = {"asked": 0, "answered": 0}
    try:
        with Receiver() as rx:
            port = free_port()
            meters = [{"name": n, "address": a, "interval_s": interval_s} for n, (a, _) in want.items()]
            fw = {"name": "gw-bus", "bus": {"port": sim.port, "retries": RETRIES},
                  "api": {"port": port, "token": TOKEN}, "meters": meters,
                  "sinks": [{"type": "http", "name": "web", "url": rx.url, "backoff_min": 0.2, "backoff_max": 1,
                             "timeout": 5}]}
            board = UnixBoard(flash_dir(tmp_path, fw), heap=HEAP, echo=echo).start()
            board.wait_for("api: listening", 30)
            t0 = time.monotonic()
            last_seen = {}
            s1 = None
            while time.monotonic() - t0 < seconds:
                time.sleep(2)
                api["asked"] += 1
                try:
                    status, s = http(port, "GET", "/api/status", timeout=20)
                except OSError as e:
                    problems.append("api: /api/status failed at %.0f s: %s" % (time.monotonic() - t0, e))
                    continue
                if status != 200:
                    problems.append("api: /api/status answered %d" % status)
                    continue
                api["answered"] += 1
                s1 = s
                for name, m in s["meters"].items():
                    if m["ok"] != last_seen.get(name, (0, 0))[0]:
                        last_seen[name] = (m["ok"], time.monotonic() - t0)
            sim.stop()  # it writes its counters as it stops
            with open(stats_path) as f:
                stats = json.load(f)
            time.sleep(1.5)  # the read in flight ends with a transport error
            s2 = http(port, "GET", "/api/status", timeout=20)[1]
            # the readings still queued reach the receiver
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and s2["forwarding"]["outbox"]["sinks"]["web"]["pending"]:
                time.sleep(0.5)
                s2 = http(port, "GET", "/api/status", timeout=20)[1]
            board.stop()
            produced = console_readings(board)
            received = [body for _h, body in rx.accepted]
    finally:
        if board is not None:
            board.stop()
        sim.stop()

    problems += check_values(received, want)
    try:
        got = delivered(received, produced)
    except AssertionError as e:
        problems.append("delivery: %s" % e)
        got = {}
    if s2["forwarding"]["outbox"]["sinks"]["web"]["pending"]:
        problems.append("delivery: %d readings still queued" % s2["forwarding"]["outbox"]["sinks"]["web"]["pending"])
    per_meter = {}
    for r in got.values():
        per_meter[r["meter"]] = per_meter.get(r["meter"], 0) + 1
    for name, m in s2["meters"].items():
        if per_meter.get(name, 0) != m["ok"]:
            problems.append("meter %s: %d readings arrived, %d successful polls" % (name, per_meter.get(name, 0),
                                                                                  m["ok"]))
    # polling went on to the end for every meter that can answer alone
    for name in want:
        if name != "shared" and last_seen.get(name, (0, -1))[1] < seconds * 0.6:
            problems.append("meter %s: no reading after %.0f s of %d" % (name, last_seen.get(name, (0, 0))[1],
                                                                         seconds))
    problems += check_counters(s1, s2, stats)
    bugs = [x for x in board.lines if BUGS.search(x)]
    problems += ["firmware: " + x for x in bugs[:10]]
    faults = {k: stats["faults"].get(k, 0) for k in FAULT_KINDS}
    return {"problems": problems, "seconds": seconds, "rate": rate, "seed": seed, "heap": HEAP,
            "readings_checked": len(received), "readings_stored": len(got), "polls": s2["bus"]["polls"],
            "faults_injected": sum(faults.values()), "faults": faults, "line": stats["outcomes"],
            "late": stats["late"], "collisions": stats["collisions"], "master_frames": stats["master_frames"],
            "shared_address": shared_figures(cfg, received),
            "counters": {k: s2["bus"][k] for k in ("frames_sent", "exchanges_failed", "no_reply", "garbled",
                                                    "bad_frame", "echoes", "noise_skipped")},
            "meters": {n: {k: m[k] for k in ("polls", "ok", "errors", "faults")} for n, m in s2["meters"].items()},
            "api": api, "memory_errors": sum("MemoryError" in x for x in board.lines),
            "heap_free_low": s2.get("heap_free_low")}
