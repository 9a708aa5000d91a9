# Raw TCP transport (like ser2net or the simulator in tools/): the bytes of
# the M-Bus line over a socket. Works on CPython and the MicroPython unix port.
# The asyncio transport is here; the blocking one (host tools) is in
# mbus.tcp_blocking, loaded when named (also as mbus.tcp.TcpTransport).
import socket

from mbus.errors import TransportError

CHUNK = 512
_EAGAIN = (11, 35)  # EAGAIN on Linux, macOS


def _connect(host, port, timeout_ms):
    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        s = socket.socket(ai[0], socket.SOCK_STREAM)
        s.settimeout(timeout_ms / 1000)
        s.connect(ai[-1])
    except OSError as e:
        raise TransportError("cannot connect to %s:%d: %s" % (host, port, e))
    try:
        # TCP_NODELAY: a request that follows one nobody answered (a
        # broadcast, a silent probe) must not wait for the peer's delayed ACK
        # (Nagle), some 40 ms, longer than a fast reply window. MicroPython
        # names neither constant: IPPROTO_TCP is 6, TCP_NODELAY 1 (Linux, lwIP).
        s.setsockopt(getattr(socket, "IPPROTO_TCP", 6), getattr(socket, "TCP_NODELAY", 1), 1)
    except (OSError, AttributeError):
        pass
    return s


class TcpConnection:
    def __init__(self, host, port, baudrate, connect_timeout_ms):
        self.baudrate = baudrate
        self.where = "%s:%d" % (host, port)
        self.sock = _connect(host, port, connect_timeout_ms)

    def set_baudrate(self, baudrate):
        self.baudrate = baudrate  # the far end's line rate is its own business

    def _got(self, data):
        """data from a socket that was ready, or b"": the peer closed."""
        if data is None:
            return b""  # a non-blocking read found nothing after all
        if not data:
            raise TransportError("%s closed the connection" % self.where)
        return data


class AsyncTcpTransport(TcpConnection):
    """asyncio transport over a TCP socket (connects blocking, then never blocks)."""

    def __init__(self, host, port, baudrate=2400, connect_timeout_ms=5000):
        import sys

        super().__init__(host, port, baudrate, connect_timeout_ms)
        self.sock.setblocking(False)
        self._poller = None  # CPython waits with loop.sock_recv
        if sys.implementation.name == "micropython":
            # MicroPython waits by polling (mbus.aio.poll_within): no task per wait
            from select import POLLIN, poll

            self._poller = poll()
            self._poller.register(self.sock, POLLIN)
        # one receive buffer for the connection's life: recv(CHUNK) would ask
        # the heap for CHUNK bytes in one piece at every read
        self._buf = bytearray(CHUNK)
        self._into = getattr(self.sock, "recv_into", None) or self.sock.readinto

    def _recv(self):
        try:
            n = self._into(self._buf)
        except OSError as e:
            if e.args and e.args[0] in _EAGAIN:
                return b""
            raise TransportError("read from %s failed: %s" % (self.where, e))
        return self._got(None if n is None else bytes(memoryview(self._buf)[:n]))

    def _ready(self):
        for _ in self._poller.ipoll(0):  # type: ignore[union-attr]  # ipoll: no allocation; set whenever this runs
            return True
        return False

    def _readable(self):
        import asyncio

        # CPython only (MicroPython polls, _ready), hence missing from the stubs
        return asyncio.get_running_loop().sock_recv(self.sock, CHUNK)  # type: ignore[attr-defined]

    async def write(self, data):
        from mbus.aio import sleep_ms

        mv = memoryview(data)
        while len(mv):
            try:
                n = self.sock.send(mv)
            except OSError as e:
                if e.args and e.args[0] in _EAGAIN:
                    await sleep_ms(1)
                    continue
                raise TransportError("write to %s failed: %s" % (self.where, e))
            mv = mv[n:]

    async def read(self, timeout_ms):
        data = self._recv()
        if data or timeout_ms <= 0:
            return data
        if self._poller is not None:
            from mbus.aio import poll_within

            return await poll_within(self._ready, self._recv, timeout_ms)
        from mbus.aio import read_within

        try:
            data = await read_within(self._readable, timeout_ms)
        except OSError as e:
            raise TransportError("read from %s failed: %s" % (self.where, e))
        return self._got(data)

    async def close(self):
        self.sock.close()


def __getattr__(name):
    if name != "TcpTransport":
        raise AttributeError("module 'mbus.tcp' has no attribute '%s'" % name)
    from mbus.tcp_blocking import TcpTransport
    return TcpTransport
