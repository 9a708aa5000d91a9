# A small MQTT 3.1.1 client for asyncio, the same code on MicroPython (ESP32,
# unix port) and CPython. What the gateway needs and nothing more: clean
# sessions, QoS 0/1 publish (QoS 1 returns only after the broker's PUBACK),
# last will, user/password, TLS through an ssl context, QoS 0 subscriptions,
# keepalive pings. Every wait is bounded by `timeout`; a broker that accepts
# the TCP connection and then says nothing costs at most that long.
#
# Only one task writes and drains at a time (MicroPython's asyncio allows a
# single waiter per socket and direction): publish, subscribe and the ping
# share one lock, and the reader task never writes (subscriptions are QoS 0).
import asyncio

from compat import const
from tcp import close, one_buffer, open_stream, write_body

_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)

_REFUSED = (
    None,
    "unacceptable protocol version",
    "client identifier rejected",
    "server unavailable",
    "bad user name or password",
    "not authorized",
)


class MQTTError(Exception):
    pass


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def connect_packet(client_id, keepalive, user=None, password=None, will=None):
    """CONNECT with a clean session; will = (topic, payload, retain)."""
    flags = 0x02
    payload = _str(client_id)
    if will:
        flags |= 0x04 | 0x08  # will, will QoS 1
        if will[2]:
            flags |= 0x20
        payload += _str(will[0]) + _str(will[1])
    if user is not None:
        flags |= 0x80
        payload += _str(user)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
    body = _str("MQTT") + bytes((4, flags)) + keepalive.to_bytes(2, "big") + payload
    return bytes((_CONNECT,)) + _varint(len(body)) + body


def publish_head(topic, size, qos=0, retain=False, pid=0):
    """Fixed header, topic and packet id of a PUBLISH whose payload is size bytes."""
    t = _str(topic)
    n = len(t) + size + (2 if qos else 0)
    head = bytes((_PUBLISH | qos << 1 | (1 if retain else 0),)) + _varint(n) + t
    return head + pid.to_bytes(2, "big") if qos else head


def subscribe_packet(pid, topic, qos=0):
    body = pid.to_bytes(2, "big") + _str(topic) + bytes((qos,))
    return bytes((_SUBSCRIBE,)) + _varint(len(body)) + body


def parse_publish(flags, body):
    """(topic, payload, qos, pid) of an incoming PUBLISH body."""
    n = int.from_bytes(body[0:2], "big")
    topic = bytes(body[2 : 2 + n]).decode()
    i = 2 + n
    qos = (flags >> 1) & 3
    pid = 0
    if qos:
        pid = int.from_bytes(body[i : i + 2], "big")
        i += 2
    return topic, bytes(body[i:]), qos, pid


class Client:
    """One connection to a broker; connect() again after it went down.

    on_message(topic, payload) is called (plain function) for each message
    on a subscribed topic."""

    def __init__(self, host, port=1883, client_id="", user=None, password=None,
                 keepalive=60, ssl=None, server_hostname=None, will=None,
                 timeout=10, on_message=None, max_packet=4096):
        self.host, self.port = host, port
        self.client_id = client_id
        self.user, self.password = user, password
        self.keepalive = keepalive
        self.ssl, self.server_hostname = ssl, server_hostname
        self.will = will
        self.timeout = timeout
        self.on_message = on_message
        self.max_packet = max_packet
        self.error = None  # why the last connection ended
        self._r = self._w = None
        self._tasks = ()  # type: tuple
        self._lock = asyncio.Lock()  # one writer at a time
        self._op = asyncio.Lock()  # one publish/subscribe awaiting its ack
        self._down = asyncio.Event()
        self._down.set()
        self._acked = asyncio.Event()
        self._want = 0  # packet id publish/subscribe waits for
        self._got = -1
        self._pid = 0
        self._sent = False  # since the last keepalive tick
        self._rx = 0
        self._buf = bytearray(512)  # a stored reading goes out through it

    @property
    def connected(self):
        return not self._down.is_set()

    async def connect(self):
        """Open the connection; raises MQTTError or OSError within timeout."""
        self.close()
        try:
            await asyncio.wait_for(self._open(), self.timeout)
        except asyncio.TimeoutError:
            self.close()
            raise MQTTError("broker %s:%d gave no CONNACK within %ss" % (self.host, self.port, self.timeout))
        except Exception:
            self.close()
            raise
        self.error = None
        self._down.clear()
        self._tasks = (asyncio.create_task(self._reader()), asyncio.create_task(self._pinger()))

    async def _open(self):
        self._r, self._w = await open_stream(self.host, self.port, self.ssl, self.server_hostname)
        self._w.write(connect_packet(self.client_id, self.keepalive, self.user, self.password, self.will))
        await self._w.drain()
        kind, _flags, body = await self._packet()
        if kind != _CONNACK or len(body) != 2:
            raise MQTTError("broker answered CONNECT with packet type %d" % kind)
        rc = body[1]
        if rc:
            why = _REFUSED[rc] if rc < len(_REFUSED) else "code %d" % rc
            raise MQTTError("broker refused the connection: %s" % why)

    async def _packet(self):
        r = self._r
        if r is None:
            raise MQTTError("not connected")
        b = await r.readexactly(1)
        kind = b[0]
        n = shift = 0
        while True:
            c = (await r.readexactly(1))[0]
            n |= (c & 0x7F) << shift
            if not c & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("malformed packet length from broker")
        if n > self.max_packet:
            raise MQTTError("broker sent a %d-byte packet (limit %d)" % (n, self.max_packet))
        body = await r.readexactly(n) if n else b""
        self._rx += 1
        return kind & 0xF0, kind & 0x0F, body

    async def _reader(self):
        try:
            while True:
                kind, flags, body = await self._packet()
                if kind == _PUBLISH:
                    topic, payload, _qos, _pid = parse_publish(flags, body)
                    if self.on_message:
                        try:
                            self.on_message(topic, payload)
                        except Exception as e:  # a handler bug must not drop the link
                            self.error = "on_message: %r" % e
                elif kind in (_PUBACK, _SUBACK) and len(body) >= 2:
                    self._got = int.from_bytes(body[0:2], "big")
                    if self._got == self._want:
                        self._acked.set()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # EOF, reset, TLS error, garbage
            self._lost("connection lost: %s" % (e or type(e).__name__))

    async def _pinger(self):
        period = max(1, self.keepalive // 2)
        while True:
            await asyncio.sleep(period)
            if not self._sent:
                try:
                    await self._send(bytes((_PINGREQ, 0)))
                except Exception as e:
                    self._lost("ping failed: %s" % e)
                    return
                rx = self._rx
                await asyncio.sleep(min(period, self.timeout))
                if self._rx == rx:
                    self._lost("no answer to ping within %ss" % min(period, self.timeout))
                    return
            self._sent = False

    def _lost(self, why):
        if not self._down.is_set():
            self.error = why
        self._shutdown()

    async def _send(self, *parts, body=None):
        """Write parts, then body (a stored reading, outbox.Body) piece by
        piece, all as one message bounded by timeout."""
        async with self._lock:
            w = self._w
            if w is None or self._down.is_set():
                raise MQTTError("not connected")
            if self.ssl and len(parts) > 1:
                parts = (one_buffer(parts),)
            for p in parts:
                w.write(p)
            self._sent = True
            try:
                await asyncio.wait_for(self._drain(w, body), self.timeout)
            except asyncio.TimeoutError:
                self._lost("broker stopped reading (send timed out after %ss)" % self.timeout)
                raise MQTTError(self.error)
            except OSError as e:  # the stored reading went away half sent: the stream is out of step
                self._lost("send failed: %s" % e)
                raise MQTTError(self.error)

    async def _drain(self, w, body):
        await w.drain()
        if body is not None:
            await write_body(w, body, self._buf)

    async def _await_ack(self, pid, what):
        try:
            await asyncio.wait_for(self._acked.wait(), self.timeout)
        except asyncio.TimeoutError:
            self._lost("no %s within %ss" % (what, self.timeout))
        if self._got != pid:
            raise MQTTError(self.error or "connection lost before %s" % what)

    def _next_pid(self):
        self._pid = self._pid % 0xFFFF + 1
        return self._pid

    async def publish(self, topic, payload, retain=False, qos=0):
        """Send payload: bytes, str, or a stored reading (outbox.Body, sent
        from flash piece by piece). qos 1 returns once the broker
        acknowledged it."""
        body = None
        if isinstance(payload, str):
            payload = payload.encode()
        elif hasattr(payload, "read_into"):
            body, payload = payload, b""
        async with self._op:
            pid = self._next_pid() if qos else 0
            self._want, self._got = pid, -1
            self._acked.clear()
            await self._send(publish_head(topic, len(payload) + (len(body) if body else 0), qos, retain, pid),
                             payload, body=body)
            if qos:
                await self._await_ack(pid, "PUBACK")

    async def subscribe(self, topic):
        """QoS 0 subscription; returns after SUBACK."""
        async with self._op:
            pid = self._next_pid()
            self._want, self._got = pid, -1
            self._acked.clear()
            await self._send(subscribe_packet(pid, topic))
            await self._await_ack(pid, "SUBACK")

    async def wait_down(self):
        await self._down.wait()

    async def disconnect(self):
        """Polite goodbye (the broker then does not send the last will)."""
        if self.connected:
            try:
                await self._send(bytes((_DISCONNECT, 0)))
            except Exception:
                pass
        self.close()

    def close(self):
        self._shutdown()

    def _shutdown(self):
        self._down.set()
        self._acked.set()  # wake a publish waiting for its PUBACK
        try:
            me = asyncio.current_task()
        except RuntimeError:  # called outside the event loop
            me = None
        for t in self._tasks:
            if t is not me:
                t.cancel()
        self._tasks = ()
        w, self._r, self._w = self._w, None, None
        if w is not None:
            close(w)
