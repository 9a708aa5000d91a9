# Reading one HTTP request for the local API, within hard limits. microdot's
# own reader grows a line until its newline arrives, keeps every header and
# waits for ever; here every byte read is counted: a request line of at most
# MAX_LINE bytes, a head (request line and headers) of at most MAX_HEAD
# bytes in at most MAX_HEADERS lines (only the headers the API uses are
# kept), a body of at most MAX_BODY bytes (Content-Length or chunked), all
# within READ_TIMEOUT_S, and at most MAX_CLIENTS connections at once. A
# client breaking a limit gets the status that names it; none can make the
# gateway hold more, or hold it longer. Loaded with the API (state lives in
# api.App: App.clients, App.reading).
import asyncio
import json

import log
from microdot.microdot import NoCaseDict, Request, Response

MAX_LINE = 1024  # the request line (method, URL, version), CRLF included
MAX_HEAD = 4096
MAX_HEADERS = 32
MAX_BODY = 8192
MAX_CLIENTS = 4  # connections served at once (sockets and heap are few)
READ_TIMEOUT_S = 10  # the whole request, line to body: a stalled client is cut off
WRITE_TIMEOUT_S = 30  # the answer: a client that stops reading is cut off too
KEPT = ("authorization", "content-length", "content-type", "transfer-encoding")
TOO_LARGE = "request body larger than %d bytes" % MAX_BODY


class Refused(Exception):
    """The request broke a rule: status and a message naming the problem
    (status 0: the client closed the connection before sending anything)."""

    def __init__(self, status, msg=""):
        super().__init__(msg)
        self.status = status


class _In:
    """What the client sent and has not been used yet."""

    def __init__(self, stream):
        self.s = stream
        self.buf = b""
        self.seen = False

    async def _read(self, most):
        # pieces of at most 512 bytes: a socket read takes its whole size from the heap
        data = await self.s.read(min(most, 512))
        if not data:
            raise Refused(400 if self.seen else 0, "connection closed before the request was complete")
        self.seen = True
        return data

    async def more(self, most):
        self.buf += await self._read(most)

    async def take(self, n):
        """The next n bytes, gathered in one buffer of their size."""
        if len(self.buf) >= n:
            data = self.buf[:n]
            self.buf = self.buf[n:]
            return data
        out = bytearray(n)
        have = len(self.buf)
        out[:have] = self.buf
        self.buf = b""
        while have < n:
            data = await self._read(n - have)
            out[have:have + len(data)] = data
            have += len(data)
        return out


async def _chunked(inp):
    """The body of a chunked request, refused as soon as it outgrows MAX_BODY."""
    body = b""
    while True:
        while b"\n" not in inp.buf:
            if len(inp.buf) > 64:
                raise Refused(400, "chunk size line longer than 64 bytes")
            await inp.more(64)
        line, _, inp.buf = inp.buf.partition(b"\n")
        try:
            n = int(line.split(b";")[0].strip().decode(), 16)
        except (ValueError, UnicodeError):
            n = -1
        if n < 0:
            raise Refused(400, "bad chunk size line")
        if n == 0:
            return body  # trailers, if any, are left unread
        if len(body) + n > MAX_BODY:
            raise Refused(413, TOO_LARGE)
        body += await inp.take(n)
        if bytes(await inp.take(2)) != b"\r\n":
            raise Refused(400, "chunk of %d bytes not followed by CRLF" % n)


async def read(app, reader, writer):
    """The microdot Request read from reader; raises Refused."""
    inp = _In(reader)
    while True:  # the head: up to the empty line
        end = inp.buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(inp.buf) >= MAX_LINE and inp.buf.find(b"\n", 0, MAX_LINE) < 0:
            raise Refused(414, "request line (method, URL, version) longer than %d bytes" % MAX_LINE)
        if len(inp.buf) >= MAX_HEAD:
            raise Refused(431, "request head (request line and headers) larger than %d bytes" % MAX_HEAD)
        await inp.more(MAX_HEAD - len(inp.buf))
    try:
        lines = inp.buf[:end].decode().split("\r\n")
    except UnicodeError:
        raise Refused(400, "request head is not UTF-8")
    inp.buf = inp.buf[end + 4:]
    parts = lines[0].split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise Refused(400, "malformed request line (expected \"METHOD /path HTTP/1.1\")")
    if len(lines) > MAX_HEADERS + 1:
        raise Refused(431, "more than %d header lines" % MAX_HEADERS)
    headers = NoCaseDict()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise Refused(400, "malformed header line (expected \"Name: value\")")
        if name.lower() in KEPT:
            headers[name] = value.strip()
    del lines
    te = headers.get("Transfer-Encoding")
    cl = headers.get("Content-Length")
    body = b""
    if te is not None:
        if cl is not None:
            raise Refused(400, "both Content-Length and Transfer-Encoding given")
        if te.lower() != "chunked":
            raise Refused(501, "Transfer-Encoding %s not supported (only chunked)" % te[:20])
        body = await _chunked(inp)
        del headers["Transfer-Encoding"]
        headers["Content-Length"] = str(len(body))
    elif cl is not None:
        if not cl.isdigit():
            raise Refused(400, "Content-Length is not a number: %s" % cl[:20])
        if len(cl) > 6 or int(cl) > MAX_BODY:  # refused before a byte of it is read
            raise Refused(413, TOO_LARGE)
        body = await inp.take(int(cl))
    return Request(app, writer.get_extra_info("peername"), parts[0], parts[1], parts[2][5:], headers,
                   body=body, sock=(reader, writer))


def _refuse(writer, status, msg):
    peer = writer.get_extra_info("peername")
    peer = peer[0] if isinstance(peer, tuple) else "a client"  # the unix port gives a raw sockaddr
    log.warning("api: request from %s refused: %d %s", peer, status, msg)
    return Response(json.dumps({"error": msg}), status, {"Content-Type": "application/json"})


async def _answer(app, reader, writer, reading):
    me = asyncio.current_task()
    reading.append(me)
    res = None
    try:
        req = await asyncio.wait_for(read(app, reader, writer), READ_TIMEOUT_S)
    except Refused as e:
        if not e.status:
            return  # closed before a byte: nothing to answer
        res = _refuse(writer, e.status, str(e))
    except asyncio.TimeoutError:
        res = _refuse(writer, 408, "request not complete within %d s" % READ_TIMEOUT_S)
    finally:
        if me in reading:
            reading.remove(me)
    if res is None:
        res = await app.dispatch_request(req)
    if res is not Response.already_handled:
        await asyncio.wait_for(res.write(writer), WRITE_TIMEOUT_S)


async def serve(app, reader, writer):
    """One connection: at most MAX_CLIENTS at once; when all are taken, the
    one longest in sending its request is closed (slow clients make way),
    else the newcomer gets 503."""
    cls = type(app)
    try:
        if cls.clients >= MAX_CLIENTS:
            if not cls.reading:
                res = _refuse(writer, 503, "busy: %d clients being answered, try again" % cls.clients)
                await asyncio.wait_for(res.write(writer), 2)
                return
            cls.reading.pop(0).cancel()
            log.warning("api: %d clients: closed the one longest in sending its request", cls.clients)
        cls.clients += 1
        try:
            await _answer(app, reader, writer, cls.reading)
        finally:
            cls.clients -= 1
    except (OSError, asyncio.TimeoutError):
        pass  # the client went away or stopped reading: nothing to answer
    except Exception as e:
        log.exception("api: a request failed", e)
    finally:
        try:
            await writer.aclose()
        except Exception:
            pass
