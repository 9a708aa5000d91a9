"""Battery mode on the unix port at the ESP32's heap (112wK): deep sleep is a
process exit with the time to sleep, and tools/unix_board.py starts the
firmware again after it with the same flash directory (firmware/deepsleep.py).
A series of wake cycles: each reads the meters that are due, sleeps until
the next one, forwards on every n-th wake or once a day, keeps its state,
a dead broker never keeps it awake past its bound, a failed forwarding is
tried again on the next wakes (not at the next slot), and a stall limit the
watchdog would trip in the middle of a wake is refused."""
import datetime
import json
import os
import re
import socket
import time

from fw_e2e import delivered, http_sink, meters, mqtt_sink, simulator
from fw_helpers import flash_dir, free_port
from fwd_servers import Mosquitto, Receiver, Subscriber
from unix_board import SLEEP_EXIT, UnixBoard

HEAP = "112wK"


def battery(**kw):
    p = {"mode": "battery", "awake_max_s": 10, "forward_s": 5}
    p.update(kw)
    return p


def run_board(tmp_path, sim, ms, sinks, power, wakes, timeout=30):
    cfg = {"name": "gw-bat", "bus": {"port": sim.port, "retries": 1}, "meters": ms, "sinks": sinks, "power": power}
    flash = flash_dir(tmp_path, cfg)
    b = UnixBoard(flash, heap=HEAP, wake=True).start()
    deadline = time.monotonic() + timeout
    while len(b.runs) < wakes:
        assert time.monotonic() < deadline, "only %d wakes:\n%s" % (len(b.runs), "\n".join(b.lines[-30:]))
        time.sleep(0.05)
    return b, flash


class Wake:
    """What one wake did, from its console lines."""

    def __init__(self, lines, run, t0):
        text = "\n".join(lines)
        m = re.search(r"battery: wake (\d+) \((cold boot|from deep sleep)\)", text)
        self.number, self.cold = int(m.group(1)), m.group(2) == "cold boot"
        self.reads = [(n, int(s)) for n, s in re.findall(r"battery: read (\w+), seq (\d+)", text)]
        m = re.search(r"battery: forwarding \(([^)]*)\)", text)
        self.forward = m.group(1) if m else None
        self.forwarded = "every sink caught up" in text
        self.gave_up = "forwarding gave up" in text
        self.synced = "battery: clock synced" in text
        m = re.search(r"battery: awake (\d+) ms, sleeping (\d+) ms \(next: ([^)]*)\)", text)
        self.awake_ms, self.sleep_ms, self.next = int(m.group(1)), int(m.group(2)), m.group(3)
        self.run = run
        self.t0 = t0


def wakes_of(b):
    out = []
    for i, run in enumerate(b.runs):
        end = b.boot_lines[i + 1] if i + 1 < len(b.boot_lines) else len(b.lines)
        out.append(Wake(b.lines[b.boot_lines[i]:end], run, b.boot_times[i]))
    return out


def test_wake_cycles_sleep_until_the_next_meter_and_forward_every_nth_wake(tmp_path, corpus):
    sim = simulator(tmp_path, ["heat", "water"])
    b = None
    try:
        with Receiver() as rx:
            ms = meters(["heat", "water"])
            ms[1]["interval_s"] = 3
            b, flash = run_board(tmp_path, sim, ms, [http_sink(rx.url)], battery(forward_every=2, ntp_every=3), 9)
            b.stop()
            ws = wakes_of(b)[:9]
            received = [body for _h, body in rx.accepted]
        for i, w in enumerate(ws):
            assert w.number == i and w.cold == (i == 0)
            assert w.run["rc"] == SLEEP_EXIT and w.run["sleep_ms"] == w.sleep_ms
            assert w.awake_ms < 10000 and 1000 <= w.sleep_ms <= 3000
            if i + 1 < len(ws):
                # it slept as long as it said, then read the meter it woke for
                gap = ws[i + 1].t0 - (w.t0 + w.run["wall_ms"] / 1000)
                assert abs(gap - w.sleep_ms / 1000) < 0.3, (i, gap, w.sleep_ms)
                assert w.next in [n for n, _s in ws[i + 1].reads], (i, w.next, ws[i + 1].reads)
        # every meter read on its interval (up to a tenth early rather than a wake of its own)
        for name, interval in (("heat", 2), ("water", 3)):
            times = [w.t0 for w in ws if name in [n for n, _s in w.reads]]
            steps = [round(y - x, 2) for x, y in zip(times, times[1:])]
            assert steps and all(interval * 0.9 - 0.15 <= s <= interval + 0.3 for s in steps), (name, steps)
        # state kept across deep sleep: wake numbers above, seqs continue without a gap or reuse
        seqs = [s for w in ws for _n, s in w.reads]
        assert seqs == list(range(1, len(seqs) + 1))
        # the first boot, then every 2nd wake forwards; each delivers all read so far
        assert [w.number for w in ws if w.forward] == [0, 2, 4, 6, 8]
        assert ws[0].forward == "first boot" and ws[2].forward == "every 2 wakes"
        assert all(w.forwarded for w in ws if w.forward)
        last = max(s for w in ws for _n, s in w.reads)
        got = delivered(received, [])
        assert max(got) == last  # wake 8 forwarded all
        # the clock: synced at the first boot, then on the first forwarding wake 3 wakes later
        assert [w.number for w in ws if w.synced] == [0, 4, 8]
        state = json.load(open(os.path.join(flash, "wake_state.json")))
        assert state["wakes"] >= 8 and state["ntp_wake"] == 8
    finally:
        if b:
            b.stop()
        sim.stop()


def test_daily_forwarding_wakes_for_its_time_and_forwards_once(tmp_path, corpus):
    sim = simulator(tmp_path, ["heat"])
    b = None
    try:
        with Receiver() as rx:
            at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)
            slot = at.strftime("%H:%M:%S")
            ms = meters(["heat"], interval_s=3)
            b, _flash = run_board(tmp_path, sim, ms, [http_sink(rx.url)], battery(forward_at=slot), 5)
            b.stop()
            ws = wakes_of(b)[:5]
            assert [w.forward for w in ws if w.forward] == ["first boot", "daily at " + slot], [w.forward for w in ws]
            daily = [w for w in ws if w.forward and w.forward.startswith("daily")][0]
            # the board woke for the slot itself (no meter was due then), not at the next meter
            before = ws[ws.index(daily) - 1]
            assert before.next == "daily forwarding", [w.next for w in ws]
            assert abs(daily.t0 - time.monotonic() + (time.time() - at.timestamp())) < 1.2
            assert daily.forwarded and len(rx.accepted) == max(s for w in ws[:ws.index(daily) + 1] for _n, s in w.reads)
    finally:
        if b:
            b.stop()
        sim.stop()


def test_a_dead_broker_does_not_keep_the_board_awake(tmp_path, corpus):
    sim = simulator(tmp_path, ["heat"])
    os.makedirs(tmp_path / "broker")
    broker = Mosquitto(tmp_path / "broker")  # its port, not yet listening
    silent = socket.socket()  # accepts connections, never answers: CONNACK never comes
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    silent.bind(("127.0.0.1", broker.port))
    silent.listen(8)
    b = sub = None
    try:
        sink = mqtt_sink(broker.port, timeout=2)
        b, _flash = run_board(tmp_path, sim, meters(["heat"]), [sink], battery(awake_max_s=10, forward_s=5), 2)
        silent.close()
        broker.start()
        sub = Subscriber(broker, "mbus/+/+/state").start()
        deadline = time.monotonic() + 20
        while not any(w.forwarded for w in wakes_of(b)):
            assert time.monotonic() < deadline, "\n".join(b.lines[-20:])
            time.sleep(0.1)
        b.stop()
        ws = wakes_of(b)
        dead = ws[:2]
        for w in dead:
            assert w.gave_up and 5000 <= w.awake_ms < 10000 and w.run["wall_ms"] < 11000, (w.awake_ms, w.run)
            assert w.sleep_ms >= 1000
        read = [s for w in ws for _n, s in w.reads]
        sub.wait_for(lambda m: len({json.loads(p)["seq"] for _t, p, _r in m}) >= len(read))
        delivered(sub.states(), [])
        assert sorted({s["seq"] for s in sub.states()}) == read
    finally:
        silent.close()
        if b:
            b.stop()
        if sub:
            sub.stop()
        broker.stop()
        sim.stop()


def test_a_failed_forwarding_is_retried_on_later_wakes_not_at_the_next_slot(tmp_path, corpus):
    # forward_every 50: before, a failed forwarding waited 50 wakes for the next try
    sim = simulator(tmp_path, ["heat"])
    port = free_port()  # the HTTP server is not there yet
    b = rx = None
    try:
        sink = http_sink("http://127.0.0.1:%d/readings" % port)
        b, _flash = run_board(tmp_path, sim, meters(["heat"]), [sink], battery(forward_every=50), 1)
        b.wait_for(r"battery: forwarding \(retry after 1 failed\)", 20)
        b.wait_for("forwarding gave up", 20, b.boot_lines[1])
        rx = Receiver(port=port).__enter__()  # the network is back
        deadline = time.monotonic() + 30
        while not any(w.forwarded for w in wakes_of(b)):
            assert time.monotonic() < deadline, "\n".join(b.lines[-30:])
            time.sleep(0.1)
        b.stop()
        ws = wakes_of(b)
        tried = [(w.number, w.forward) for w in ws if w.forward]
        # the cold boot and wake 1 fail, wake 2 waits (1, 2, 4 ... wakes apart), wake 3 delivers
        assert tried == [(0, "first boot"), (1, "retry after 1 failed"), (3, "retry after 2 failed")], tried
        assert [w.gave_up for w in ws[:2]] == [True, True] and ws[3].forwarded
        read = [s for w in ws[:4] for _n, s in w.reads]
        got = delivered([body for _h, body in rx.accepted], [])
        assert sorted(got) == read
    finally:
        if b:
            b.stop()
        if rx:
            rx.__exit__()
        sim.stop()


def test_a_stall_limit_within_the_wake_bound_is_refused(tmp_path):
    # health.stall_s under awake_max_s: the watchdog would reset the board in
    # the middle of a long wake (a wake makes scheduler progress only per read)
    cfg = {"name": "gw-bat", "bus": {"port": 9}, "meters": meters(["heat"]), "sinks": [http_sink("http://127.0.0.1:9/")],
           "power": battery(awake_max_s=120, forward_s=30), "health": {"stall_s": 120}, "api": {"port": free_port()}}
    b = UnixBoard(flash_dir(tmp_path, cfg), heap=HEAP).start()
    try:
        b.wait_for("SAFE MODE: config.json has 1 problem", 15)
        b.wait_for("config.json: health.stall_s: must be more than power.awake_max_s \\(120\\) in battery mode, "
                   "or the watchdog resets the board in the middle of a wake", 5)
    finally:
        b.stop()
