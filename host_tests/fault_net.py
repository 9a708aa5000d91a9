"""Network fault campaign: the whole firmware on the MicroPython unix port
reads simulated meters and forwards every reading to a real Mosquitto
broker and an HTTP receiver, each behind a FaultProxy, while the network
misbehaves in seeded random phases:

  broker_down, http_down      the broker or the HTTP server stopped, then
                              started again (flapping)
  mqtt_refuse, http_refuse    nothing listens on the sink's port
  mqtt_hang, http_hang        the sink accepts the TCP connection, never answers
  mqtt_stall, http_stall      the sink accepts nothing: connects never complete
  dns                         both sinks' host names do not resolve (config
                              changed through the API and restarted, then put
                              back and restarted)

Checked: during every phase the API answers and readings keep coming (the
bus is polled); the gateway holds no more sockets than it uses (file
descriptors of the process); every wait ends (each hang or stall phase
ends with the sink having given up on the silent connection) and once the
network is back every reading reaches each sink at least once, in seq
order, a repeat only with the same seq (fw_e2e.delivered); nothing dropped
or lost in the outbox; no traceback or crash on the console.

test_fault_net.py runs it short; tools/fuzz/campaign.py (make fuzz) long.
"""
import copy
import json
import os
import random
import re
import time

from fw_e2e import FRAMES, console_readings, delivered
from fw_helpers import TOKEN, flash_dir, free_port, http, rom_image
from fault_proxy import FaultProxy
from fwd_servers import Mosquitto, Receiver, Subscriber
from conftest import CORPUS
from unix_board import Simulator, UnixBoard

# mains with the API and both sinks: the ESP32's heap with the code in ROM
# (with its bytecode in the heap too, MQTT and the API need about 140wK:
# README, "Memory")
HEAP = os.environ.get("NET_FAULT_HEAP", "112wK")
NAMES = ["heat", "water", "gas", "heat2"]
SINK_TIMEOUT = 2  # s: every network wait of a sink
MQTT_FAULTS = ("broker_down", "mqtt_refuse", "mqtt_hang", "mqtt_stall")
HTTP_FAULTS = ("http_down", "http_refuse", "http_hang", "http_stall")
KINDS = MQTT_FAULTS + HTTP_FAULTS + ("dns",)
BUGS = re.compile(r"Traceback|crashed|MemoryError|unexpected error|stage outbox failed|storing seq|SAFE MODE")


def fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class Net:
    """The far ends: broker + subscriber, HTTP receiver, a proxy in front of each."""

    def __init__(self, workdir):
        os.makedirs(os.path.join(workdir, "broker"), exist_ok=True)
        self.broker = Mosquitto(os.path.join(workdir, "broker")).start()
        self.sub = Subscriber(self.broker, "mbus/+/+/state").start()
        self.http_port = free_port()
        self.rx = Receiver(port=self.http_port).__enter__()
        self.posts = []  # what every receiver instance accepted, in order
        self.mqtt = FaultProxy(self.broker.port)
        self.web = FaultProxy(self.http_port)

    def received_http(self):
        return [b for _h, b in self.posts + self.rx.accepted] if self.rx else [b for _h, b in self.posts]

    def start_fault(self, kind):
        if kind == "broker_down":
            self.broker.stop()
        elif kind == "http_down":
            self.posts += self.rx.accepted
            self.rx.__exit__()
            self.rx = None
        else:
            proxy = self.mqtt if kind.startswith("mqtt") else self.web
            proxy.set_mode(kind.split("_")[1])

    def end_fault(self, kind):
        if kind == "broker_down":
            self.broker.start()
        elif kind == "http_down":
            self.rx = Receiver(port=self.http_port).__enter__()
        else:
            (self.mqtt if kind.startswith("mqtt") else self.web).set_mode("pass")

    def close(self):
        for p in (self.mqtt, self.web):
            p.close()
        if self.rx:
            self.posts += self.rx.accepted
            self.rx.__exit__()
            self.rx = None
        self.sub.stop()
        self.broker.stop()


def firmware_config(sim_port, api_port, mqtt_port, web_port, mqtt_host="127.0.0.1", web_host="127.0.0.1"):
    sink = {"backoff_min": 0.2, "backoff_max": 2, "timeout": SINK_TIMEOUT}
    return {"name": "gw-net", "bus": {"port": sim_port, "retries": 1},
            "api": {"port": api_port, "token": TOKEN},
            "meters": [{"name": n, "address": i + 1, "interval_s": 2} for i, n in enumerate(NAMES)],
            "health": {"max_boot_crashes": 20},  # the dns phase restarts twice within a minute
            "sinks": [dict(sink, type="mqtt", name="broker", host=mqtt_host, port=mqtt_port, keepalive=6),
                      dict(sink, type="http", name="web", url="http://%s:%d/readings" % (web_host, web_port))]}


class Watch:
    """The gateway as the campaign sees it: status answers, readings, sockets."""

    def __init__(self, board, port):
        self.board, self.port = board, port
        self.asked = self.answered = 0
        self.problems = []
        self.fd_base = None  # per boot
        self.fd_max = 0

    def status(self, what):
        self.asked += 1
        try:
            code, s = http(self.port, "GET", "/api/status", timeout=20)
        except OSError as e:
            self.problems.append("api: no answer %s: %s" % (what, e))
            return None
        if code != 200 or not isinstance(s, dict):
            self.problems.append("api: status %s answered %s" % (what, code))
            return None
        self.answered += 1
        n = fds(self.board.proc.pid)
        if n is not None:
            if self.fd_base is None:
                self.fd_base = n
            self.fd_max = max(self.fd_max, n - self.fd_base)
        return s

    def new_boot(self, start_line):
        self.board.wait_for("api: listening", 60, start_line)
        self.fd_base = None
        return self.status("after a restart")


def _restart(board, watch, cfg):
    """PUT cfg through the API, restart, wait for the new boot."""
    code, body = http(watch.port, "PUT", "/api/config", cfg, token=TOKEN, timeout=30)
    if code != 200:
        watch.problems.append("api: PUT config answered %s %s" % (code, body))
    start = len(board.lines)
    http(watch.port, "POST", "/api/restart", token=TOKEN, timeout=30)
    board.wait_for("mbus-gateway .* starting", 60, start)
    return watch.new_boot(start)


def run(tmp_path, seconds=60, seed=1, echo=None):
    rnd = random.Random(seed)
    sim_cfg = tmp_path / "bus.json"
    sim_cfg.write_text(json.dumps({"corpus": CORPUS, "seed": seed, "slaves": [
        {"name": n, "primary": i + 1, "telegrams": ["test-frames/%s.hex" % FRAMES[n]]} for i, n in enumerate(NAMES)]}))
    sim = Simulator(str(sim_cfg)).start()
    net = Net(str(tmp_path))
    board = None
    phases = []
    problems = []
    try:
        api_port = free_port()
        cfg = firmware_config(sim.port, api_port, net.mqtt.port, net.web.port)
        flash = flash_dir(tmp_path, cfg, romfs=True)
        board = UnixBoard(flash, heap=HEAP, reboot=True, echo=echo, rom=rom_image(flash)).start()
        watch = Watch(board, api_port)
        watch.new_boot(0)
        t0 = time.monotonic()
        # the dns phase comes once, two thirds of the way through
        dns_at = t0 + seconds * 2 / 3
        while time.monotonic() - t0 < seconds:
            if dns_at is not None and time.monotonic() >= dns_at:
                dns_at = None
                phases.append(_dns_phase(board, watch, cfg, rnd))
                continue
            mqtt = rnd.choice(MQTT_FAULTS + (None,))
            web = rnd.choice(HTTP_FAULTS + (None,))
            kinds = [k for k in (mqtt, web) if k]
            if not kinds:
                continue
            # a hang or stall lasts long enough for the sink to give up on it
            length = rnd.uniform(3 * SINK_TIMEOUT, 4 * SINK_TIMEOUT) if any(
                k.endswith(("hang", "stall")) for k in kinds) else rnd.uniform(2, 6)
            before = watch.status("before " + "+".join(kinds))
            for k in kinds:
                net.start_fault(k)
            end = time.monotonic() + length
            while time.monotonic() < end:
                time.sleep(min(1.0, max(0.0, end - time.monotonic())))
                watch.status("during " + "+".join(kinds))
            after = watch.status("at the end of " + "+".join(kinds))
            for k in kinds:
                net.end_fault(k)
            phases.append(_phase(kinds, length, before, after))
            time.sleep(rnd.uniform(1, 3))  # the network back for a while: the sinks catch up
        # everything back: the outbox drains to both sinks
        deadline = time.monotonic() + 90
        s = watch.status("while draining")
        while time.monotonic() < deadline and (s is None or any(
                x["pending"] for x in s["forwarding"]["outbox"]["sinks"].values())):
            time.sleep(0.5)
            s = watch.status("while draining")
        board_lines = list(board.lines)
        produced = console_readings(board)
        top = max(r["seq"] for r in produced)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len({r["seq"] for r in net.sub.states()}) < top:
            time.sleep(0.2)
        board.stop()
        final = s
    finally:
        if board is not None:
            board.stop()
        net.close()
        sim.stop()

    problems += watch.problems
    for p in phases:
        problems += p["problems"]
    if final is None:
        problems.append("api: no status after the campaign")
    else:
        out = final["forwarding"]["outbox"]
        for name, x in out["sinks"].items():
            if x["pending"]:
                problems.append("sink %s: %d readings still queued at the end" % (name, x["pending"]))
        if out["dropped"] or out["lost"]:
            problems.append("outbox: %d dropped, %d lost" % (out["dropped"], out["lost"]))
    counts = {}
    for far, got in (("broker", net.sub.states()), ("web", net.received_http())):
        try:
            # polling went on while the subscriber caught up: more may have arrived
            counts[far] = len(delivered(got, produced))
            if counts[far] < top:
                problems.append("sink %s: %d of %d readings arrived" % (far, counts[far], top))
        except AssertionError as e:
            problems.append("sink %s: %s" % (far, e))
            counts[far] = 0
    if watch.fd_max > 10:
        problems.append("sockets: the gateway held %d more file descriptors than after boot" % watch.fd_max)
    problems += ["firmware: " + x for x in board_lines if BUGS.search(x)][:10]
    faults = dict.fromkeys(KINDS, 0)
    for p in phases:
        for k in p["kinds"]:
            faults[k] += 1
    return {"problems": problems, "seconds": seconds, "seed": seed, "heap": HEAP, "phases": len(phases),
            "faults_injected": sum(faults.values()), "faults": faults, "readings": top,
            "readings_checked": sum(counts.values()), "delivered": counts,
            "repeats": {"broker": len(net.sub.states()) - counts.get("broker", 0),
                        "web": len(net.received_http()) - counts.get("web", 0)},
            "api": {"asked": watch.asked, "answered": watch.answered}, "fd_max_over_boot": watch.fd_max,
            "proxy_connections": {"broker": net.mqtt.accepted, "web": net.web.accepted},
            "memory_errors": sum("MemoryError" in x for x in board_lines),
            "phase_log": [{k: p[k] for k in ("kinds", "seconds", "readings", "failures")} for p in phases]}


def _sink_counts(s):
    if s is None:
        return None
    return {n: x["failures"] for n, x in s["forwarding"]["sinks"].items()}


def _phase(kinds, length, before, after):
    """What a phase shows: readings kept coming; a sink that met a hang or a
    stall gave up on it (its wait ended) at least once."""
    out = {"kinds": kinds, "seconds": round(length, 1), "problems": [], "readings": None, "failures": None}
    if before is None or after is None:
        return out  # already reported by Watch
    out["readings"] = after["readings"] - before["readings"]
    if out["readings"] <= 0:
        out["problems"].append("polling: no reading during %s (%.0f s)" % ("+".join(kinds), length))
    b, a = before["forwarding"]["sinks"], after["forwarding"]["sinks"]
    out["failures"] = {n: a[n]["failures"] - b[n]["failures"] for n in a}
    for k in kinds:
        if k.endswith(("hang", "stall")):
            name = "broker" if k.startswith("mqtt") else "web"
            gave_up = out["failures"][name] > 0 or a[name].get("connected") is False or \
                a[name]["last_error"] != b[name]["last_error"]
            if not gave_up:
                out["problems"].append("sink %s: still waiting at the end of %s (%.0f s, timeout %d s)"
                                       % (name, k, length, SINK_TIMEOUT))
    return out


def _dns_phase(board, watch, cfg, rnd):
    """Both sinks under host names that do not resolve, through a config
    change and a restart; then the right names again."""
    length = rnd.uniform(6, 10)
    bad = copy.deepcopy(cfg)
    bad["sinks"][0]["host"] = "mqtt-sink.invalid"
    bad["sinks"][1]["url"] = cfg["sinks"][1]["url"].replace("127.0.0.1", "web-sink.invalid")
    out = {"kinds": ["dns"], "seconds": round(length, 1), "problems": [], "readings": None, "failures": None}
    before = _restart(board, watch, bad)
    time.sleep(length / 2)
    watch.status("during dns")
    time.sleep(length / 2)
    after = watch.status("at the end of dns")
    if before is not None and after is not None:
        out["readings"] = after["readings"] - before["readings"]
        if out["readings"] <= 0:
            out["problems"].append("polling: no reading while the sinks' names did not resolve")
        sinks = after["forwarding"]["sinks"]
        out["failures"] = {n: x["failures"] for n, x in sinks.items()}
        for name, host in (("broker", "mqtt-sink.invalid"), ("web", "web-sink.invalid")):
            err = sinks[name].get("last_error") or ""
            if host not in err or sinks[name]["pending"] == 0:
                out["problems"].append("sink %s: the unresolvable name is not reported (%r, %d pending)"
                                       % (name, err, sinks[name]["pending"]))
    _restart(board, watch, cfg)
    return out
