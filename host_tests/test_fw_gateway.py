"""The gateway end to end on the MicroPython unix port: simulated meters over
a real TCP socket (tools/simulator.py), readings on the console and through
the HTTP API, with the heap of an ESP32 without PSRAM (112wK; README,
"Memory", and `make bench-firmware` report what is left of it)."""
import json
import os
import re
import time

import pytest

from fw_helpers import TOKEN, flash_dir, free_port, http
from unix_board import Simulator, UnixBoard

CORPUS = os.path.abspath(os.environ.get("MBUS_CORPUS", os.path.join(os.path.dirname(__file__), "..", "..",
                                                                     "shared", "corpus", "libmbus")))
HEAT = "test-frames/kamstrup_multical_601.hex"
WATER = "test-frames/itron_cyble_m-bus_v1.4_water.hex"
GAS = "test-frames/itron_cyble_m-bus_v1.4_gas.hex"
GAS_SECONDARY = "1002038777041403"  # as the gas meter's header reads
HEAP = "112wK"
READING_KEYS = {"meter", "primary_address", "secondary_address", "time", "time_synced", "uptime_s", "fields",
                "telegram", "raw", "seq"}


def simulator(tmp_path, slaves):
    path = tmp_path / "bus.json"
    path.write_text(json.dumps({"corpus": CORPUS, "seed": 1, "slaves": slaves}))
    return Simulator(str(path)).start()


def gateway(tmp_path, sim, meters, **extra):
    port = free_port()
    cfg = dict({"bus": {"port": sim.port, "retries": 1}, "api": {"port": port, "token": TOKEN}, "meters": meters},
               **extra)
    board = UnixBoard(flash_dir(tmp_path, cfg), heap=HEAP).start()
    board.wait_for("api: listening")
    return board, port


def per_meter(readings):
    out = {}
    for r in readings:
        out.setdefault(r["meter"], []).append(r)
    return out


def test_reads_every_meter_at_its_interval_and_serves_the_readings(tmp_path, corpus):
    sim = simulator(tmp_path, [{"name": "heat", "primary": 1, "telegrams": [HEAT]},
                               {"name": "water", "primary": 2, "telegrams": [WATER]},
                               {"name": "gas", "primary": 3, "telegrams": [GAS]}])
    b = None
    try:
        b, port = gateway(tmp_path, sim, [{"name": "heat", "address": 1, "interval_s": 2},
                                          {"name": "water", "address": 2, "interval_s": 3},
                                          {"name": "gas", "address": GAS_SECONDARY, "interval_s": 4}])
        time.sleep(9)
        got = per_meter(b.readings())
        # first reads at once, then one per interval: 9 s gives 5, 3-4 and 3 reads
        assert 4 <= len(got["heat"]) <= 6 and 3 <= len(got["water"]) <= 4 and 2 <= len(got["gas"]) <= 3, \
            {k: len(v) for k, v in got.items()}
        for name, rs in got.items():
            steps = [b2["uptime_s"] - a["uptime_s"] for a, b2 in zip(rs, rs[1:])]
            want = {"heat": 2, "water": 3, "gas": 4}[name]
            assert all(want - 1 <= s <= want + 1 for s in steps), (name, steps)
        r = got["gas"][-1]
        assert set(r) == READING_KEYS
        assert r["secondary_address"] == GAS_SECONDARY and r["primary_address"] == 3
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r["time"]) and r["time_synced"] is True
        assert r["raw"][0].startswith("68") and r["raw"][0].endswith("16") and r["telegram"]["records"]
        assert r["fields"] == {"volume": 0.26}  # the gas meter's current total, in m³
        assert got["heat"][-1]["primary_address"] == 1 and got["heat"][-1]["telegram"]["header"]["medium"] == "heat_outlet"

        status, served = http(port, "GET", "/api/readings")
        assert status == 200 and sorted(served) == ["gas", "heat", "water"]
        assert served["heat"]["telegram"] == got["heat"][-1]["telegram"]
        status, one = http(port, "GET", "/api/readings?meter=water")
        assert status == 200 and one["meter"] == "water"
        status, s = http(port, "GET", "/api/status")
        assert s["safe_mode"] is None and s["bus"]["errors"] == 0
        assert {n: m["state"] for n, m in s["meters"].items()} == {"heat": "ok", "water": "ok", "gas": "ok"}
        assert s["meters"]["heat"]["ok"] >= 4 and s["heap_free"] > 0

        status, page = http(port, "GET", "/")
        assert status == 200 and "<title>M-Bus gateway</title>" in page
        status, now = http(port, "POST", "/api/poll", {"meter": "water"}, token=TOKEN)
        assert status == 200 and now["meter"] == "water" and now["uptime_s"] >= 9
    finally:
        if b:
            b.stop()
            print("\n".join(x for x in b.lines if not x.startswith("{")))
        sim.stop()


def test_a_meter_that_does_not_answer_is_reported_and_does_not_stop_the_others(tmp_path, corpus):
    sim = simulator(tmp_path, [{"name": "heat", "primary": 1, "telegrams": [HEAT]},
                               {"name": "dead", "primary": 7, "telegrams": [WATER], "faults": {"no_reply": 1.0}},
                               {"name": "flaky", "primary": 8, "telegrams": [GAS],
                                "faults": {"no_reply": {"probability": 1.0, "limit": 4}}}])
    b = None
    try:
        b, port = gateway(tmp_path, sim, [{"name": "dead", "address": 7, "interval_s": 2},
                                          {"name": "heat", "address": 1, "interval_s": 2},
                                          {"name": "flaky", "address": 8, "interval_s": 2}])
        time.sleep(9)
        got = per_meter(b.readings())
        assert "dead" not in got
        assert 4 <= len(got["heat"]) <= 6, len(got["heat"])
        steps = [y["uptime_s"] - x["uptime_s"] for x, y in zip(got["heat"], got["heat"][1:])]
        assert all(1 <= s <= 3 for s in steps), steps
        status, s = http(port, "GET", "/api/status")
        dead = s["meters"]["dead"]
        assert dead["state"] == "failing" and dead["ok"] == 0 and dead["consecutive_errors"] >= 2
        assert dead["last_error"]["error"].startswith("NoReplyError")
        assert s["meters"]["heat"]["errors"] == 0
        # the flaky meter's silence ran out: it answers again and says so
        assert got.get("flaky") and s["meters"]["flaky"]["errors"] >= 1 and s["meters"]["flaky"]["state"] == "ok"
        assert any("meter flaky: answering again" in x for x in b.lines)
        assert any("meter dead: read failed" in x and "NoReplyError" in x for x in b.lines)
        status, body = http(port, "POST", "/api/poll", {"meter": "dead"}, token=TOKEN)
        assert status == 504 and body["error"].startswith("NoReplyError") and body["meter"] == "dead"
        assert http(port, "POST", "/api/poll", {"meter": "nope"}, token=TOKEN)[0] == 404
    finally:
        if b:
            b.stop()
            print("\n".join(x for x in b.lines if not x.startswith("{")))
        sim.stop()


def test_bus_away_at_boot_costs_failed_reads_not_a_crash(tmp_path, corpus):
    port = free_port()
    dead_bus = free_port()  # nothing listens there
    cfg = {"bus": {"port": dead_bus}, "api": {"port": port, "token": TOKEN},
           "meters": [{"name": "heat", "address": 1, "interval_s": 2}]}
    b = UnixBoard(flash_dir(tmp_path, cfg), heap=HEAP).start()
    try:
        b.wait_for("meter heat: read failed \\(2 in a row\\): TransportError: bus tcp://127.0.0.1:%d not reachable"
                   % dead_bus, timeout=15)
        status, s = http(port, "GET", "/api/status")
        assert s["meters"]["heat"]["state"] == "failing" and s["bus"]["open"] is False
        assert b.running() and s["task_restarts"] == {}
    finally:
        b.stop()
