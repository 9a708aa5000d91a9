"""Security of the gateway, end to end on the MicroPython unix port at the
ESP32's heap (112wK): the API token is compared in constant time and never
leaves the gateway, nor does any other configured secret (console, logs,
status, config, MQTT payloads, HTTP posts); a PUT that sends the redaction
placeholder back keeps the stored secret; request size, header and URL
limits answer with the status naming the problem, whatever the
Content-Length says; malformed JSON, wrong types and unknown keys get a
clear 4xx; slow clients never hold polling or other clients. README,
"Security", maps each property to its test here."""
import json
import os
import socket
import sys
import threading
import time

import pytest

from conftest import ROOT, run_micropython
from fw_e2e import console_readings, delivered, simulator
from fw_helpers import TOKEN, flash_dir, free_port, http, rom_image, until
from fwd_servers import Receiver, Subscriber
from test_mqtt import broker  # noqa: F401  (the fixture: Mosquitto on a free port)
from unix_board import UnixBoard

sys.path.insert(0, os.path.join(ROOT, "firmware"))
HEAP = "112wK"
WIFI_PASSWORD = "wifi-pass-3141"
MQTT_PASSWORD = "mqtt-pass-2718"
HTTP_TOKEN = "http-token-1618"
SECRETS = (TOKEN, WIFI_PASSWORD, MQTT_PASSWORD, HTTP_TOKEN)


def start(tmp_path, sim, sinks=(), meters=None, heap=HEAP, rom=False, **extra):
    port = free_port()
    cfg = dict({"name": "gw-sec", "network": {"password": WIFI_PASSWORD},
                "bus": {"port": sim.port if sim else 9, "retries": 1}, "api": {"port": port, "token": TOKEN},
                "meters": meters if meters is not None else [{"name": "heat", "address": 1, "interval_s": 2}],
                "sinks": list(sinks)}, **extra)
    flash = flash_dir(tmp_path, cfg, romfs=rom)
    b = UnixBoard(flash, heap=heap, rom=rom_image(flash) if rom else None).start()
    b.wait_for("api: listening")
    return b, port, flash


def raw(port, data, timeout=20, read=True):
    """(status, parsed JSON body) of bytes sent as they are; (None, None)
    when the gateway closed without an answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout)
    try:
        s.sendall(data)
        if not read:
            return s
        got = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        if read:
            s.close()
    if not got:
        return None, None
    head, _, body = got.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("utf-8", "replace")


def request(method, path, headers=(), body=b""):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: gw"] + list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- the token comparison ------------------------------------------------------

PROBE = r"""
import sys
import hashlib as real
touched = []

class Digest:
    # a digest that records every byte read of it
    def __init__(self, tag, data):
        self.tag, self.data = tag, data
    def __len__(self):
        return len(self.data)
    def __getitem__(self, i):
        touched.append((self.tag, i))
        return self.data[i]

class Hashlib:
    n = 0
    def sha256(self, data):
        Hashlib.n += 1
        d = real.sha256(data).digest()
        tag = Hashlib.n
        class H:
            def digest(self):
                return Digest(tag, d)
        return H()

sys.modules["hashlib"] = Hashlib()
from api_admin import tokens_equal
out = []
for given, expected in CASES:
    del touched[:]
    Hashlib.n = 0
    same = tokens_equal(given, expected)
    out.append([same, sorted(i for t, i in touched if t == 1), sorted(i for t, i in touched if t == 2)])
print(repr(out))
"""

CASES = [
    ("s3cret-token-0123", "s3cret-token-0123"),  # equal
    ("X3cret-token-0123", "s3cret-token-0123"),  # first byte differs
    ("s3cret-token-012X", "s3cret-token-0123"),  # last byte differs
    ("s3cret", "s3cret-token-0123"),  # a prefix
    ("s3cret-token-0123-and-more", "s3cret-token-0123"),  # longer
    ("", "s3cret-token-0123"),
]


def _check_comparison(out):
    assert [r[0] for r in out] == [True, False, False, False, False, False]
    for same, a, b in out:
        # both 32-byte digests read in full, each byte once, whatever matched:
        # nothing ends early on the first difference or on a length mismatch
        assert a == list(range(32)) and b == list(range(32)), (a, b)


def test_token_comparison_reads_every_byte_whatever_differs_cpython():
    # the real function, with hashlib swapped for one whose digests record reads
    env = {"__name__": "probe", "CASES": CASES}
    import io
    from contextlib import redirect_stdout
    saved = sys.modules.get("hashlib")
    buf = io.StringIO()
    try:
        sys.modules.pop("api_admin", None)
        with redirect_stdout(buf):
            exec(PROBE, env)
    finally:
        sys.modules["hashlib"] = saved
        sys.modules.pop("api_admin", None)
    _check_comparison(eval(buf.getvalue()))


def test_token_comparison_reads_every_byte_whatever_differs_micropython():
    import microdot
    site = os.path.dirname(os.path.dirname(microdot.__file__))
    r = run_micropython(["-c", "CASES = %r\n" % (CASES,) + PROBE], heap="112wK",
                        env={"MICROPYPATH": ".frozen:%s/lib:%s/firmware:%s" % (ROOT, ROOT, site)})
    assert r.returncode == 0, r.stdout + r.stderr
    _check_comparison(eval(r.stdout.decode().strip().splitlines()[-1]))


# -- secrets -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["mqtt", "http"])
def test_secrets_never_leave_the_gateway_and_a_put_keeps_them(tmp_path, broker, corpus, kind):
    # one sink at a time, with the water meter's 1.2 kB readings, at 112wK
    # with the code in ROM: with its bytecode in the heap too, the config
    # check of a PUT finds no room beside a sink stack and the API (README,
    # "Memory"), like test_fw_forwarding.py
    sim = simulator(tmp_path, ["water"])
    sub = Subscriber(broker, "#").start()
    key, secret = ("password", MQTT_PASSWORD) if kind == "mqtt" else ("token", HTTP_TOKEN)
    b = None
    with Receiver(token=HTTP_TOKEN) as web:
        sink = {"type": "mqtt", "name": "broker", "host": "127.0.0.1", "port": broker.port, "user": "gw",
                "password": MQTT_PASSWORD} if kind == "mqtt" else \
            {"type": "http", "name": "web", "url": web.url, "token": HTTP_TOKEN}
        sink.update({"backoff_min": 0.2, "backoff_max": 1, "timeout": 3})
        try:
            b, port, flash = start(tmp_path, sim, [sink], meters=[{"name": "water", "address": 1, "interval_s": 2}],
                                   rom=True)
            got = (lambda: sub.states()) if kind == "mqtt" else (lambda: [body for _h, body in web.accepted])
            until(lambda: len(got()) >= 2, 30, "readings at the sink")
            # wrong tokens, some holding the real one: refused, and logged without it
            for token in ("wrong", TOKEN + "x", "x" + TOKEN, TOKEN[:-1], TOKEN.upper()):
                assert http(port, "POST", "/api/poll", {"meter": "water"}, token=token)[0] == 401
            assert http(port, "POST", "/api/poll", {"meter": "water"}, token=TOKEN)[0] == 200

            status, shown = http(port, "GET", "/api/config")
            assert status == 200
            assert shown["api"]["token"] == shown["network"]["password"] == shown["sinks"][0][key] == "***"
            _, s = http(port, "GET", "/api/status")
            _, logs = http(port, "GET", "/api/logs")
            _, readings = http(port, "GET", "/api/readings")
            assert any("refused: missing or wrong token" in x for x in logs["lines"])
            if kind == "http":
                assert all(h.get("Authorization") == "Bearer " + HTTP_TOKEN for h, _b in web.accepted)
            mqtt = "\n".join("%s %s" % (t, p) for t, p, _r in sub.messages)
            for where, text in (("GET /api/config", json.dumps(shown)), ("GET /api/status", json.dumps(s)),
                                ("GET /api/logs", json.dumps(logs)), ("GET /api/readings", json.dumps(readings)),
                                ("console", "\n".join(b.lines)), ("MQTT payloads", mqtt),
                                ("HTTP posts", json.dumps(got()))):
                for x in (TOKEN, WIFI_PASSWORD, secret):
                    assert x not in text, "%s shows a secret" % where

            # the GET answer edited and sent back: every "***" keeps its stored secret
            shown["meters"][0]["interval_s"] = 5
            assert http(port, "PUT", "/api/config", shown, token=TOKEN)[0] == 200
            stored = json.load(open(os.path.join(flash, "config.json")))
            assert stored["meters"][0]["interval_s"] == 5
            assert stored["api"]["token"] == TOKEN and stored["network"]["password"] == WIFI_PASSWORD
            assert stored["sinks"][0][key] == secret
            # "***" where nothing is stored (a renamed sink) is refused, not saved as the secret
            shown["sinks"][0]["name"] = "renamed"
            status, body = http(port, "PUT", "/api/config", shown, token=TOKEN)
            assert status == 422 and body["errors"] == [
                "sinks[0].%s: *** is the placeholder GET /api/config shows; no secret is stored here to keep, "
                "so give the secret itself" % key]
            # a secret of the wrong type is named without its value
            shown["sinks"][0]["name"] = stored["sinks"][0]["name"]
            shown["network"]["password"] = 31415926
            shown["sinks"][0][key] = 27182818
            status, body = http(port, "PUT", "/api/config", shown, token=TOKEN)
            assert status == 422 and sorted(body["errors"]) == [
                "network.password: must be a string, got a value not shown (a secret)",
                "sinks[0].%s: must be a string (the value is a secret: not shown)" % key]
            assert json.load(open(os.path.join(flash, "config.json"))) == stored
            delivered(got(), console_readings(b)[:2])
        finally:
            if b:
                b.stop()
                print("\n".join(x for x in b.lines if not x.startswith("{")))
            sub.stop()
            sim.stop()


# -- requests: size, shape, JSON -------------------------------------------------

def test_request_limits_answer_with_the_status_naming_the_problem(tmp_path):
    b, port, flash = start(tmp_path, None, meters=[{"name": "heat", "address": 1, "interval_s": 3600}])
    auth = "Authorization: Bearer " + TOKEN
    try:
        # a Content-Length over the limit: 413 at once, before any of the body is sent
        t0 = time.monotonic()
        assert raw(port, request("PUT", "/api/config", [auth, "Content-Length: 9000"])) == \
            (413, {"error": "request body larger than 8192 bytes"})
        assert time.monotonic() - t0 < 2
        assert raw(port, request("PUT", "/api/config", [auth, "Content-Length: 99999999999999999999"]))[0] == 413
        # a body over the limit, with the right length
        assert raw(port, request("PUT", "/api/config", [auth, "Content-Length: 9000"], b" " * 9000))[0] == 413
        # a Content-Length that says less than is sent: only that much is read
        body = b'{"meter": "heat"}' + b" " * 50000
        assert raw(port, request("POST", "/api/poll", [auth, "Content-Length: 10"], body)) == \
            (400, {"error": "body is not valid JSON: syntax error in JSON"})
        # chunked: decoded within the limit, refused past it
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (b'{"met', b'er": 5}')) + b"0\r\n\r\n"
        assert raw(port, request("POST", "/api/poll", [auth, "Transfer-Encoding: chunked"], chunks)) == \
            (400, {"error": "meter: must be the name of a meter (a string), got 5"})
        big = b"".join(b"1000\r\n" + b" " * 4096 + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"
        assert raw(port, request("PUT", "/api/config", [auth, "Transfer-Encoding: chunked"], big)) == \
            (413, {"error": "request body larger than 8192 bytes"})
        assert raw(port, request("PUT", "/api/config", [auth, "Transfer-Encoding: gzip"], b"x"))[0] == 501
        assert raw(port, request("PUT", "/api/config", [auth, "Transfer-Encoding: chunked", "Content-Length: 3"],
                                 b"0\r\n\r\n")) == (400, {"error": "both Content-Length and Transfer-Encoding given"})
        # no length at all: what follows the headers is not read as a body
        assert raw(port, request("PUT", "/api/config", [auth], b'{"name": "x"}')) == \
            (411, {"error": "body missing: send a JSON object with a Content-Length header (or chunked)"})
        assert raw(port, request("PUT", "/api/config", [auth, "Content-Length: -5"])) == \
            (400, {"error": "Content-Length is not a number: -5"})

        # URL and headers
        assert raw(port, request("GET", "/api/status?x=" + "a" * 5000)) == \
            (414, {"error": "request line (method, URL, version) longer than 1024 bytes"})
        assert raw(port, request("GET", "/api/status", ["X-Pad: " + "b" * 5000])) == \
            (431, {"error": "request head (request line and headers) larger than 4096 bytes"})
        assert raw(port, request("GET", "/api/status", ["X-H%d: %d" % (i, i) for i in range(100)])) == \
            (431, {"error": "more than 32 header lines"})
        assert raw(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")[0] == 400  # TLS hello on HTTP
        assert raw(port, b"GET /api/status\r\n\r\n") == \
            (400, {"error": "malformed request line (expected \"METHOD /path HTTP/1.1\")"})
        assert raw(port, request("GET", "/api/status", ["no colon here"]))[0] == 400

        # JSON: malformed, wrong types, unknown keys, each named
        def put(body, token=TOKEN):
            return http(port, "PUT", "/api/config", raw=body, token=token)

        def poll(body):
            return http(port, "POST", "/api/poll", raw=body, token=TOKEN)

        status, body = put(b'{"meters": [')
        assert status == 400 and body["error"].startswith("body is not valid JSON")
        assert put(b"[1, 2]") == (400, {"error": "body must be a JSON object, got list"})
        assert put(b'"text"') == (400, {"error": "body must be a JSON object, got str"})
        assert put(b"\xff\xfe{}")[0] == 400
        status, body = put(b'{"meters": [{"name": "heat", "address": "one", "interval_s": "60"}], "api": 5, '
                           b'"colour": "red"}')
        assert status == 422 and set(body["errors"]) >= {
            "colour: unknown key (known: name, network, bus, meters, sinks, api, power, time, log, health, outbox)",
            "api: must be an object, got 5",
            'meters[0].interval_s: must be an integer, got "60"'}
        assert poll(b'{"meter": "heat", "now": 1}') == \
            (400, {"error": 'unknown key "now" (known: meter)'})
        assert poll(b'{"meter": ["heat"]}') == \
            (400, {"error": 'meter: must be the name of a meter (a string), got ["heat"]'})
        assert poll(b"{}") == (400, {"error": 'meter: missing (send {"meter": name})'})
        assert poll(b"null") == (400, {"error": "body must be a JSON object, got NoneType"})
        status, body = http(port, "POST", "/api/restart", raw=b'{"when": "now"}', token=TOKEN)
        assert (status, body) == (400, {"error": 'unknown key "when" (known: none)'})
        deep = b"[" * 4000 + b"]" * 4000  # nesting within the size limit
        assert poll(deep) == (400, {"error": "body is nested deeper than 8 levels"})
        assert poll(b'{"meter": "[[[[[[[[[[[["}')[0] == 404  # brackets in a string are text

        # none of it changed anything or hurt the gateway
        cfg = json.load(open(os.path.join(flash, "config.json")))
        assert cfg["api"]["token"] == TOKEN and "colour" not in cfg
        status, s = http(port, "GET", "/api/status")
        assert status == 200 and s["task_restarts"] == {} and b.running()
        assert not any("Traceback" in x for x in b.lines)
    finally:
        b.stop()
        print("\n".join(b.lines))


# -- slow clients ------------------------------------------------------------------

def test_slow_clients_never_hold_polling_or_other_clients(tmp_path, corpus):
    sim = simulator(tmp_path, ["heat"])
    b = None
    try:
        b, port, _flash = start(tmp_path, sim)
        until(lambda: len(b.readings()) >= 1, 10, "the first reading")
        # slowloris: more connections than the gateway serves at once, each
        # dripping its request a byte at a time and never finishing it
        stop = threading.Event()
        drips = []

        def drip(s):
            try:
                for c in b"GET /api/status HTTP/1.1\r\nHost: gw\r\nX-Slow: ":
                    s.sendall(bytes([c]))
                    if stop.wait(0.3):
                        return
                while not stop.wait(0.3):
                    s.sendall(b"z")
            except OSError:
                pass  # the gateway closed it

        t0 = time.monotonic()
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", port), 20)
            drips.append(s)
            threading.Thread(target=drip, args=(s,), daemon=True).start()
            time.sleep(0.05)
        n0 = len(b.readings())
        # other clients are answered at once, again and again, while they drip
        for _ in range(5):
            t = time.monotonic()
            status, s = http(port, "GET", "/api/status", timeout=5)
            assert status == 200 and time.monotonic() - t < 2
            time.sleep(1)
        # polling went on at its 2 s interval
        assert len(b.readings()) >= n0 + 2
        # none of the slow connections is still open after the request timeout
        for s in drips:
            s.settimeout(15 - (time.monotonic() - t0))
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        assert time.monotonic() - t0 < 15
        stop.set()
        text = "\n".join(b.lines)
        assert "closed the one longest in sending its request" in text
        # the last ones open at the timeout were answered 408
        assert "refused: 408 request not complete within 10 s" in text
        status, s = http(port, "GET", "/api/status")
        assert status == 200 and s["task_restarts"] == {}
    finally:
        if b:
            b.stop()
            print("\n".join(x for x in b.lines if not x.startswith("{")))
        sim.stop()
