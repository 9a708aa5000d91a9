"""Forwarding through the whole firmware on the MicroPython unix port:
simulated meters over TCP, a real Mosquitto broker and a local HTTP server.
Every reading arrives, Home Assistant discovery is there, an outage of the
broker or the HTTP server loses nothing, poll commands read the meter,
status shows the outbox and each sink, secrets never leave. The config
checks of sinks, outbox and battery mode run on CPython.

At the ESP32's heap (112wK) with the code in ROM (a ROMFS image, `make
deploy ROMFS=1`): the mains firmware with its API (microdot) and MQTT needs
more than 112wK when its bytecode sits in the heap too (README "Memory":
about 140wK then); test_fw_rom.py runs the whole gateway that way, and the
tests of the API and the HTTP sink alone (test_fw_security.py,
test_fw_low_heap.py) and of both sinks without the API (test_fw_kill.py)
keep the code in the heap."""
import json
import os
import subprocess
import sys
import time

import pytest

from fw_e2e import SECRETS, console_readings, delivered, http_sink, meters, mqtt_sink, no_secrets, simulator
from fw_helpers import TOKEN, flash_dir, free_port, http, rom_image, until
from fwd_servers import Receiver, Subscriber, retained
from test_mqtt import broker  # noqa: F401  (the fixture: Mosquitto on a free port)
from unix_board import UnixBoard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))
HEAP = "112wK"


def start(tmp_path, sim, names, sinks, name="gw-e2e", **extra):
    port = free_port()
    cfg = dict({"name": name, "bus": {"port": sim.port, "retries": 1}, "api": {"port": port, "token": TOKEN},
                "meters": meters(names), "sinks": sinks}, **extra)
    flash = flash_dir(tmp_path, cfg, romfs=True)
    b = UnixBoard(flash, heap=HEAP, rom=rom_image(flash)).start()
    b.wait_for("api: listening")
    return b, port


def test_mqtt_every_reading_arrives_through_a_broker_outage(tmp_path, broker, corpus):
    sim = simulator(tmp_path, ["heat", "water", "gas"])
    sub = Subscriber(broker, "mbus/#").start()
    b = None
    try:
        ms = meters(["heat", "water", "gas"])
        ms[1]["interval_s"] = 600  # read once at boot, then only when asked over MQTT
        b, port = start(tmp_path, sim, [], [mqtt_sink(broker.port)], meters=ms)
        until(lambda: len(sub.states()) >= 4, what="the first states")
        assert ("mbus/gw-e2e/status", "online", False) in sub.messages

        # Home Assistant discovery: one device per meter, as the sink tests check in detail
        configs = retained(broker, "homeassistant/#")
        energy = json.loads(configs["homeassistant/sensor/gw-e2e/heat_energy/config"])
        assert energy["device_class"] == "energy" and energy["unit_of_measurement"] == "kWh"
        assert energy["state_topic"] == "mbus/gw-e2e/heat/state" and energy["device"]["name"] == "heat"
        assert json.loads(configs["homeassistant/sensor/gw-e2e/water_volume/config"])["device_class"] == "water"
        assert "homeassistant/button/gw-e2e/water_poll/config" in configs

        # "read now" over MQTT: the scheduler reads the water meter at once
        waters = len([r for r in console_readings(b) if r["meter"] == "water"])
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t", "mbus/gw-e2e/water/poll", "-m", "PRESS"],
                       check=True)
        until(lambda: len([r for r in console_readings(b) if r["meter"] == "water"]) > waters, 10, "the poll")

        broker.stop()
        before = len(console_readings(b))
        until(lambda: len(console_readings(b)) >= before + 5, 15, "readings during the outage")
        _, s = http(port, "GET", "/api/status")
        assert s["forwarding"]["sinks"]["broker"]["connected"] is False
        assert s["forwarding"]["outbox"]["sinks"]["broker"]["pending"] >= 1
        broker.start()
        until(lambda: http(port, "GET", "/api/status")[1]["forwarding"]["outbox"]["sinks"]["broker"]["pending"] == 0,
              20, "the backlog to drain")
        produced = console_readings(b)
        until(lambda: len({r["seq"] for r in sub.states()}) >= produced[-1]["seq"], 10, "the subscriber")
        got = delivered(sub.states(), produced)
        assert len(got) >= before + 5
        _, s = http(port, "GET", "/api/status")
        f = s["forwarding"]
        assert f["sinks"]["broker"]["connects"] >= 2 and f["sinks"]["broker"]["delivered"] >= len(got)
        assert f["outbox"]["dropped"] == 0 and f["outbox"]["lost"] == 0 and f["outbox"]["queued"] == 0
        _, shown = http(port, "GET", "/api/config")
        assert shown["sinks"][0]["password"] == "***"
        no_secrets(json.dumps(s), json.dumps(shown), json.dumps(http(port, "GET", "/api/logs")[1]), "\n".join(b.lines))
    finally:
        if b:
            b.stop()
            print("\n".join(x for x in b.lines if not x.startswith("{")))
        sub.stop()
        sim.stop()


def test_http_sink_through_a_failing_server(tmp_path, corpus):
    sim = simulator(tmp_path, ["heat", "gas"])
    b = None
    try:
        with Receiver(mode="fail", fail_count=6, token=SECRETS[1]) as rx:
            b, port = start(tmp_path, sim, ["heat", "gas"], [http_sink(rx.url)])
            until(lambda: rx.refused == 6 and rx.accepted, 20, "the server to recover")
            t = time.monotonic()
            until(lambda: len(console_readings(b)) >= 6, 15)
            produced = console_readings(b)
            until(lambda: len(rx.accepted) >= produced[-1]["seq"], 10, "the backlog")
            got = delivered([body for _h, body in rx.accepted], produced)
            heads = rx.accepted[0][0]
            assert heads["Authorization"] == "Bearer " + SECRETS[1] and heads["Content-Type"] == "application/json"
            assert [h["Idempotency-Key"] for h, _b in rx.accepted[:3]] == ["gw-e2e-1", "gw-e2e-2", "gw-e2e-3"]
            _, s = http(port, "GET", "/api/status")
            web = s["forwarding"]["sinks"]["web"]
            assert web["failures"] >= 6 and web["last_status"] == 200 and web["delivered"] >= len(got)
            assert web["url"] == rx.url and web["last_error"] is None
            assert time.monotonic() - t < 15
            no_secrets(json.dumps(s), json.dumps(http(port, "GET", "/api/config")[1]), "\n".join(b.lines))
            assert any("forward web: seq 1: %s answered 500" % rx.url in x for x in b.lines)
    finally:
        if b:
            b.stop()
        sim.stop()


def test_no_sink_loads_no_forwarding_code(tmp_path, corpus):
    sim = simulator(tmp_path, ["heat"])
    b = None
    try:
        b, port = start(tmp_path, sim, ["heat"], [])
        b.wait_for('"meter":"heat"')
        _, s = http(port, "GET", "/api/status")
        assert "forwarding" not in s and s["readings"] >= 1
        assert console_readings(b) == [] and b.readings()[0]["seq"] is None
    finally:
        if b:
            b.stop()
        sim.stop()


# -- config checks (CPython: the same modules run on the board) ---------------------

@pytest.fixture
def config():
    import battery
    import config as cfgmod
    import forwarding

    forwarding.register(cfgmod)
    battery.register(cfgmod)
    yield cfgmod
    sys.modules.pop("config", None)  # registrations live in the module: a fresh one for the next test


def board(name):
    with open(os.path.join(ROOT, "boards", name + ".json")) as f:
        return json.load(f)


@pytest.mark.parametrize("raw, expected", [
    ({"sinks": [{"type": "mqtt", "name": "b"}]}, ["sinks[0].host: missing (required for a mqtt sink)"]),
    ({"sinks": [{"type": "http", "name": "h", "url": "ftp://x/"}]},
     ["sinks[0].url: must start with http:// or https://, got 'ftp://x/'"]),
    ({"sinks": [{"type": "mqtt", "name": "b", "host": "h", "qos": 2}]},
     ["sinks[0].qos: unknown key for a mqtt sink (known: type, name, timeout, backoff_min, backoff_max, ca, "
      "tls_verify, host, port, tls, user, password, client_id, base_topic, keepalive, retain, discovery, "
      "discovery_prefix)"]),
    ({"sinks": [{"type": "http", "name": "h", "url": "http://x/"}, {"type": "http", "name": "h", "url": "http://y/"}]},
     ["sinks[1].name: sink name \"h\" is used twice"]),
    ({"sinks": [{"type": "smtp", "name": "m"}]}, ["sinks[0].type: must be one of \"mqtt\", \"http\", got \"smtp\""]),
    ({"outbox": {"capacity": 5}}, ["outbox.capacity: must be from 10 to 5000, got 5"]),
    ({"power": {"mode": "battery"}}, ["power.mode: battery mode needs a sink: its readings are not kept for an API"]),
    ({"power": {"mode": "solar"}}, ["power.mode: must be one of \"mains\", \"battery\", got \"solar\""]),
    ({"sinks": [{"type": "http", "name": "h", "url": "http://x/"}],
      "power": {"mode": "battery", "forward_at": "25:00", "forward_s": 60}},
     ["power.forward_at: no such time of day: '25:00'", "power.forward_s: must be less than power.awake_max_s (60)"]),
])
def test_config_errors_name_the_key(config, raw, expected):
    assert config.validate(dict(raw, bus={"port": 5000}), board("unix-sim"))[1] == expected


def test_valid_config_gets_the_defaults_and_sinks_check_is_unloaded(config):
    raw = {"sinks": [{"type": "mqtt", "name": "b", "host": "10.0.0.2", "user": "u", "password": "pw-1234"}],
           "power": {"mode": "battery", "forward_every": 4}, "bus": {"port": 5000}}
    cfg, errors = config.validate(raw, board("unix-sim"))
    assert errors == []
    assert "port" not in cfg["sinks"][0]  # the sink picks 1883 or 8883 by tls
    assert cfg["sinks"][0]["keepalive"] == 60 and cfg["outbox"] == {"capacity": 200}
    assert cfg["power"] == {"mode": "battery", "awake_max_s": 60, "forward_s": 30, "forward_every": 4,
                            "forward_at": "", "ntp_every": 96}
    assert "sinks.check" not in sys.modules
    assert config.redact(raw)["sinks"][0]["password"] == "***" and "pw-1234" in config.secrets(raw)


def test_battery_mode_needs_a_board_that_sleeps(config):
    b = board("esp32-devkitc")
    raw = {"network": {"ssid": "x"}, "sinks": [{"type": "http", "name": "h", "url": "http://x/"}],
           "power": {"mode": "battery"}}
    assert config.validate(raw, b)[1] == []
    del b["sleep"]
    assert config.validate(raw, b)[1] == [
        "power.mode: board esp32-devkitc has no deep sleep (no \"sleep\" entry in its board file)"]
