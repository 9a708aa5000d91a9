"""Shared by the end-to-end forwarding tests: the whole firmware on the unix
port, simulated meters over TCP, real Mosquitto and HTTP receivers, and the
check that delivery was at least once, in order, without loss."""
import json
import os

from conftest import CORPUS
from fw_helpers import until
from unix_board import Simulator

FRAMES = {  # meter name -> corpus frame; primary addresses 1, 2, ... in this order
    "heat": "kamstrup_multical_601",
    "water": "itron_cyble_m-bus_v1.4_water",
    "gas": "itron_cyble_m-bus_v1.4_gas",
    "elec": "EMU_EMU-Professional-375-M-Bus",
    "heat2": "landis+gyr_ultraheat_t230",
}
SECRETS = ("mqtt-pass-8731", "http-token-5521")


def simulator(tmp_path, names, extra=()):
    path = tmp_path / "bus.json"
    path.write_text(json.dumps({"corpus": CORPUS, "seed": 1, "slaves": [
        {"name": n, "primary": i + 1, "telegrams": ["test-frames/%s.hex" % FRAMES[n]]} for i, n in enumerate(names)]}))
    return Simulator(str(path), extra).start()


def meters(names, interval_s=2):
    return [{"name": n, "address": i + 1, "interval_s": interval_s} for i, n in enumerate(names)]


def mqtt_sink(port, **kw):
    e = {"type": "mqtt", "name": "broker", "host": "127.0.0.1", "port": port, "user": "gw",
         "password": SECRETS[0], "backoff_min": 0.2, "backoff_max": 1, "timeout": 3, "keepalive": 10}
    e.update(kw)
    return e


def http_sink(url, **kw):
    e = {"type": "http", "name": "web", "url": url, "token": SECRETS[1], "backoff_min": 0.2, "backoff_max": 1,
         "timeout": 3}
    e.update(kw)
    return e


def console_readings(board):
    """Readings the firmware printed: each was in the outbox before (seq set)."""
    return [r for r in board.readings() if r.get("seq")]


def arrival(received, produced, timeout=30):
    """Wait until every produced reading's seq is among received() (the
    readings at a sink's far end). The gateway goes on reading meters, so
    a test takes its produced readings first and waits for those, not for
    an empty outbox that the next reading may refill at once."""
    want = {r["seq"] for r in produced}
    until(lambda: want <= {r["seq"] for r in received()}, timeout, "%d readings at the sink" % len(want))


def delivered(got, produced=()):
    """got: readings as a sink's far end received them, in arrival order.
    At least once and in order: the first arrivals are seq 1, 2, 3, ...
    without a gap; a repeat carries the same seq and is the same reading;
    every produced reading arrived as it was. Returns {seq: reading}."""
    first = {}
    order = []
    for r in got:
        s = r["seq"]
        if s in first:
            assert first[s] == r, "seq %d arrived twice with different readings" % s
        else:
            first[s] = r
            order.append(s)
    assert order == list(range(1, len(order) + 1)), "first arrivals out of order or with gaps: %s" % order
    for r in produced:
        assert r["seq"] in first, "reading seq %d of %s never arrived" % (r["seq"], r["meter"])
        assert first[r["seq"]] == r, "seq %d arrived changed" % r["seq"]
    return first


def no_secrets(*texts):
    for t in texts:
        for s in SECRETS:
            assert s not in t, "a secret leaked"


def spool_files(flash):
    d = os.path.join(flash, "spool")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []
