# HTTP sink: POST each reading's JSON to a URL, optionally with a bearer
# token; 2xx means delivered. The whole exchange is bounded by `timeout`.
# Each POST carries Idempotency-Key: <gateway>-<seq>, so a receiver can drop
# the duplicates at-least-once delivery may produce.
import asyncio

from sinks import SinkError
from tcp import close, one_buffer, open_stream, write_body

# the receiver rejects this very reading: retrying it is pointless
_PERMANENT = (400, 409, 413, 415, 422)


async def _rest(r):
    """Read the answer's headers and a short body: closing a socket with
    unread bytes resets the connection while the server may still write."""
    n = 0
    while True:
        h = await r.readline()
        if not h or h == b"\r\n" or h == b"\n":
            break
        if h[:15].lower() == b"content-length:":
            n = int(h[15:])
    if 0 < n <= 1024:  # a longer one is not ours to wait for
        await r.readexactly(n)


class HTTPSink:
    kind = "http"

    def __init__(self, cfg, gateway, log=print):
        self.name = cfg["name"]
        self.log = log
        self.url = cfg["url"]
        from sinks.build import parse_url, tls_context  # built at boot, while sinks.build is loaded

        self.tls, self.host, self.port, self.path = parse_url(self.url)
        self.timeout = cfg["timeout"]
        self.backoff_min = cfg["backoff_min"]
        self.backoff_max = cfg["backoff_max"]
        self.ssl = tls_context(cfg.get("ca"), cfg["tls_verify"]) if self.tls else None
        host = self.host if self.port == (443 if self.tls else 80) else "%s:%d" % (self.host, self.port)
        auth = "Authorization: Bearer %s\r\n" % cfg["token"] if cfg.get("token") else ""
        # everything but the length and key is the same for every request
        self._head = ("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mbus-gateway\r\n"
                      "Content-Type: application/json\r\nConnection: close\r\n%s"
                      "Idempotency-Key: %s-" % (self.path, host, auth, gateway)).encode()
        self.last_status = None
        self._buf = bytearray(512)  # a stored reading goes out through it

    async def send(self, seq, body):
        try:
            status, reason = await asyncio.wait_for(self._post(seq, body), self.timeout)
        except asyncio.TimeoutError:
            raise SinkError("%s: no answer within %ss" % (self.url, self.timeout))
        except OSError as e:  # refused, reset, no such host: say where
            raise SinkError("%s: %s" % (self.url, e))
        self.last_status = status
        if not 200 <= status < 300:
            raise SinkError("%s answered %d %s" % (self.url, status, reason), status in _PERMANENT)

    async def _post(self, seq, body):
        r, w = await open_stream(self.host, self.port, self.ssl)
        try:
            head = (self._head, b"%d\r\nContent-Length: %d\r\n\r\n" % (seq, len(body)))
            if self.ssl:
                w.write(one_buffer(head))  # one TLS record
            else:
                for p in head:
                    w.write(p)
            await write_body(w, body, self._buf)  # the body from flash, piece by piece
            line = await r.readline()
            try:
                await _rest(r)
            except Exception:
                pass  # the status is what counts
        finally:
            close(w)
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise SinkError("%s: no HTTP status line in the answer (%r)" % (self.url, bytes(line[:40])))
        try:
            status = int(parts[1])
        except ValueError:
            raise SinkError("%s: bad status line %r" % (self.url, bytes(line[:40])))
        reason = parts[2].strip().decode() if len(parts) > 2 else ""
        return status, reason

    def status(self):
        return {"url": self.url, "last_status": self.last_status}
