"""Real servers for the forwarding tests: a Mosquitto broker and a
subscriber on free loopback ports, and a small HTTP receiver whose
behaviour (accept, fail, hang) the test controls."""
import json
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError("nothing listens on port %d" % port)


def mosquitto_bin():
    for p in ("/usr/sbin/mosquitto", shutil.which("mosquitto") or ""):
        if p and os.path.exists(p):
            return p
    raise RuntimeError("mosquitto is not installed (make debian-deps)")


class Mosquitto:
    """A broker on a free loopback port; stop() and start() keep the port
    and, with persistence, the retained messages and queued sessions."""

    def __init__(self, workdir, tls=None):
        self.dir = str(workdir)
        self.port = free_port()
        self.proc = None
        conf = os.path.join(self.dir, "mosquitto.conf")
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true",
                 "persistence true", "persistence_location %s/" % self.dir,
                 "autosave_interval 1", "log_dest file %s/broker.log" % self.dir,
                 "log_type all", "max_queued_messages 10000",
                 # as root mosquitto would switch to user "mosquitto", who cannot write here
                 "user %s" % pwd.getpwuid(os.getuid()).pw_name]
        if tls:
            lines += ["cafile %s" % tls["ca"], "certfile %s" % tls["cert"], "keyfile %s" % tls["key"]]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.conf = conf

    def start(self):
        self.proc = subprocess.Popen([mosquitto_bin(), "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port(self.port)
        except TimeoutError:
            self.proc.kill()
            raise RuntimeError("mosquitto did not start: %s" % self.proc.stderr.read().decode())
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        with open(os.path.join(self.dir, "broker.log")) as f:
            return f.read()


class Subscriber:
    """mosquitto_sub with a persistent QoS 1 session: messages published while
    it is away (or while the broker restarts) are queued for it."""

    def __init__(self, broker, topic, client_id="test-sub"):
        self.broker, self.topic, self.client_id = broker, topic, client_id
        self.messages = []  # (topic, payload str, retained)
        self.proc = None
        self._lock = threading.Lock()

    def start(self):
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-t", self.topic,
             "-q", "1", "-c", "-i", self.client_id, "-F", "%r %t %p"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        # subscribed once the broker logged it
        end = time.monotonic() + 10
        while "%s 1 %s" % (self.client_id, self.topic) not in self.broker.log():
            if time.monotonic() > end:
                raise TimeoutError("mosquitto_sub did not subscribe")
            time.sleep(0.02)
        return self

    def _pump(self, proc):
        for line in proc.stdout:
            retained, topic, payload = line.rstrip("\n").split(" ", 2)
            with self._lock:
                self.messages.append((topic, payload, retained == "1"))

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None

    def wait_for(self, pred, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if pred(list(self.messages)):
                    return list(self.messages)
            time.sleep(0.05)
        with self._lock:
            raise AssertionError("timed out; got %d messages: %r" % (len(self.messages), self.messages[-5:]))

    def states(self):
        with self._lock:
            return [json.loads(p) for t, p, _r in self.messages if t.endswith("/state")]


def retained(broker, topic, timeout=1):
    """Every retained message under topic: {topic: payload}."""
    out = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic,
         "--retained-only", "-W", str(timeout), "-F", "%t %p"],
        capture_output=True, text=True)
    res = {}
    for line in out.stdout.splitlines():
        t, _, p = line.partition(" ")
        res[t] = p
    return res


class Receiver:
    """HTTP server on a free port. mode: "ok", "fail" (500 until
    fail_count requests were refused), "hang" (read, never answer),
    "reject" (400). Records (headers, body) of accepted POSTs."""

    def __init__(self, mode="ok", fail_count=0, token=None, port=0):
        self.mode, self.fail_count, self.token = mode, fail_count, token
        self.accepted = []
        self.refused = 0
        self.requests = 0
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                outer.requests += 1
                if outer.mode == "hang":
                    outer.release.wait(30)
                    return
                if outer.token and self.headers.get("Authorization") != "Bearer " + outer.token:
                    return self._answer(401, b"who are you")
                if outer.mode == "reject":
                    return self._answer(400, b"bad")
                if outer.mode == "fail" and outer.refused < outer.fail_count:
                    outer.refused += 1
                    return self._answer(500, b"down")
                outer.accepted.append((dict(self.headers), json.loads(body)))
                self._answer(200, b"ok")

            def _answer(self, code, text):
                self.send_response(code)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/readings" % self.port

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *a):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
