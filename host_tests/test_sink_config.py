"""sinks.check.validate_sinks: every wrong key named with the reason, on
CPython and on the MicroPython unix port alike."""
import json
import os
import sys

import pytest

from conftest import ROOT, run_micropython

sys.path.insert(0, os.path.join(ROOT, "firmware"))
from sinks.build import parse_url  # noqa: E402
from sinks.check import validate_sink, validate_sinks, with_defaults  # noqa: E402

MQTT = {"type": "mqtt", "name": "home", "host": "192.168.1.10"}
HTTP = {"type": "http", "name": "web", "url": "http://example.org/in"}


def mq(**kw):
    e = dict(MQTT)
    e.update(kw)
    return e


# (sinks, [one expected substring per error]); [] means valid
CASES = [
    ([], []),
    ([MQTT, HTTP], []),
    ([mq(port=1884, user="u", password="p", keepalive=30, base_topic="house/mbus", retain=False,
         discovery=False, discovery_prefix="ha", client_id="gw-1", timeout=5, backoff_min=0.5, backoff_max=60)], []),
    ({"type": "mqtt"}, ["sinks: must be a list"]),
    (["mqtt"], ["sinks[0]: must be an object"]),
    ([{"name": "x"}], ["sinks[0].type: must be one of http, mqtt, got None"]),
    ([{"type": "ftp", "name": "x"}], ["sinks[0].type: must be one of http, mqtt, got 'ftp'"]),
    ([{"type": "mqtt", "name": "x"}], ["sinks[0].host: missing (required for a mqtt sink)"]),
    ([{"type": "mqtt", "host": "h"}], ["sinks[0].name: missing"]),
    ([mq(name="my broker")], ["sinks[0].name: only letters, digits, '_' and '-' are allowed, got 'my broker'"]),
    ([mq(name="")], ["sinks[0].name: must be 1 to 24 characters long, got 0"]),
    ([MQTT, mq(host="other")], ["sinks[1].name: 'home' is already the name of sinks[0]"]),
    ([mq(port=70000)], ["sinks[0].port: must be between 1 and 65535, got 70000"]),
    ([mq(port="1883")], ["sinks[0].port: must be an integer, got '1883'"]),
    ([mq(port=True)], ["sinks[0].port: must be an integer, got True"]),
    ([mq(keepalive=1)], ["sinks[0].keepalive: must be between 5 and 3600, got 1"]),
    ([mq(retain="yes")], ["sinks[0].retain: must be true or false, got 'yes'"]),
    ([mq(timeout=0)], ["sinks[0].timeout: must be between 1 and 300, got 0"]),
    ([mq(backoff_min=100, backoff_max=10)], ["sinks[0].backoff_min: must not exceed backoff_max"]),
    ([mq(hostname="h")], ["sinks[0].hostname: unknown key for a mqtt sink (known: type, name, timeout"]),
    ([mq(password="p")], ["sinks[0].password: needs a user"]),
    ([mq(base_topic="mbus/#")], ["sinks[0].base_topic: no '+', '#', or leading/trailing '/' allowed"]),
    ([mq(base_topic="mbus/")], ["sinks[0].base_topic: no '+', '#'"]),
    ([mq(ca="/ca.pem")], ["sinks[0].ca: only used with tls true"]),
    ([mq(tls=True, ca="/nonexistent/ca.pem")], ["sinks[0].ca: cannot read the certificate /nonexistent/ca.pem"]),
    ([mq(tls=True, tls_verify=False)], []),
    ([{"type": "http", "name": "web"}], ["sinks[0].url: missing (required for a http sink)"]),
    ([dict(HTTP, url="ftp://example.org/x")], ["sinks[0].url: must start with http:// or https://"]),
    ([dict(HTTP, url="http://example.org:99999/x")], ["sinks[0].url: port 99999 out of range"]),
    ([dict(HTTP, url="http://example.org:x/x")], ["sinks[0].url: port 'x' is not a number"]),
    ([dict(HTTP, url="http://u:p@example.org/x")], ["sinks[0].url: user:password@ in the URL is not supported"]),
    ([dict(HTTP, token="")], ["sinks[0].token: must be 1 to 512 characters long, got 0"]),
    ([dict(HTTP, host="h")], ["sinks[0].host: unknown key for a http sink"]),
    ([dict(HTTP, tls_verify=False)], ["sinks[0].tls_verify: only used with an https:// url"]),
    # several mistakes in one entry: each is reported
    ([{"type": "mqtt", "name": "a b", "port": 0, "qos": 2}],
     ["sinks[0].host: missing", "sinks[0].port: must be between", "sinks[0].qos: unknown key",
      "sinks[0].name: only letters"]),
]


def _match(errors, expected):
    assert len(errors) == len(expected), errors
    for want in expected:
        assert any(want in e for e in errors), (want, errors)


@pytest.mark.parametrize("sinks,expected", CASES, ids=[str(i) for i in range(len(CASES))])
def test_validation_on_cpython(sinks, expected):
    _match(validate_sinks(sinks), expected)


def test_validation_on_micropython(tmp_path):
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([c for c, _ in CASES]))
    script = tmp_path / "run.py"
    script.write_text("import json\nfrom sinks.check import validate_sinks\n"
                      "print(json.dumps([validate_sinks(c) for c in json.load(open(%r))]))\n" % str(cases))
    r = run_micropython([str(script)], heap="112wK")
    assert r.returncode == 0, r.stderr.decode()
    for errors, (_c, expected) in zip(json.loads(r.stdout), CASES):
        _match(errors, expected)


def test_tls_verify_needs_a_ca_on_micropython(tmp_path):
    script = tmp_path / "run.py"
    script.write_text("from sinks.check import validate_sinks\n"
                      "print(validate_sinks([{'type': 'mqtt', 'name': 'b', 'host': 'h', 'tls': True}]))\n")
    r = run_micropython([str(script)])
    assert "sinks[0].ca: needed to verify the server (MicroPython has no CA store)" in r.stdout.decode()
    # CPython has the system's CAs
    assert validate_sinks([{"type": "mqtt", "name": "b", "host": "h", "tls": True}]) == []


def test_defaults_filled_in():
    e = with_defaults(MQTT)
    assert e["timeout"] == 10 and e["keepalive"] == 60 and e["retain"] is True and e["discovery"] is True
    assert e["discovery_prefix"] == "homeassistant" and "port" not in e and "user" not in e
    assert with_defaults(HTTP)["backoff_max"] == 300


def test_parse_url():
    assert parse_url("http://10.0.0.2:8080/api/in?x=1") == (False, "10.0.0.2", 8080, "/api/in?x=1")
    assert parse_url("https://example.org") == (True, "example.org", 443, "/")
    with pytest.raises(ValueError, match="IPv6"):
        parse_url("http://[::1]/x")


def test_one_entry():
    assert validate_sink(MQTT) == []
    assert validate_sink(dict(HTTP, timeout=0), "sinks[3]") == ["sinks[3].timeout: must be between 1 and 300, got 0"]
