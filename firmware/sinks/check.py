# Checks the config's "sinks" entries: every wrong key is reported with the
# reason. Needed at boot and when the config is changed, not while running:
# build_sinks() drops this module again to give its RAM back.
import sys

from sinks import slug
from sinks.build import parse_url, read_ca

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
_KINDS = {"str": str, "int": int, "num": (int, float), "bool": bool}  # type: dict[str, type | tuple[type, ...]]
_WORDS = {"str": "a string", "int": "an integer", "num": "a number", "bool": "true or false"}


def _check_value(kind, v, lo, hi):
    """Why v is not acceptable, or None."""
    if isinstance(v, bool) and kind != "bool" or not isinstance(v, _KINDS[kind]):
        return "must be %s, got %r" % (_WORDS[kind], v)
    if isinstance(v, str) and not lo <= len(v) <= hi:
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
        if why and key in ("password", "token") and not isinstance(e[key], str):
            why = why.split(", got")[0] + " (the value is a secret: not shown)"
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
    ca = e.get("ca")
    if tls and isinstance(ca, str):
        try:
            if not read_ca(ca):
                errors.append("%s.ca: %s is empty" % (where, ca))
        except (OSError, ValueError) as err:
            errors.append("%s.ca: cannot read the certificate %s: %s" % (where, ca, err))
    elif tls and e.get("tls_verify", True) and sys.implementation.name == "micropython":
        errors.append("%s.ca: needed to verify the server (MicroPython has no CA store); "
                      "or set tls_verify false" % where)
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


def validate_sink(entry, where="sink"):
    """Every problem of one sink entry, as "<where>.key: why" strings."""
    if not isinstance(entry, dict):
        return ["%s: must be an object with type and name, got %r" % (where, entry)]
    errors = []
    _check_entry(entry, where, errors)
    return errors


def validate_sinks(sinks, where="sinks"):
    """Every problem in the config's sinks list, as "sinks[i].key: why"
    strings (empty when all is well)."""
    errors = []
    if not isinstance(sinks, list):
        return ["%s: must be a list of sink objects, got %r" % (where, sinks)]
    seen = {}
    for i, e in enumerate(sinks):
        w = "%s[%d]" % (where, i)
        errors += validate_sink(e, w)
        if not isinstance(e, dict):
            continue
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


