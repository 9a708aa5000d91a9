# The API's rare requests: reading a meter now, the stored config (GET and
# PUT) and restarts. api.py imports this module for one of these requests and
# unloads it afterwards, so its code is in the heap only while it runs.
# Changes need "Authorization: Bearer <api.token>", compared in constant time.
import asyncio
import json

import fsutil
import log
from api import error, json_response, readings_response
from compat import unload


def tokens_equal(given, expected):
    """Constant-time comparison (of digests, so the length does not leak either)."""
    import hashlib
    a = hashlib.sha256(given.encode()).digest()
    b = hashlib.sha256(expected.encode()).digest()
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def _check_token(gw, req):
    """None when the request may change things, else the error response."""
    token = gw.api_token()
    if not token:
        return error(403, "changes through the API are disabled: set api.token in config.json")
    given = req.headers.get("Authorization", "")
    if not given.startswith("Bearer ") or not tokens_equal(given[7:], token):
        log.warning("api: %s %s refused: missing or wrong token", req.method, req.path)
        return error(401, "missing or wrong token: send \"Authorization: Bearer <api.token>\"")
    return None


MAX_DEPTH = 8  # a config is 4 deep; 8 KB of "[[[[..." would take the whole heap to parse


def _too_deep(b):
    """True when the brackets of JSON text b (outside strings) nest deeper than MAX_DEPTH."""
    depth = 0
    text = esc = False
    for c in b:
        if text:
            if esc:
                esc = False
            elif c == 92:  # backslash
                esc = True
            elif c == 34:  # '"'
                text = False
        elif c == 34:
            text = True
        elif c == 91 or c == 123:  # '[' '{'
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif c == 93 or c == 125:
            depth -= 1
    return False


def _json_body(req, keys=None, optional=False):
    """(object, None) or (None, error response): the body must be a JSON object
    with only the given keys (any keys when keys is None); optional: no body
    is an empty object."""
    if not req.body:
        if optional:
            return {}, None
        if "Content-Length" not in req.headers:
            return None, error(411, "body missing: send a JSON object with a Content-Length header (or chunked)")
        return None, error(400, "body is empty: send a JSON object")
    if _too_deep(req.body):
        return None, error(400, "body is nested deeper than %d levels" % MAX_DEPTH)
    try:
        body = json.loads(req.body)  # bytes or bytearray; bad UTF-8 raises UnicodeError
    except (ValueError, UnicodeError) as e:
        return None, error(400, "body is not valid JSON: %s" % e)
    if not isinstance(body, dict):
        return None, error(400, "body must be a JSON object, got %s" % type(body).__name__)
    if keys is not None:
        for k in body:
            if k not in keys:
                return None, error(400, "unknown key %s (known: %s)" % (json.dumps(k), ", ".join(keys) or "none"))
    return body, None


async def poll(gw, req):
    denied = _check_token(gw, req)
    if denied:
        return denied
    body, err = _json_body(req, ("meter",))
    if err:
        return err
    name = body.get("meter")
    if not isinstance(name, str):
        return error(400, "meter: must be the name of a meter (a string), got %s" % json.dumps(name)
                     if "meter" in body else "meter: missing (send {\"meter\": name})")
    if gw.scheduler is None:
        return error(503, "safe mode: the bus is not running (%s)" % gw.safe_reason)
    t = gw.scheduler.meters
    i = t.find(name)
    if i < 0:  # the first 20 names: hundreds would not fit the heap as a list
        return error(404, "no enabled meter named %s" % json.dumps(name), meters=[t.name(k) for k in range(min(t.n, 20))])
    try:
        await gw.scheduler.poll(i)
    except Exception as e:
        return error(504 if type(e).__name__ == "NoReplyError" else 502, "%s: %s" % (type(e).__name__, e), meter=name)
    if gw.dispatch.path(name) is None:  # a full flash: the reading went to the sinks only
        return error(507, "read, but not stored: " + str(fsutil.last_error), meter=name)
    return readings_response(gw, name)


def _config_module(gw):
    """config.py, loaded for this request, with the extensions' hooks
    registered (the caller unloads it)."""
    import config
    for mod in gw.extensions:
        if hasattr(mod, "register"):
            mod.register(config)
    return config


def _board():
    """The whole board file (the gateway keeps only what it runs with)."""
    import startup
    try:
        return startup.load_board()
    finally:
        unload("startup")


def get_config(gw, req):
    """The stored file, as a PUT or the REPL left it, secrets hidden; its
    checker (config.py) is not needed for that."""
    import stored_config

    try:
        raw, errors = stored_config.read()
        if raw is None:
            return error(409, "the stored config is not usable", errors=errors)
        return json_response(stored_config.redact(raw))
    finally:
        unload("stored_config")


def put_config(gw, req):
    denied = _check_token(gw, req)
    if denied:
        return denied
    new, err = _json_body(req)
    if err:
        return err
    board = _board()
    config = _config_module(gw)
    try:
        _keep_secrets(config, new)
        _cfg, errors = config.validate(new, board)
        if not errors:
            config.save(new)
    except OSError as e:  # a full flash (ENOSPC) or a failing one: the old file is intact
        import fsutil
        log.error("api: new config not saved: %s", fsutil.why(e))
        return error(507, "config not saved, the stored one is unchanged: writing %s failed: %s"
                     % (config.PATH, fsutil.why(e)))
    finally:
        unload("config", "stored_config")  # also when the check fails: its tables must not stay in the heap
    if errors:
        return error(422, "config rejected: %d problem(s)" % len(errors), errors=errors)
    log.info("api: new config saved; it applies after a restart")
    return {"saved": True, "restart_required": True}


def _keep_secrets(config, new):
    """The stored secrets into new where it has REDACTED. The stored config
    is read (not checked) in this frame of its own: no stale reference to
    it in the caller's frame keeps it in the heap while new is checked."""
    old, _errors = config.read()
    config.keep_secrets(new, old)


def restart(gw, req):
    denied = _check_token(gw, req)
    if denied:
        return denied
    _body, err = _json_body(req, (), optional=True)
    if err:
        return err
    asyncio.create_task(_restart_soon(gw))
    return {"restarting": True}


async def _restart_soon(gw):
    log.info("restart requested through the API")
    await asyncio.sleep_ms(500)  # the answer goes out first
    gw.boot.reset(gw.board)
