"""Config validation, redaction and atomic writes (firmware/config.py on CPython;
the same module runs on the board, see test_fw_gateway.py)."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

import config  # noqa: E402
import fsutil  # noqa: E402
import log  # noqa: E402

BOARDS = sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "boards")) if f.endswith(".json"))


def board(name):
    with open(os.path.join(ROOT, "boards", name + ".json")) as f:
        return json.load(f)


ESP = board("esp32-devkitc")
SIM = board("unix-sim")
WIFI = {"network": {"ssid": "home", "password": "wifi-secret"}}


def errors_of(raw, b=ESP):
    return config.validate(raw, b)[1]


def test_minimal_config_takes_board_defaults():
    cfg, errors = config.validate(dict(WIFI, meters=[{"name": "heat", "address": 5}]), ESP)
    assert errors == []
    assert cfg["bus"] == {"kind": "uart", "uart": 2, "tx": 17, "rx": 16, "baudrate": 2400, "timeout_ms": None,
                          "retries": 2, "host": "127.0.0.1", "port": None}
    t = cfg["meters"]  # a scheduler.Table: its defaults come from config.METER (0x80: multi)
    assert (t.n, t.name(0), t.address(0), t.interval_ms[0], t.opts[0], t.off) == \
        (1, "heat", 5, 60000, 16 | 0x80, ())
    assert cfg["network"]["kind"] == "wifi" and cfg["api"]["port"] == 80 and cfg["power"]["mode"] == "mains"


@pytest.mark.parametrize("name", BOARDS)
def test_every_board_file_is_complete_and_usable(name):
    b = board(name)
    for key in ("board", "description", "mcu", "network", "uarts", "safe_uart_pins", "reserved_pins", "defaults"):
        assert key in b, key
    assert b["board"] == name
    raw = {"network": {"ssid": "x"}} if b["defaults"]["network"]["kind"] == "wifi" else {}
    if b["defaults"]["bus"]["kind"] == "tcp":
        raw["bus"] = {"port": 5000}
    assert errors_of(raw, b) == []
    for pins in b["safe_uart_pins"]:  # the advertised safe pins pass the pin checks
        assert errors_of(dict(raw, bus={"tx": pins["tx"], "rx": pins["rx"]}), b) == []
    # the pin lists describe this board's GPIOs: every reserved, input-only or
    # advertised pin is one of them
    gpios = b["gpios"]
    assert gpios == sorted(set(gpios))
    named = [int(p) for p in b["reserved_pins"]] + b["input_only_pins"]
    named += [p[k] for p in b["safe_uart_pins"] for k in ("tx", "rx")]
    bus = b["defaults"]["bus"]
    named += [bus[k] for k in ("tx", "rx") if k in bus]
    assert set(named) <= set(gpios), sorted(set(named) - set(gpios))
    assert b["reset_cause"] in ("machine", "env")


@pytest.mark.parametrize("name, pins, expected", [
    # ESP32-WROOM-32 has no GPIO 20, 24, 28-31, 37, 38 on its pins
    ("esp32-devkitc", {"tx": 20}, "bus.tx: esp32-devkitc has no GPIO 20 (its GPIOs: 0-19, 21-23, 25-27, 32-36, 39)"),
    ("esp32-devkitc", {"rx": 37}, "bus.rx: esp32-devkitc has no GPIO 37"),
    ("esp32-devkitc", {"tx": 48}, "bus.tx: esp32-devkitc has no GPIO 48"),
    ("esp32-devkitc", {"rx": 9}, "bus.rx: GPIO 9 is wired to the SPI flash on esp32-devkitc"),
    ("esp32-devkitc", {"tx": 39, "rx": 16}, "bus.tx: GPIO 39 can only be an input"),
    ("esp32-devkitc", {"tx": 17, "rx": 17}, "bus.rx: must be another GPIO than bus.tx (both are GPIO 17)"),
    ("esp32-devkitc", {"tx": 49}, "bus.tx: must be a GPIO number from 0 to 48, got 49"),
    ("esp32-devkitc", {"tx": "17"}, 'bus.tx: must be a GPIO number from 0 to 48, got "17"'),
    ("esp32-devkitc", {"rx": True}, "bus.rx: must be a GPIO number from 0 to 48, got true"),
    # ESP32-C3: GPIO 0-21, of which 12-17 go to the SPI flash
    ("esp32-c3-devkitm-1", {"tx": 22}, "bus.tx: esp32-c3-devkitm-1 has no GPIO 22 (its GPIOs: 0-21)"),
    ("esp32-c3-devkitm-1", {"tx": 6, "rx": 14}, "bus.rx: GPIO 14 is wired to the SPI flash on esp32-c3-devkitm-1"),
    ("esp32-c3-devkitm-1", {"tx": 5, "rx": 5}, "bus.rx: must be another GPIO than bus.tx (both are GPIO 5)"),
    ("olimex-esp32-poe", {"tx": 36}, "bus.tx: GPIO 36 can only be an input"),
    ("olimex-esp32-poe", {"tx": 4, "rx": 23}, "bus.rx: GPIO 23 is Ethernet MDC on olimex-esp32-poe"),
])
def test_bus_pins_are_checked_against_the_board(name, pins, expected):
    b = board(name)
    raw = {"network": {"ssid": "x"}} if b["defaults"]["network"]["kind"] == "wifi" else {}
    errors = errors_of(dict(raw, bus=pins), b)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


@pytest.mark.parametrize("raw, expected", [
    ({"bogus": 1}, "bogus: unknown key"),
    ({"bus": {"baud": 2400}}, "bus.baud: unknown key"),
    ({"meters": [{"name": "a", "address": 1, "interval": 5}]}, "meters[0].interval: unknown key"),
    ({"meters": [{"name": "a", "address": 1, "interval_s": "60"}]}, 'meters[0].interval_s: must be an integer, got "60"'),
    ({"meters": [{"name": "a", "address": 1, "interval_s": 1}]}, "meters[0].interval_s: must be from 2 to 86400, got 1"),
    ({"meters": [{"name": "a", "address": 1, "multi": 1}]}, "meters[0].multi: must be true or false, got 1"),
    ({"meters": [{"name": "a", "address": True}]}, "meters[0].address: must be a primary address 0..250 or 16 hex"),
    ({"meters": [{"name": "a", "address": 251}]}, "meters[0].address: a primary address must be from 0 to 250, got 251"),
    ({"meters": [{"name": "a", "address": "1234567"}]}, "meters[0].address: must be a primary address"),
    ({"meters": [{"name": "a b", "address": 1}]}, "meters[0].name: must be 1 to 32 letters, digits"),
    ({"meters": [{"address": 1}]}, "meters[0].name: missing"),
    ({"meters": [{"name": "a", "address": 1}, {"name": "a", "address": 2}]}, 'meters[1].name: meter name "a" is used twice'),
    ({"meters": {"name": "a"}}, "meters: must be a list"),
    ({"bus": {"baudrate": 2401}}, "bus.baudrate: must be one of 300, 600, 1200, 2400"),
    ({"bus": {"uart": 0}}, "bus.uart: board esp32-devkitc has UART 1 or 2 for the bus, got 0"),
    ({"bus": {"tx": 6}}, "bus.tx: GPIO 6 is wired to the SPI flash on esp32-devkitc"),
    ({"bus": {"tx": 34, "rx": 35}}, "bus.tx: GPIO 34 can only be an input, it cannot drive the converter's TXD"),
    ({"bus": {"kind": "tcp"}}, "bus.port: missing (needed when bus.kind is \"tcp\")"),
    ({"network": {"kind": "ethernet", "ssid": "x"}}, "network.kind: board esp32-devkitc offers wifi, not \"ethernet\""),
    ({"network": {"password": "x"}}, "network.ssid: missing (needed when network.kind is \"wifi\")"),
    ({"api": {"port": 0}}, "api.port: must be from 1 to 65535, got 0"),
    ({"power": {"mode": "battery"}}, 'power.mode: must be one of "mains", got "battery"'),
    ({"sinks": [{"type": "mqtt"}]}, "sinks[0].name: missing"),
    ({"sinks": [{"type": "kafka", "name": "k"}]}, 'sinks[0].type: must be one of "mqtt", "http", got "kafka"'),
    ({"sinks": [{"type": "http", "name": "a"}, {"type": "mqtt", "name": "a"}]}, 'sinks[1].name: sink name "a" is used twice'),
    ([1, 2], "config: must be an object, got [1, 2]"),
])
def test_mistakes_name_the_key_and_why(raw, expected):
    if isinstance(raw, dict) and "network" not in raw:
        raw = dict(raw, **WIFI)
    errors = errors_of(raw)
    assert any(e.startswith(expected) for e in errors), errors


def test_every_mistake_is_reported_at_once():
    errors = errors_of(dict(WIFI, bogus=1, meters=[{"name": "a", "address": 999}], api={"port": "80"}))
    assert len(errors) == 3


def test_secondary_addresses_are_normalized():
    cfg, errors = config.validate(dict(WIFI, meters=[{"name": "w", "address": "12345678ffffffff"}]), ESP)
    assert errors == [] and cfg["meters"].address(0) == "12345678FFFFFFFF"


def test_not_json_is_named():
    cfg, raw, errors = config.parse('{"meters": [}', SIM)
    assert cfg is None and raw is None and errors[0].startswith("not valid JSON")


def test_sinks_shape_only_until_a_type_registers_its_validator(monkeypatch):
    sink = {"type": "mqtt", "name": "broker", "host": "10.0.0.2", "password": "mqtt-secret"}
    cfg, errors = config.validate(dict(WIFI, sinks=[sink]), ESP)
    assert errors == [] and cfg["sinks"] == [sink]

    def check_mqtt(entry, path, errors):
        if "host" not in entry:
            errors.append(path + ".host: missing")
        return dict(entry, port=entry.get("port", 1883))

    monkeypatch.setitem(config.SINK_VALIDATORS, "mqtt", None)
    config.register_sink_type("mqtt", check_mqtt)
    cfg, errors = config.validate(dict(WIFI, sinks=[sink, {"type": "mqtt", "name": "b"}]), ESP)
    assert cfg["sinks"][0]["port"] == 1883
    assert errors == ["sinks[1].host: missing"]


def test_redaction_and_round_trip_keep_the_stored_secrets():
    raw = {"network": {"ssid": "home", "password": "wifi-secret"}, "api": {"token": "api-token-123"},
           "sinks": [{"type": "mqtt", "name": "b", "password": "mqtt-secret"},
                     {"type": "http", "name": "h", "bearer_token": "http-secret"}]}
    shown = config.redact(raw)
    text = json.dumps(shown)
    for secret in ("wifi-secret", "api-token-123", "mqtt-secret", "http-secret"):
        assert secret not in text
    assert shown["network"]["password"] == config.REDACTED and shown["network"]["ssid"] == "home"
    # a client edits what GET returned and PUTs it back: the secrets survive
    shown["sinks"].reverse()
    shown["api"]["port"] = 8080
    back = config.keep_secrets(shown, raw)
    assert back["network"]["password"] == "wifi-secret" and back["api"]["token"] == "api-token-123"
    assert back["sinks"][1]["password"] == "mqtt-secret" and back["sinks"][0]["bearer_token"] == "http-secret"
    assert sorted(config.secrets(raw)) == ["api-token-123", "http-secret", "mqtt-secret", "wifi-secret"]


def test_log_masks_registered_secrets(capsys):
    log.setup("info", 5)
    log.add_secret("wifi-secret")
    log.info("joining with %s", "wifi-secret")
    assert "wifi-secret" not in capsys.readouterr().out
    assert log.lines()[-1].endswith("joining with ***")
    for i in range(7):
        log.info("line %d", i)
    assert [x.split()[-1] for x in log.lines()] == ["2", "3", "4", "5", "6"]


def test_atomic_save_leaves_the_old_or_the_new_file(tmp_path):
    path = str(tmp_path / "config.json")
    config.save({"name": "one"}, path)
    config.save({"name": "two"}, path)
    assert json.load(open(path)) == {"name": "two"} and not os.path.exists(path + ".new")
    # a power cut after the old file was removed and before the rename (FAT)
    os.rename(path, path + ".new")
    assert json.loads(fsutil.read_text(path)) == {"name": "two"}
    assert os.path.exists(path) and not os.path.exists(path + ".new")


def test_missing_file_is_named(tmp_path):
    cfg, raw, errors = config.load(SIM, str(tmp_path / "config.json"))
    assert cfg is None and "not found" in errors[0]
