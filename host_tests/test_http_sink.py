"""The HTTP sink against a local HTTP server: delivery with a bearer token,
a server that fails and recovers, one that accepts and never answers, one
that rejects a reading, one that is not there yet; and two sinks at once,
each with its own delivery state. Gateway half on the MicroPython unix
port and on CPython."""
import json
import threading
import time

import pytest

from fwd_readings import all_meters, reading
from fwd_run import INTERPRETERS, Gateway
from fwd_servers import Mosquitto, Receiver, Subscriber, free_port


def http_sink(url, **kw):
    e = {"type": "http", "name": "web", "url": url, "timeout": 2, "backoff_min": 0.1, "backoff_max": 1}
    e.update(kw)
    return e


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_every_reading_posted_with_token(interp, tmp_path):
    with Receiver(token="t0ken") as srv:
        meters = all_meters()
        gw = Gateway(interp, tmp_path, gateway="gw1", sinks=[http_sink(srv.url, token="t0ken")],
                     readings=meters, count=10)
        st = gw.finish()
    assert [b["seq"] for _h, b in srv.accepted] == list(range(1, 11))
    for headers, body in srv.accepted:
        want = meters[(body["seq"] - 1) % len(meters)]
        assert body["telegram"] == want["telegram"] and body["meter"] == want["meter"]
        assert headers["Content-Type"] == "application/json"
        assert headers["Authorization"] == "Bearer t0ken"
        assert headers["Idempotency-Key"] == "gw1-%d" % body["seq"]
    assert st["sinks"]["web"]["delivered"] == 10 and st["sinks"]["web"]["last_status"] == 200


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_server_fails_then_recovers(interp, tmp_path):
    with Receiver(mode="fail", fail_count=6) as srv:
        gw = Gateway(interp, tmp_path, sinks=[http_sink(srv.url)], readings=[reading("heat1")],
                     count=8, interval_ms=50, linger_s=20)
        st = gw.finish()
    assert srv.refused == 6
    assert [b["seq"] for _h, b in srv.accepted] == list(range(1, 9))  # in order, none missing
    web = st["sinks"]["web"]
    assert web["delivered"] == 8 and web["failures"] == 6 and web["last_error"] is None
    assert "answered 500" in gw.log()  # the first failure is logged


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_server_that_never_answers(interp, tmp_path):
    with Receiver(mode="hang") as srv:
        gw = Gateway(interp, tmp_path, sinks=[http_sink(srv.url, timeout=1)], readings=[reading("heat1")],
                     count=3, linger_s=15)
        gw.wait_line(lambda line: "no answer within 1s" in line)
        t0 = time.monotonic()
        srv.mode = "ok"
        st = gw.finish()
        assert time.monotonic() - t0 < 15
    assert [b["seq"] for _h, b in srv.accepted] == [1, 2, 3]
    assert gw.appended() == [1, 2, 3] and st["sinks"]["web"]["delivered"] == 3


@pytest.mark.parametrize("interp", ["micropython"])
def test_rejected_reading_is_given_up_after_three_tries(interp, tmp_path):
    with Receiver(mode="reject") as srv:
        gw = Gateway(interp, tmp_path, sinks=[http_sink(srv.url)], readings=[reading("heat1")], count=2,
                     linger_s=10)
        st = gw.finish()
    web = st["sinks"]["web"]
    assert srv.requests == 6 and web["skipped"] == 2 and web["delivered"] == 0
    assert "gave up on seq 1 after 3 rejections" in gw.log()
    assert st["outbox"]["queued"] == 0


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_server_not_there_yet(interp, tmp_path):
    port = free_port()
    gw = Gateway(interp, tmp_path, sinks=[http_sink("http://127.0.0.1:%d/in" % port)],
                 readings=[reading("water1")], count=3, linger_s=20)
    gw.wait_line(lambda line: line.startswith("LOG forward web"))
    with Receiver(port=port) as srv:  # now it is there, on the port the gateway keeps trying
        st = gw.finish()
    assert [b["seq"] for _h, b in srv.accepted] == [1, 2, 3]
    assert st["sinks"]["web"]["failures"] >= 1


@pytest.mark.parametrize("interp", INTERPRETERS)
def test_two_sinks_each_with_its_own_state(interp, tmp_path):
    """HTTP is down for a while; MQTT goes on; HTTP catches up afterwards."""
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker").start()
    sub = Subscriber(broker, "mbus/+/+/state").start()
    try:
        with Receiver(mode="fail", fail_count=10**6) as srv:
            mqtt = {"type": "mqtt", "name": "mq", "host": "127.0.0.1", "port": broker.port,
                    "backoff_min": 0.2, "backoff_max": 1}
            gw = Gateway(interp, tmp_path, gateway="gw1", sinks=[mqtt, http_sink(srv.url)],
                         readings=all_meters(), count=10, interval_ms=30, linger_s=20)
            sub.wait_for(lambda m: len(m) >= 10)
            assert srv.accepted == []  # HTTP still failing while MQTT has everything
            srv.mode = "ok"
            st = gw.finish()
    finally:
        sub.stop()
        broker.stop()
    assert [b["seq"] for _h, b in srv.accepted] == list(range(1, 11))
    assert [s["seq"] for s in sub.states()][:10] == list(range(1, 11))
    assert st["sinks"]["mq"]["delivered"] == 10 and st["sinks"]["web"]["delivered"] == 10
    assert st["sinks"]["web"]["failures"] > 0 and st["sinks"]["mq"]["failures"] == 0
