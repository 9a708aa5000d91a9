# Streams for the sinks. Their messages are small and each waits for an
# answer (PUBACK, HTTP status), the pattern where Nagle's algorithm holds a
# short segment back until the peer acknowledges the previous one, while the
# peer delays that acknowledgement: ~40 ms lost per message. So TCP_NODELAY
# where the platform lets us set it (CPython's asyncio does it itself; a TLS
# socket on MicroPython has no setsockopt, there one_buffer() makes a
# message a single write).
import asyncio


async def open_stream(host, port, ssl=None, server_hostname=None):
    if ssl:
        return await asyncio.open_connection(host, port, ssl=ssl, server_hostname=server_hostname or host)
    r, w = await asyncio.open_connection(host, port)
    sock = getattr(w, "s", None)  # MicroPython's Stream keeps its socket here
    if sock is not None:
        try:
            sock.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY: the same numbers on Linux and lwIP
        except (OSError, AttributeError):
            pass
    return r, w


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
