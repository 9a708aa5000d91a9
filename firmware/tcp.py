# Streams for the sinks. Their messages are small and each waits for an
# answer (PUBACK, HTTP status), the pattern where Nagle's algorithm holds a
# short segment back until the peer acknowledges the previous one, while the
# peer delays that acknowledgement: ~40 ms lost per message. So TCP_NODELAY
# (CPython's asyncio sets it itself; on MicroPython it is set on the socket
# before TLS wraps it, as a TLS socket has no setsockopt; one_buffer() still
# makes a TLS message a single write, one TLS record).
#
# On MicroPython a socket is closed by nobody but us: Stream.close() does
# nothing (its wait_closed() closes), the unix port's sockets have no
# finaliser, and asyncio.open_connection leaves its socket open when the
# connect is cancelled by a timeout. So open_stream() connects itself and
# close() closes at once; a sink that keeps failing holds no socket.
import asyncio
import sys

_MICROPYTHON = sys.implementation.name == "micropython"
_CONNECT_POLL_MS = 10
_EINPROGRESS = 115  # Linux and lwIP


async def open_stream(host, port, ssl=None, server_hostname=None):
    import socket

    if not _MICROPYTHON:
        try:
            return await asyncio.open_connection(host, port, ssl=ssl,
                                                 server_hostname=server_hostname or host if ssl else None)
        except socket.gaierror as e:  # type: ignore[attr-defined]  # CPython only
            raise OSError("cannot resolve %s: %s" % (host, e))
    from select import POLLOUT, poll

    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]  # blocks: use an IP (README)
    except OSError as e:  # the error alone does not say which name
        raise OSError("cannot resolve %s: %s" % (host, e))
    s = socket.socket(ai[0], socket.SOCK_STREAM)
    try:
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.args[0] != _EINPROGRESS:
                raise
        p = poll()
        p.register(s, POLLOUT)
        while not p.poll(0):  # connected (or failed: the first read or write says)
            await asyncio.sleep_ms(_CONNECT_POLL_MS)
        try:
            s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: the same numbers on Linux and lwIP
        except (OSError, AttributeError):
            pass
        if ssl:
            s = ssl.wrap_socket(s, server_hostname=server_hostname or host, do_handshake_on_connect=False)
            s.setblocking(False)
    except BaseException:  # a timeout's CancelledError too: never leave the socket open
        s.close()
        raise
    w = asyncio.StreamWriter(s)  # MicroPython's one Stream class reads and writes
    return w, w


def close(w):
    """Close a stream from open_stream now (also from plain code)."""
    try:
        w.close()  # CPython: closes the transport
    except Exception:
        pass
    s = getattr(w, "s", None)  # MicroPython's Stream keeps its socket here
    if s is not None:
        try:
            s.close()
        except Exception:
            pass


def one_buffer(parts):
    """The bytes/memoryview parts copied into one bytearray."""
    n = 0
    for p in parts:
        n += len(p)
    buf = bytearray(n)
    i = 0
    for p in parts:
        buf[i : i + len(p)] = p
        i += len(p)
    return buf


async def write_body(w, body, buf):
    """Send a stored reading (outbox.Body) from flash in pieces of len(buf)
    bytes, each drained before buf is filled again."""
    pos = 0
    while True:
        n = body.read_into(pos, buf)
        if not n:
            return
        w.write(memoryview(buf)[:n])
        await w.drain()
        pos += n
