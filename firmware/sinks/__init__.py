# Sinks: where readings go (MQTT broker, HTTP endpoint). This module checks
# the config's "sinks" entries and builds sink objects; each kind lives in
# its own submodule, imported only when configured.
#
# A sink has: name, kind, async send(seq, body) (body: the reading's JSON
# bytes; returns once the far end acknowledged it, raises otherwise),
# optional async run() (a background task, e.g. keeping a connection),
# async stop(), and status() -> dict.

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


class SinkError(Exception):
    """Delivery failed. permanent: the far end rejected this very reading
    (retrying it will not help); otherwise the failure is transient."""

    def __init__(self, msg, permanent=False):
        super().__init__(msg)
        self.permanent = permanent


def slug(text):
    """text with every character outside [A-Za-z0-9_-] replaced by '_'."""
    return "".join(c if c in NAME_CHARS else "_" for c in text)


# (key, type, default, low, high): type is "str", "int", "num" or "bool";
# low/high bound ints and numbers, and string lengths. Default None: optional
# without a value; REQUIRED: must be given.
REQUIRED = "required"
_COMMON = (
    ("type", "str", REQUIRED, 1, 8),
    ("name", "str", REQUIRED, 1, 24),
    ("timeout", "num", 10, 1, 300),
    ("backoff_min", "num", 1, 0.1, 3600),
    ("backoff_max", "num", 300, 1, 86400),
)
_TLS = (
    ("ca", "str", None, 1, 128),
    ("tls_verify", "bool", True, 0, 0),
)
SPECS = {
    "mqtt": _COMMON + _TLS + (
        ("host", "str", REQUIRED, 1, 253),
        ("port", "int", None, 1, 65535),
        ("tls", "bool", False, 0, 0),
        ("user", "str", None, 0, 256),
        ("password", "str", None, 0, 256),
        ("client_id", "str", None, 1, 64),
        ("base_topic", "str", None, 1, 128),
        ("keepalive", "int", 60, 5, 3600),
        ("retain", "bool", True, 0, 0),
        ("discovery", "bool", True, 0, 0),
        ("discovery_prefix", "str", "homeassistant", 1, 64),
    ),
    "http": _COMMON + _TLS + (
        ("url", "str", REQUIRED, 8, 512),
        ("token", "str", None, 1, 512),
    ),
}
_KINDS = {"str": str, "int": int, "num": (int, float), "bool": bool}
_WORDS = {"str": "a string", "int": "an integer", "num": "a number", "bool": "true or false"}


def _check_value(kind, v, lo, hi):
    """Why v is not acceptable, or None."""
    if isinstance(v, bool) and kind != "bool" or not isinstance(v, _KINDS[kind]):
        return "must be %s, got %r" % (_WORDS[kind], v)
    if kind == "str" and not lo <= len(v) <= hi:
        return "must be %d to %d characters long, got %d" % (lo, hi, len(v))
    if kind in ("int", "num") and not lo <= v <= hi:
        return "must be between %s and %s, got %r" % (lo, hi, v)
    return None


def _check_entry(e, where, errors):
    kind = e.get("type")
    if kind not in SPECS:
        errors.append("%s.type: must be one of %s, got %r" % (where, ", ".join(sorted(SPECS)), kind))
        return
    keys = {}
    for key, t, default, lo, hi in SPECS[kind]:
        keys[key] = True
        if key not in e:
            if default == REQUIRED:
                errors.append("%s.%s: missing (required for a %s sink)" % (where, key, kind))
            continue
        why = _check_value(t, e[key], lo, hi)
        if why:
            errors.append("%s.%s: %s" % (where, key, why))
    for key in e:
        if key not in keys:
            errors.append("%s.%s: unknown key for a %s sink (known: %s)"
                          % (where, key, kind, ", ".join(k[0] for k in SPECS[kind])))
    name = e.get("name")
    if isinstance(name, str) and slug(name) != name:
        errors.append("%s.name: only letters, digits, '_' and '-' are allowed, got %r" % (where, name))
    if e.get("backoff_min", 1) > e.get("backoff_max", 300):
        errors.append("%s.backoff_min: must not exceed backoff_max" % where)
    tls = e.get("tls") if kind == "mqtt" else str(e.get("url", "")).startswith("https://")
    for key in ("ca", "tls_verify"):
        if key in e and not tls:
            errors.append("%s.%s: only used with %s" % (where, key, "tls true" if kind == "mqtt" else "an https:// url"))
    if kind == "mqtt":
        _check_mqtt(e, where, errors)
    else:
        _check_http(e, where, errors)


def _check_mqtt(e, where, errors):
    if "password" in e and "user" not in e:
        errors.append("%s.password: needs a user (MQTT 3.1.1 sends a password only with a user name)" % where)
    for key in ("base_topic", "discovery_prefix"):
        v = e.get(key)
        if isinstance(v, str) and ("+" in v or "#" in v or v.startswith("/") or v.endswith("/")):
            errors.append("%s.%s: no '+', '#', or leading/trailing '/' allowed, got %r" % (where, key, v))


def _check_http(e, where, errors):
    url = e.get("url")
    if isinstance(url, str):
        try:
            parse_url(url)
        except ValueError as err:
            errors.append("%s.url: %s" % (where, err))


def parse_url(url):
    """(tls, host, port, path) of an http:// or https:// URL; ValueError says why not."""
    if url.startswith("http://"):
        tls, rest, port = False, url[7:], 80
    elif url.startswith("https://"):
        tls, rest, port = True, url[8:], 443
    else:
        raise ValueError("must start with http:// or https://, got %r" % url)
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    if "@" in hostport:
        raise ValueError("user:password@ in the URL is not supported; use token")
    if hostport.startswith("["):
        raise ValueError("IPv6 literals are not supported")
    host = hostport
    if ":" in hostport:
        host, p = hostport.rsplit(":", 1)
        try:
            port = int(p)
        except ValueError:
            raise ValueError("port %r is not a number" % p)
        if not 0 < port < 65536:
            raise ValueError("port %d out of range" % port)
    if not host:
        raise ValueError("no host in %r" % url)
    for c in " \r\n":
        if c in url:
            raise ValueError("spaces or line breaks are not allowed")
    return tls, host, port, path


def validate_sinks(sinks, where="sinks"):
    """Every problem in the config's sinks list, as "sinks[i].key: why"
    strings (empty when all is well)."""
    errors = []
    if not isinstance(sinks, list):
        return ["%s: must be a list of sink objects, got %r" % (where, sinks)]
    seen = {}
    for i, e in enumerate(sinks):
        w = "%s[%d]" % (where, i)
        if not isinstance(e, dict):
            errors.append("%s: must be an object with type and name, got %r" % (w, e))
            continue
        _check_entry(e, w, errors)
        name = e.get("name")
        if isinstance(name, str):
            if name in seen:
                errors.append("%s.name: %r is already the name of %s" % (w, name, seen[name]))
            seen[name] = w
    return errors


def with_defaults(entry):
    """The entry with every optional key filled in."""
    out = dict(entry)
    for key, _t, default, _lo, _hi in SPECS[entry["type"]]:
        if key not in out and default is not None and default != REQUIRED:
            out[key] = default
    return out


def tls_context(ca=None, verify=True):
    """An ssl context for a client. verify: check the server's certificate
    and host name against ca (a PEM or DER file on flash) or, on CPython,
    the system's CAs. MicroPython has no CA store: verify needs ca there."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED
    if ca:
        ctx.load_verify_locations(cafile=ca)
    elif hasattr(ctx, "load_default_certs"):
        ctx.load_default_certs()
    return ctx


def build_sinks(entries, gateway="mbus-gateway", on_poll=None, log=print):
    """Sink objects for validated config entries. gateway names this
    gateway in topics and ids; on_poll(meter) is called (plain function)
    when an MQTT command asks for a reading now."""
    out = []
    for e in entries:
        e = with_defaults(e)
        if e["type"] == "mqtt":
            from sinks.mqtt import MQTTSink

            out.append(MQTTSink(e, gateway, on_poll, log))
        else:
            from sinks.http import HTTPSink

            out.append(HTTPSink(e, gateway, log))
    return out
