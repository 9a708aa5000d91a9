"""The sinks give back every socket they open, on the MicroPython unix port:
there asyncio's Stream.close() does nothing, sockets have no finaliser and
asyncio.open_connection leaves its socket open when a timeout cancels the
connect. Before firmware/tcp.py closed them itself, this script ended with
45 file descriptors open (20 closed streams, 5 cut connects, 10 HTTP posts
to a server that never answers, 10 MQTT connects without CONNACK): one
socket per attempt, for good (an ESP32's lwIP has about ten)."""
import json
import socket
import threading

from conftest import run_micropython

SCRIPT = r"""
import asyncio, json, os, sys
import tcp
from mqtt_client import Client, MQTTError
from sinks import SinkError
from sinks.http import HTTPSink

def fds():
    return len(os.listdir("/proc/self/fd"))

class Stored:  # what the sinks send: a stored reading read in pieces (outbox.Body)
    def __init__(self, data):
        self.data = data
    def __len__(self):
        return len(self.data)
    def read_into(self, pos, buf):
        n = min(len(buf), len(self.data) - pos)
        buf[:n] = self.data[pos:pos + n]
        return max(n, 0)

async def main(silent, full):
    base = fds()
    out = {}
    for i in range(20):  # connected, then closed
        r, w = await tcp.open_stream("127.0.0.1", silent)
        w.write(b"x")
        await w.drain()
        tcp.close(w)
    out["closed"] = fds() - base
    for i in range(5):  # the connect never completes: cut short by a timeout
        try:
            await asyncio.wait_for(tcp.open_stream("127.0.0.1", full), 0.1)
        except asyncio.TimeoutError:
            pass
    out["connect_timeouts"] = fds() - base
    sink = HTTPSink({"name": "web", "url": "http://127.0.0.1:%d/r" % silent, "timeout": 0.2,
                     "backoff_min": 1, "backoff_max": 1, "tls_verify": True}, "gw")
    errors = 0
    for seq in range(1, 11):  # the server reads and never answers
        try:
            await sink.send(seq, Stored(b'{"seq": %d}' % seq))
        except SinkError:
            errors += 1
    out["http_errors"] = errors
    out["http"] = fds() - base
    c = Client("127.0.0.1", silent, client_id="gw", timeout=0.2)
    for i in range(10):  # no CONNACK ever
        try:
            await c.connect()
        except MQTTError:
            errors += 1
    out["mqtt_errors"] = errors - 10
    out["mqtt"] = fds() - base
    print(json.dumps(out))

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


def test_no_socket_is_left_open_after_close_timeout_or_silence(tmp_path):
    silent = socket.socket()  # accepts, reads, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    held = []

    def serve():
        while True:
            try:
                c, _ = silent.accept()
            except OSError:
                return
            held.append(c)

    threading.Thread(target=serve, daemon=True).start()
    full = socket.socket()  # its accept queue is full: a connect hangs
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fill = []
    while True:
        s = socket.socket()
        s.settimeout(0.3)
        try:
            s.connect(full.getsockname())
        except OSError:
            s.close()
            break
        fill.append(s)
        assert len(fill) < 10, "the listener's queue never filled"
    script = tmp_path / "sockets.py"
    script.write_text(SCRIPT)
    try:
        p = run_micropython([str(script), str(silent.getsockname()[1]), str(full.getsockname()[1])],
                            heap="112wK", timeout=120)
    finally:
        for s in held + fill + [silent, full]:
            s.close()
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    out = json.loads(p.stdout.decode().splitlines()[-1])
    assert out == {"closed": 0, "connect_timeouts": 0, "http_errors": 10, "http": 0, "mqtt_errors": 10,
                   "mqtt": 0}, out
