# The local HTTP API (microdot). Reading endpoints are open; endpoints that
# change anything need "Authorization: Bearer <api.token>", compared in
# constant time. Secrets never leave: GET /api/config, status and logs are
# redacted. Bodies are size-limited; bad JSON and unknown keys get a 4xx
# that names the problem.
import asyncio
import json

import log
from compat import unload
from microdot import Microdot, Request, Response

MAX_BODY = 8192
Request.max_content_length = MAX_BODY
Request.max_body_length = MAX_BODY
Request.max_readline = 1024


def tokens_equal(given, expected):
    """Constant-time comparison (of digests, so the length does not leak either)."""
    import hashlib
    a = hashlib.sha256(given.encode()).digest()
    b = hashlib.sha256(expected.encode()).digest()
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def _error(status, msg, **extra):
    extra["error"] = msg
    return extra, status


def _check_token(gw, req):
    """None when the request may change things, else the error response."""
    token = gw.api_token()
    if not token:
        return _error(403, "changes through the API are disabled: set api.token in config.json")
    given = req.headers.get("Authorization", "")
    if not given.startswith("Bearer ") or not tokens_equal(given[7:], token):
        log.warning("api: %s %s refused: missing or wrong token", req.method, req.path)
        return _error(401, "missing or wrong token: send \"Authorization: Bearer <api.token>\"")
    return None


def _json_body(req, keys=None):
    """(object, None) or (None, error response): the body must be a JSON object
    with only the given keys (any keys when keys is None)."""
    try:
        body = json.loads(req.body.decode() if req.body else "")
    except (ValueError, UnicodeError) as e:
        return None, _error(400, "body is not valid JSON: %s" % e)
    if not isinstance(body, dict):
        return None, _error(400, "body must be a JSON object")
    if keys is not None:
        for k in body:
            if k not in keys:
                return None, _error(400, "unknown key %s (known: %s)" % (json.dumps(k), ", ".join(keys)))
    return body, None


def _file_chunks(path):
    with open(path) as f:
        while True:
            chunk = f.read(512)
            if not chunk:
                return
            yield chunk


def _readings_body(latest, single):
    # the stored JSON goes out as it is, in small chunks: no parsing, no big block
    if single:
        yield from _file_chunks(latest[single])
        return
    yield "{"
    first = True
    for name in list(latest):
        yield ('' if first else ', ') + json.dumps(name) + ": "
        yield from _file_chunks(latest[name])
        first = False
    yield "}"


def _readings(latest, single=None):
    return Response(_readings_body(latest, single), headers={"Content-Type": "application/json"})


def create(gw):
    app = Microdot()

    @app.errorhandler(404)
    def not_found(req):
        return _error(404, "no such endpoint")

    @app.errorhandler(405)
    def not_allowed(req):
        return _error(405, "method not allowed here")

    @app.errorhandler(413)
    def too_large(req):
        return _error(413, "request body larger than %d bytes" % MAX_BODY)

    @app.errorhandler(400)
    def bad_request(req):
        return _error(400, "malformed request")

    @app.errorhandler(Exception)
    def crashed(req, exc):
        log.exception("api: %s %s failed" % (req.method, req.path), exc)
        return _error(500, "internal error: %s" % type(exc).__name__)

    @app.get("/")
    def index(req):
        import page
        html = page.HTML
        unload("page")
        return html, 200, {"Content-Type": "text/html; charset=UTF-8"}

    @app.get("/api/status")
    def status(req):
        return gw.status()

    @app.get("/api/logs")
    def logs(req):
        return {"lines": log.lines()}

    @app.get("/api/readings")
    def get_readings(req):
        only = req.args.get("meter")
        if only is not None and only not in gw.dispatch.latest:
            return _error(404, "no reading of meter %s yet" % json.dumps(only))
        return _readings(gw.dispatch.latest, only)

    @app.post("/api/poll")
    async def poll(req):
        denied = _check_token(gw, req)
        if denied:
            return denied
        body, err = _json_body(req, ("meter",))
        if err:
            return err
        if gw.scheduler is None:
            return _error(503, "safe mode: the bus is not running (%s)" % gw.safe_reason)
        name = body.get("meter")
        m = gw.scheduler.find(name) if isinstance(name, str) else None
        if m is None:
            return _error(404, "no enabled meter named %s" % json.dumps(name), meters=[x.name for x in gw.scheduler.meters])
        try:
            await gw.scheduler.poll(m)
            return _readings(gw.dispatch.latest, m.name)
        except Exception as e:
            return _error(504 if type(e).__name__ == "NoReplyError" else 502,
                          "%s: %s" % (type(e).__name__, e), meter=name)

    @app.get("/api/config")
    def get_config(req):
        if gw.raw_config is None:
            return _error(409, "the stored config is not usable", errors=gw.config_errors)
        shown = gw.config_module().redact(gw.raw_config)
        unload("config")
        return shown

    @app.put("/api/config")
    def put_config(req):
        denied = _check_token(gw, req)
        if denied:
            return denied
        new, err = _json_body(req)
        if err:
            return err
        config = gw.config_module()
        config.keep_secrets(new, gw.raw_config)
        _cfg, errors = config.validate(new, gw.board)
        if not errors:
            config.save(new)
        unload("config")
        if errors:
            return _error(422, "config rejected: %d problem(s)" % len(errors), errors=errors)
        gw.raw_config = new
        log.info("api: new config saved; it applies after a restart")
        return {"saved": True, "restart_required": True}

    @app.post("/api/restart")
    def restart(req):
        denied = _check_token(gw, req)
        if denied:
            return denied
        asyncio.create_task(gw.restart_soon())
        return {"restarting": True}

    return app
