"""Power cuts for the whole firmware: the gateway on the unix port (ESP32
heap, API off) reads four simulated meters and forwards to Mosquitto and an
HTTP server while it is killed with SIGKILL at random moments, 60 times.
After each restart the outbox opens intact; at the end every reading the
firmware stored reached both sinks, in order, and a reading that arrived
twice carried the same seq both times."""
import json
import os
import random
import re
import time

from fw_e2e import console_readings, delivered, http_sink, meters, mqtt_sink, simulator
from fw_helpers import flash_dir
from fwd_servers import Mosquitto, Receiver, Subscriber
from unix_board import UnixBoard

KILLS = 60
HEAP = os.environ.get("KILL_HEAP", "112wK")
NAMES = ["heat", "water", "gas", "elec"]
# damage to the outbox, or a reading that never got into it (a forwarder's
# MemoryError only delays a send: counted in the report line, not a failure)
DAMAGE = re.compile(r"crc mismatch|unreadable record|\.ack is damaged|storing seq|stage outbox failed|crashed|SAFE MODE")


def stored(flash):
    """(highest seq in the outbox's segment files, {sink: acked seq})."""
    d = os.path.join(flash, "spool")
    top = 0
    acks = {}
    for name in os.listdir(d):
        path = os.path.join(d, name)
        if name.endswith(".ack"):
            acks[name[:-4]] = int(open(path).read())
        elif name.endswith(".log"):
            data = open(path, "rb").read()
            i = 0
            while i + 24 <= len(data) and data[i:i + 1] == b"#":
                seq, n = int(data[i + 1:i + 9], 16), int(data[i + 9:i + 15], 16)
                if i + 24 + n + 1 > len(data):
                    break
                top = max(top, seq)
                i += 24 + n + 1
    return top, acks


def printed(lines):
    """Readings on the console; a line the kill cut short is not one."""
    out = []
    for x in lines:
        if x.startswith("{"):
            try:
                r = json.loads(x)
            except ValueError:
                continue
            if r.get("seq"):
                out.append(r)
    return out


def test_sigkill_during_polling_and_forwarding(tmp_path, corpus):
    rnd = random.Random(int(os.environ.get("KILL_SEED", "0")) or None)
    seed = rnd.randrange(1 << 30)
    rnd.seed(seed)
    sim = simulator(tmp_path, NAMES)
    os.makedirs(tmp_path / "broker")
    broker = Mosquitto(tmp_path / "broker").start()
    sub = Subscriber(broker, "mbus/+/+/state").start()
    board = None
    try:
        with Receiver() as rx:
            cfg = {"name": "gw-kill", "bus": {"port": sim.port, "retries": 1}, "api": {"enabled": False},
                   "meters": meters(NAMES), "sinks": [mqtt_sink(broker.port), http_sink(rx.url)]}
            flash = flash_dir(tmp_path, cfg)
            board = UnixBoard(flash, heap=HEAP)
            moments = []
            for k in range(KILLS + 1):
                # power cuts are no crashes: 60 short runs in a row never give safe mode
                board.start()
                first = board.boot_lines[-1]
                line = board.wait_for(r"forwarding to mqtt broker, http web; \d+ reading\(s\) queued", 15, first)
                if k == KILLS:
                    break
                # mostly while the boot's first reads are stored and sent, sometimes a poll round later
                t = rnd.uniform(0.0, 0.45) if rnd.random() < 0.9 else rnd.uniform(1.9, 2.4)
                time.sleep(t)
                board.kill()
                moments.append(round(t, 2))
                assert not [x for x in board.lines[first:] if DAMAGE.search(x)], (seed, line)
            time.sleep(3)  # the last run reads a round more and catches up
            top = stored(flash)[0]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and stored(flash)[1] != {"broker": top, "web": top}:
                time.sleep(0.2)
            board.stop()
            top, acks = stored(flash)
            assert acks == {"broker": top, "web": top}, (seed, top, acks)
            assert not [x for x in board.lines if DAMAGE.search(x)], seed
            produced = printed(board.lines)
            assert len(produced) > KILLS, "too few readings to mean anything"
            web = delivered([body for _h, body in rx.accepted], produced)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len({s["seq"] for s in sub.states()}) < top:
                time.sleep(0.2)
            mqtt = delivered(sub.states(), produced)
            assert len(web) == len(mqtt) == top, (seed, len(web), len(mqtt), top)
            repeats = len(rx.accepted) - top, len(sub.states()) - top
            oom = sum("MemoryError" in x for x in board.lines)
            print("seed %d: %d kills at %s s; %d readings; repeats http %d, mqtt %d; %d MemoryError lines at %s"
                  % (seed, len(moments), moments, top, repeats[0], repeats[1], oom, HEAP))
    finally:
        if board:
            board.stop()
        sub.stop()
        broker.stop()
        sim.stop()
