# Blocking raw TCP transport for the host tools (the gateway uses the asyncio
# one in mbus.tcp, which this shares its connection code with).
from mbus.errors import TransportError
from mbus.tcp import CHUNK, TcpConnection

try:
    from select import POLLIN, poll
except ImportError:  # CPython on Windows
    poll = None


class TcpTransport(TcpConnection):
    """Blocking transport over a TCP socket."""

    def __init__(self, host, port, baudrate=2400, connect_timeout_ms=5000):
        super().__init__(host, port, baudrate, connect_timeout_ms)
        self.sock.settimeout(None)
        if poll is not None:
            self.poller = poll()
            self.poller.register(self.sock, POLLIN)

    def _ready(self, timeout_ms):
        if poll is not None:
            return bool(self.poller.poll(timeout_ms))
        import select

        return bool(select.select([self.sock], [], [], timeout_ms / 1000)[0])

    def write(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise TransportError("write to %s failed: %s" % (self.where, e))

    def read(self, timeout_ms):
        if not self._ready(max(0, timeout_ms)):
            return b""
        try:
            data = self.sock.recv(CHUNK)
        except OSError as e:
            raise TransportError("read from %s failed: %s" % (self.where, e))
        return self._got(data)

    def close(self):
        self.sock.close()
