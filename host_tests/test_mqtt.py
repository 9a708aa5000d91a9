"""The MQTT sink against a real Mosquitto broker (free loopback port), with
the gateway's forwarding half on the MicroPython unix port (ESP32 heap) and
on CPython: every reading arrives, Home Assistant discovery as HA documents
it, a broker outage loses nothing, last will, poll commands, TLS, user and
password, and brokers that accept a connection and then say nothing."""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT
from fwd_readings import all_meters, reading
from fwd_run import INTERPRETERS, Gateway
from fwd_servers import Mosquitto, Subscriber, free_port, retained

sys.path.insert(0, os.path.join(ROOT, "firmware"))
import fields  # noqa: E402
import mqtt_client  # noqa: E402
from sinks import hass  # noqa: E402


@pytest.fixture
def broker(tmp_path):
    os.makedirs(tmp_path / "broker")
    b = Mosquitto(tmp_path / "broker").start()
    yield b
    b.stop()


def mqtt_sink(broker, **kw):
    e = {"type": "mqtt", "name": "broker", "host": "127.0.0.1", "port": broker.port,
         "backoff_min": 0.2, "backoff_max": 1, "timeout": 3, "keepalive": 10}
    e.update(kw)
    return e


def by_seq(states):
    return [s["seq"] for s in states]


# -- packets (MQTT 3.1.1 section numbers) ------------------------------------


def test_remaining_length_encoding():
    # 2.2.3: the boundary values of the variable length encoding
    for n, enc in ((0, "00"), (127, "7f"), (128, "8001"), (16383, "ff7f"), (16384, "808001"),
                   (2097151, "ffff7f"), (2097152, "80808001"), (268435455, "ffffff7f")):
        assert mqtt_client._varint(n).hex() == enc


def test_connect_packet_layout():
    p = mqtt_client.connect_packet("gw", 60, user="u", password="p", will=("gw/status", b"offline", True))
    assert p[0] == 0x10
    body = p[2:]
    assert p[1] == len(body)
    assert body[:7] == b"\x00\x04MQTT\x04"  # 3.1.2.1/2: protocol name and level 4
    flags = body[7]
    # user, password, will retain, will QoS 1, will, clean session (3.1.2.3)
    assert flags == 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02
    assert body[8:10] == b"\x00\x3c"
    assert body[10:] == b"\x00\x02gw\x00\x09gw/status\x00\x07offline\x00\x01u\x00\x01p"


def test_publish_and_subscribe_layout():
    head = mqtt_client.publish_head("a/b", 5, qos=1, retain=True, pid=7)
    assert head == b"\x33\x0c\x00\x03a/b\x00\x07"  # 0x30 | QoS 1 << 1 | retain; 2+3+2+5 = 12
    assert mqtt_client.publish_head("t", 0) == b"\x30\x03\x00\x01t"
    assert mqtt_client.subscribe_packet(9, "x/+") == b"\x82\x08\x00\x09\x00\x03x/+\x00"
    assert mqtt_client.parse_publish(0x02, b"\x00\x01t\x00\x05hi") == ("t", b"hi", 1, 5)


# -- against Mosquitto -------------------------------------------------------


@pytest.mark.parametrize("interp", INTERPRETERS + ["mpy"])
def test_every_reading_arrives(interp, broker, tmp_path):
    sub = Subscriber(broker, "mbus/#").start()
    try:
        meters = all_meters()
        gw = Gateway(interp, tmp_path, gateway="gw1", sinks=[mqtt_sink(broker)], readings=meters,
                     count=25, interval_ms=20)
        st = gw.finish()
        assert st["sinks"]["broker"]["delivered"] == 25, gw.log()
        msgs = sub.wait_for(lambda m: len([x for x in m if x[0].endswith("/state")]) >= 25)
    finally:
        sub.stop()
    states = sub.states()
    assert by_seq(states) == list(range(1, 26))
    for s in states:
        want = meters[(s["seq"] - 1) % len(meters)]
        assert s["meter"] == want["meter"] and s["telegram"] == want["telegram"] and s["raw"] == want["raw"]
        assert s["uptime_s"] == s["seq"] - 1
    topics = {t for t, _p, _r in msgs if t.endswith("/state")}
    assert topics == {"mbus/gw1/%s/state" % m for m in ("heat1", "water1", "gas1", "elec1", "heat2")}
    assert ("mbus/gw1/status", "online", False) in msgs
    assert st["sinks"]["broker"]["delivered"] == 25 and st["outbox"]["queued"] == 0
    heat = [s for s in states if s["meter"] == "heat1"][0]
    # integers scaled exactly: 37351000 Wh is 37351 kWh
    assert heat["fields"]["energy"] == 37351 and heat["fields"]["flow_temperature"] == 101.69


# What Home Assistant documents for sensors (developers.home-assistant.io,
# "Sensor entity": device classes and their units, state classes).
HA_UNITS = {
    "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"},
    "volume": {"L", "mL", "gal", "fl. oz.", "m³", "ft³", "CCF", "MCF"},
    "water": {"L", "gal", "m³", "ft³", "CCF", "MCF"},
    "gas": {"L", "m³", "ft³", "CCF", "MCF"},
    "weight": {"kg", "g", "mg", "µg", "oz", "lb", "st"},
    "power": {"mW", "W", "kW", "MW", "GW", "TW"},
    "volume_flow_rate": {"m³/h", "m³/min", "m³/s", "ft³/min", "L/h", "L/min", "L/s", "gal/d", "gal/h",
                         "gal/min", "mL/s"},
    "temperature": {"°C", "°F", "K"},
    "pressure": {"cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi", "mPa"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "current": {"A", "mA"},
    "duration": {"d", "h", "min", "s", "ms", "µs"},
}
HA_STATE_CLASSES = {"measurement", "total", "total_increasing"}
NOT_MEASUREMENT = {"energy", "gas", "volume", "water"}  # "Entities not representing a total amount"
ID = re.compile(r"^[a-zA-Z0-9_-]+$")


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_discovery_payloads_as_home_assistant_documents(interp, broker, tmp_path):
    meters = all_meters()
    gw = Gateway(interp, tmp_path, gateway="gw1", sinks=[mqtt_sink(broker)], readings=meters,
                 count=len(meters))
    gw.finish()
    configs = retained(broker, "homeassistant/#")
    status = retained(broker, "mbus/gw1/status")
    states = {t: json.loads(p) for t, p in retained(broker, "mbus/+/+/state").items()}
    # the gateway has gone: its last will holds the availability topic
    assert len(states) == 5 and status == {"mbus/gw1/status": "offline"}
    sensors = {}
    devices = {}
    for topic, payload in configs.items():
        m = re.match(r"^homeassistant/(sensor|button)/([^/]+)/([^/]+)/config$", topic)
        assert m and ID.match(m.group(2)) and ID.match(m.group(3)), topic
        c = json.loads(payload)
        assert isinstance(c, dict)
        assert c["availability_topic"] == "mbus/gw1/status"
        assert c["payload_available"] == "online" and c["payload_not_available"] == "offline"
        dev = c["device"]
        assert isinstance(dev["identifiers"], list) and dev["name"]
        devices.setdefault(dev["identifiers"][0], set()).add(dev["name"])
        assert c["origin"]["name"]
        if m.group(1) == "button":
            assert c["command_topic"] == "mbus/gw1/%s/poll" % dev["name"]
            continue
        assert c["unique_id"] not in sensors, "unique_id %s twice" % c["unique_id"]
        sensors[c["unique_id"]] = c
        dc, unit, sc = c.get("device_class"), c.get("unit_of_measurement"), c["state_class"]
        assert sc in HA_STATE_CLASSES
        if dc is not None:
            assert unit in HA_UNITS[dc], (c["name"], dc, unit)
            assert not (dc in NOT_MEASUREMENT and sc == "measurement"), c
        # the template points at a number in the meter's state payload
        key = re.match(r"^\{\{ value_json\.fields\.([a-z0-9_]+) \}\}$", c["value_template"]).group(1)
        assert isinstance(states[c["state_topic"]]["fields"][key], (int, float)), (c["state_topic"], key)
    # one device per meter, named after it
    assert sorted(n for names in devices.values() for n in names) == sorted(m["meter"] for m in meters)
    classes = {(c["device"]["name"], c["name"]): c.get("device_class") for c in sensors.values()}
    assert classes[("heat1", "Energy")] == "energy"
    assert classes[("heat1", "Volume")] == "volume"
    assert classes[("water1", "Volume")] == "water"
    assert classes[("gas1", "Volume storage1")] == "gas"
    assert classes[("heat1", "Volume flow")] == "volume_flow_rate"
    assert classes[("heat1", "Flow temperature")] == "temperature"
    assert classes[("heat1", "Return temperature")] == "temperature"
    assert classes[("heat1", "Power")] == "power"
    # every quantity with a unit to show has its Home Assistant classes, and no other
    assert set(hass.CLASSES) == {p.split(":")[0] for p in fields.PAIRS.strip(",").split(",")}
    heat_energy = [c for c in sensors.values() if c["device"]["name"] == "heat1" and c["name"] == "Energy"][0]
    assert heat_energy["unit_of_measurement"] == "kWh" and heat_energy["state_class"] == "total_increasing"
    assert heat_energy["device"]["manufacturer"] == "KAM" and heat_energy["device"]["serial_number"]


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_broker_outage_loses_nothing(interp, broker, tmp_path):
    sub = Subscriber(broker, "mbus/+/+/state").start()
    try:
        gw = Gateway(interp, tmp_path, gateway="gw1", sinks=[mqtt_sink(broker)], readings=all_meters(),
                     count=40, interval_ms=100, linger_s=30)
        gw.wait_line(lambda line: line.startswith("A 10 "))
        broker.stop()
        gw.wait_line(lambda line: line.startswith("A 30 "))
        outage = [s for s in gw.appended() if s > 10]
        broker.start()
        st = gw.finish()
        sub.wait_for(lambda m: len(m) >= 40 and json.loads(m[-1][1])["seq"] == 40)
    finally:
        sub.stop()
    states = sub.states()
    # at least once, in order: the first arrival of each seq comes in seq
    # order; a repeat (QoS 1 redelivery, by the gateway for the publish in
    # flight or by the restarted broker to the subscriber) is an exact copy
    first = {}
    for st_ in states:
        assert first.setdefault(st_["seq"], st_) == st_
    assert list(first) == list(range(1, 41)), by_seq(states)
    assert len(outage) >= 15
    b = st["sinks"]["broker"]
    assert b["delivered"] >= 40 and b["connects"] >= 2 and st["outbox"]["queued"] == 0


@pytest.mark.parametrize("interp", ["micropython"])
def test_last_will_and_poll_command(interp, broker, tmp_path):
    gw = Gateway(interp, tmp_path, gateway="gw1", sinks=[mqtt_sink(broker)], readings=[reading("heat1")],
                 count=2, interval_ms=6000, hold_s=30)
    try:
        gw.wait_line(lambda line: line.startswith("A 1"))
        deadline = time.monotonic() + 10
        while retained(broker, "mbus/gw1/status", 1).get("mbus/gw1/status") != "online":
            assert time.monotonic() < deadline
        deadline = time.monotonic() + 10
        while "homeassistant/button/gw1/heat1_poll/config" not in retained(broker, "homeassistant/#", 1):
            assert time.monotonic() < deadline
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t", "mbus/gw1/heat1/poll", "-m", "PRESS"],
                       check=True)
        gw.wait_line(lambda line: line == "POLL heat1", timeout=10)
        # Home Assistant restarted with an empty broker: discovery comes again with the next state
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t", "homeassistant/sensor/gw1/heat1_energy/config",
                        "-r", "-n"], check=True)
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t", "homeassistant/status", "-m", "online"],
                       check=True)
        gw.wait_line(lambda line: line.startswith("A 2 "))
        deadline = time.monotonic() + 10
        while "homeassistant/sensor/gw1/heat1_energy/config" not in retained(broker, "homeassistant/#", 1):
            assert time.monotonic() < deadline, "discovery not re-sent after Home Assistant's birth message"
    finally:
        gw.kill()  # no DISCONNECT: the broker publishes the last will
    deadline = time.monotonic() + 10
    while retained(broker, "mbus/gw1/status", 1).get("mbus/gw1/status") != "offline":
        assert time.monotonic() < deadline, "no last will"


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_drain_delivers_then_leaves_politely(interp, broker, tmp_path):
    """Battery style: deliver what is queued within a bound, say offline, leave."""
    sub = Subscriber(broker, "mbus/#").start()
    try:
        gw = Gateway(interp, tmp_path, gateway="gw1", sinks=[mqtt_sink(broker)], readings=all_meters(),
                     count=7, drain_s=10)
        st = gw.finish()
        sub.wait_for(lambda m: ("mbus/gw1/status", "offline", False) in m)
    finally:
        sub.stop()
    assert "DRAINED True" in gw.log() and st["outbox"]["queued"] == 0
    assert [s["seq"] for s in sub.states()] == list(range(1, 8))
    assert "Client mbus-gw1 disconnected" in broker.log()  # DISCONNECT sent, not a dropped link
    # nothing to talk to: gives up after the bound, keeps the readings
    os.makedirs(tmp_path / "2")
    dead = mqtt_sink(broker, port=free_port())
    gw = Gateway(interp, tmp_path / "2", sinks=[dead], readings=all_meters(), count=3, drain_s=2)
    t0 = time.monotonic()
    st = gw.finish()
    assert "DRAINED False" in gw.log() and st["outbox"]["queued"] == 3 and time.monotonic() - t0 < 15


# -- brokers that do not behave ------------------------------------------------


class SilentServer:
    """Accepts TCP connections and then, depending on mode, says nothing
    ("mute"), answers CONNACK/SUBACK but never PUBACK ("no-puback"), or
    answers everything and closes the connection after the first SUBACK
    ("kick": a broker that throws the client out at once, as one does when
    another client takes its id)."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.mode in ("no-puback", "kick"):
                threading.Thread(target=self._half_broker, args=(c,), daemon=True).start()

    def _half_broker(self, c):
        try:
            while True:
                h = c.recv(1)
                if not h:
                    return
                n, shift = 0, 0
                while True:
                    b = c.recv(1)[0]
                    n |= (b & 0x7F) << shift
                    shift += 7
                    if not b & 0x80:
                        break
                body = b""
                while len(body) < n:
                    body += c.recv(n - len(body))
                if h[0] == 0x10:
                    c.sendall(b"\x20\x02\x00\x00")
                elif h[0] == 0x82:
                    c.sendall(b"\x90\x03" + body[:2] + b"\x00")
                    if self.mode == "kick":
                        c.close()
                        return
                elif h[0] & 0xF6 == 0x32 and self.mode == "kick":  # PUBLISH QoS 1: PUBACK its packet id
                    t = int.from_bytes(body[:2], "big")
                    c.sendall(b"\x40\x02" + body[2 + t : 4 + t])
        except OSError:
            return

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("interp", INTERPRETERS)
@pytest.mark.parametrize("mode", ["mute", "no-puback"])
def test_silent_broker_costs_only_the_timeout(interp, mode, tmp_path):
    srv = SilentServer(mode)
    try:
        sink = {"type": "mqtt", "name": "broker", "host": "127.0.0.1", "port": srv.port, "timeout": 1,
                "backoff_min": 0.2, "backoff_max": 1}
        t0 = time.monotonic()
        gw = Gateway(interp, tmp_path, sinks=[sink], readings=[reading("heat1")], count=3, interval_ms=10, linger_s=4)
        st = gw.finish(timeout=30)
        took = time.monotonic() - t0
    finally:
        srv.close()
    b = st["sinks"]["broker"]
    assert st["outbox"]["queued"] == 3 and b["delivered"] == 0  # nothing lost, nothing claimed delivered
    assert gw.appended() == [1, 2, 3]  # appends never waited for the broker
    if mode == "mute":
        assert "CONNACK" in b["last_error"], b
    else:
        assert "PUBACK" in b["last_error"], b
    assert took < 20


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_a_broker_that_drops_us_at_once_is_not_hammered(interp, tmp_path):
    srv = SilentServer("kick")
    try:
        sink = {"type": "mqtt", "name": "broker", "host": "127.0.0.1", "port": srv.port, "timeout": 2,
                "backoff_min": 0.2, "backoff_max": 1, "discovery": False}
        gw = Gateway(interp, tmp_path, sinks=[sink], readings=[reading("heat1")], count=0, hold_s=4)
        gw.finish(timeout=30)
    finally:
        srv.close()
    # 0.2 + 0.4 + 0.8 + 1 + 1 ... s between attempts: about 6 in 4 s, not hundreds
    assert 3 <= len(srv.conns) <= 8, len(srv.conns)


def test_default_client_id_names_the_chip():
    from sinks import mqtt as sink

    assert sink.default_client_id("gw") == "mbus-gw"  # CPython, like the unix port: no chip id
    real = sink.hw.unique_id
    sink.hw.unique_id = lambda: "a4cf12b3c4d5"
    try:
        assert sink.default_client_id("gw") == "mbus-gw-a4cf12b3c4d5"
    finally:
        sink.hw.unique_id = real


# -- TLS, user and password ------------------------------------------------------


def make_certs(d, cn="localhost"):
    """A CA and a server certificate it signed (openssl)."""
    def ssl(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, cwd=d)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=" + cn)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:%s\n" % cn)
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.crt", "-days", "2",
        "-subj", "/CN=other CA")
    return {"ca": os.path.join(d, "ca.crt"), "cert": os.path.join(d, "server.crt"),
            "key": os.path.join(d, "server.key"), "other": os.path.join(d, "other.crt")}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(str(tmp_path_factory.mktemp("certs")))


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_tls_with_server_verification(interp, certs, tmp_path):
    os.makedirs(tmp_path / "b")
    b = Mosquitto(tmp_path / "b", tls=certs).start()
    try:
        # "localhost" is the name in the certificate; it must resolve to the broker
        good = mqtt_sink(b, host="localhost", tls=True, ca=certs["ca"])
        os.makedirs(tmp_path / "1")
        gw = Gateway(interp, tmp_path / "1", sinks=[good], readings=[reading("heat1")], count=3)
        st = gw.finish()
        assert st["sinks"]["broker"]["delivered"] == 3, gw.log()
        bad = mqtt_sink(b, host="localhost", tls=True, ca=certs["other"])
        os.makedirs(tmp_path / "2")
        gw = Gateway(interp, tmp_path / "2", sinks=[bad], readings=[reading("heat1")], count=1, linger_s=3)
        st = gw.finish()
        s = st["sinks"]["broker"]
        assert s["delivered"] == 0 and st["outbox"]["queued"] == 1 and s["last_error"], s
        # the right CA, but the certificate names another host than the one dialled
        wrong_name = mqtt_sink(b, host="127.0.0.1", tls=True, ca=certs["ca"])
        os.makedirs(tmp_path / "3")
        gw = Gateway(interp, tmp_path / "3", sinks=[wrong_name], readings=[reading("heat1")], count=1, linger_s=3)
        st = gw.finish()
        s = st["sinks"]["broker"]
        assert s["delivered"] == 0 and st["outbox"]["queued"] == 1 and s["last_error"], s
        print(interp, "wrong CA / wrong name:", s["last_error"])
    finally:
        b.stop()


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_user_and_password(interp, tmp_path):
    d = tmp_path / "b"
    os.makedirs(d)
    pw = d / "passwd"
    pw.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "gw", "s3cret"], check=True, capture_output=True)
    b = Mosquitto(d)
    with open(b.conf) as f:
        conf = f.read().replace("allow_anonymous true", "allow_anonymous false\npassword_file %s" % pw)
    with open(b.conf, "w") as f:
        f.write(conf)
    os.chmod(pw, 0o600)
    b.start()
    try:
        os.makedirs(tmp_path / "1")
        gw = Gateway(interp, tmp_path / "1", sinks=[mqtt_sink(b, user="gw", password="s3cret")],
                     readings=[reading("heat1")], count=2)
        assert gw.finish()["sinks"]["broker"]["delivered"] == 2
        os.makedirs(tmp_path / "2")
        gw = Gateway(interp, tmp_path / "2", sinks=[mqtt_sink(b, user="gw", password="wrong")],
                     readings=[reading("heat1")], count=1, linger_s=2)
        s = gw.finish()["sinks"]["broker"]
        assert s["delivered"] == 0 and ("not authorized" in s["last_error"] or "bad user" in s["last_error"]), s
    finally:
        b.stop()
