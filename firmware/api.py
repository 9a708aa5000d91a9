# The local HTTP API (microdot). Reading endpoints are open and here; the
# rare ones (poll now, config, restart) are in api_admin.py, loaded per
# request; those that change anything need the API token. Secrets never
# leave: GET /api/config, status and logs are redacted. Requests are read
# within limits of size and time (httpreq.py); bad JSON, wrong types
# and unknown keys get a 4xx that names the problem.
import json

import httpreq
import log
import status  # asked for often (status page, monitoring)
from compat import unload
from microdot import Microdot, Response

def error(status, msg, **extra):
    extra["error"] = msg
    return extra, status


def _json_chunks(value, depth):
    # the JSON text of value (as json.dumps writes it), entry by entry down to
    # depth levels: a big answer never needs one big block of heap. A
    # generator of (key, value) pairs is written as an object, each pair
    # made only when its turn comes; an object with mapped() (the stored
    # config's meters, json_items.Items) as an array, item by item.
    if depth and (isinstance(value, dict) or hasattr(value, "send")):
        yield "{"
        sep = ""
        for k, v in value.items() if isinstance(value, dict) else value:
            yield sep + json.dumps(k) + ": "
            yield from _json_chunks(v, depth - 1)
            sep = ", "
        yield "}"
    elif depth and (isinstance(value, list) or hasattr(value, "mapped")):
        yield "["
        sep = ""
        for v in value:
            yield sep
            yield from _json_chunks(v, depth - 1)
            sep = ", "
        yield "]"
    else:
        yield json.dumps(value)


def _batched(pieces, size=512):
    # joins small pieces into chunks of about size characters: each chunk
    # costs microdot several objects on its way out
    batch = []
    n = 0
    for piece in pieces:
        batch.append(piece)
        n += len(piece)
        if n >= size:
            yield "".join(batch)
            batch = []
            n = 0
    if batch:
        yield "".join(batch)


def json_response(value):
    """A dict or list sent as JSON in pieces (status, logs, config)."""
    return Response(_batched(_json_chunks(value, 2)), headers={"Content-Type": "application/json"})


def _file_chunks(path):
    with open(path) as f:
        while True:
            chunk = f.read(512)
            if not chunk:
                return
            yield chunk


def _readings_body(gw, single):
    # the stored JSON goes out as it is, in small chunks: no parsing, no big block
    d = gw.dispatch
    if single:
        yield from _file_chunks(d.path(single))
        return
    yield "{"
    sep = ""
    if gw.scheduler is not None:  # safe mode: no meters read, none served
        t = gw.scheduler.meters
        for i in range(t.n):
            name = t.name(i)
            path = d.path(name)
            if path:
                yield sep + json.dumps(name) + ": "
                yield from _file_chunks(path)
                sep = ", "
    yield "}"


def readings_response(gw, single=None):
    """The latest reading of meter single, or of every meter the gateway
    reads as one object, streamed from their files (readings.Dispatch)."""
    return Response(_readings_body(gw, single), headers={"Content-Type": "application/json"})


def _admin(gw, name):
    """A handler running api_admin.<name>(gw, req), imported for the request."""
    def handler(req):
        import api_admin
        try:
            return getattr(api_admin, name)(gw, req)  # poll's coroutine keeps what it needs
        finally:
            unload("api_admin")
    return handler


class App(Microdot):
    """microdot reading requests with httpreq.serve: limits of size and time,
    a few connections at once. httpreq and status.py are loaded with the API
    at boot, while the heap is whole: imported per request they need blocks
    of about 1.3 KB, which a busy gateway's heap often does not have, and
    the API then answered nothing at all."""

    clients = 0  # connections being served
    reading = []  # their tasks still reading the request, oldest first

    async def handle_request(self, reader, writer):
        try:
            await httpreq.serve(self, reader, writer)
        except MemoryError:
            # no heap even to begin serving (httpreq.serve handles the rest):
            # drop the connection, so the client is not left waiting
            writer.close()


def create(gw):
    app = App()

    @app.errorhandler(404)
    def not_found(req):
        return error(404, "no such endpoint")

    @app.errorhandler(405)
    def not_allowed(req):
        return error(405, "method not allowed here")

    @app.errorhandler(Exception)
    def crashed(req, exc):
        log.exception("api: %s %s failed" % (req.method, req.path), exc)
        return error(500, "internal error: %s" % type(exc).__name__)

    @app.get("/")
    def index(req):
        import page
        html = page.HTML
        unload("page")
        return html, 200, {"Content-Type": "text/html; charset=UTF-8"}

    def get_readings(req):
        only = req.args.get("meter")
        if only is not None and gw.dispatch.path(only) is None:
            return error(404, "no reading of meter %s yet" % json.dumps(only))
        return readings_response(gw, only)

    # /api/<name>: one microdot route and this table (a route each costs heap);
    # the rare requests' code, api_admin.py, is loaded for the request only
    endpoints = {
        "GET status": lambda req: json_response(gw.status()),
        "GET logs": lambda req: json_response({"lines": log.lines()}),
        "GET readings": get_readings,
        "POST poll": _admin(gw, "poll"),
        "GET config": _admin(gw, "get_config"),
        "PUT config": _admin(gw, "put_config"),
        "POST restart": _admin(gw, "restart"),
    }

    @app.route("/api/<name>", methods=["GET", "POST", "PUT"])
    def endpoint(req, name):
        handler = endpoints.get(("GET" if req.method == "HEAD" else req.method) + " " + name)
        if handler is not None:
            return handler(req)
        for key in endpoints:
            if key.endswith(" " + name):
                return error(405, "method not allowed here")
        return error(404, "no such endpoint")

    return app
