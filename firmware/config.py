# The gateway's configuration: one JSON file on flash, validated at boot
# against the tables below. Every mistake is reported as "key.path: why".
# Missing keys take the board's defaults (board.json "defaults"), then the
# defaults here; unknown keys are errors, so a typo never goes unnoticed.
import json

import fsutil
import stored_config
from stored_config import PATH, REDACTED, is_secret, redact  # noqa: F401  (config.redact etc.)

# Field kinds
INT = 0
STR = 1
BOOL = 2
CHOICE = 3
OBJ = 4
LIST = 5
ADDRESS = 6
NAME = 7
PIN = 8
SINK = 9
METERS = 10
REQUIRED = object()
MAX_METERS = 250  # one M-Bus segment's primary addresses; README "Resources" has what they cost

# The power modes this build runs; the battery module adds "battery" (and
# its keys to POWER). Extensions may add top-level sections to TOP and
# whole-config checks with register_check().
POWER_MODES = ["mains"]
SINK_TYPES = ("mqtt", "http")
# Per-type validation of sink entries: type -> fn(entry, path, errors) that
# returns the normalized entry. The forwarding modules register theirs with
# register_sink_type(); until then only the shape {"type", "name"} is checked.
SINK_VALIDATORS = {}

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
HEX_WILD = "0123456789ABCDEF"

# (key, kind, default, argument): INT (lo, hi), STR (min, max length),
# CHOICE allowed values, OBJ nested fields, LIST (item kind, item arg, max items),
# METERS (meter fields, max meters): checked in place and kept as a scheduler.Table
NETWORK = (
    ("kind", CHOICE, REQUIRED, ("wifi", "ethernet", "host")),
    ("hostname", STR, "mbus-gateway", (1, 32)),
    ("ssid", STR, "", (0, 32)),
    ("password", STR, "", (0, 64)),
    ("timeout_s", INT, 20, (5, 300)),
)
BUS = (
    ("kind", CHOICE, REQUIRED, ("uart", "tcp")),
    ("uart", INT, None, (0, 2)),
    ("tx", PIN, None, None),
    ("rx", PIN, None, None),
    ("baudrate", CHOICE, 2400, (300, 600, 1200, 2400, 4800, 9600, 19200, 38400)),
    ("timeout_ms", INT, None, (50, 10000)),
    ("retries", INT, 2, (0, 5)),
    ("host", STR, "127.0.0.1", (1, 64)),
    ("port", INT, None, (1, 65535)),
)
METER = (
    ("name", NAME, REQUIRED, None),
    ("address", ADDRESS, REQUIRED, None),
    ("interval_s", INT, 60, (2, 86400)),
    ("multi", BOOL, True, None),
    ("max_frames", INT, 16, (1, 16)),
    ("enabled", BOOL, True, None),
)
API = (
    ("enabled", BOOL, True, None),
    ("host", STR, "0.0.0.0", (1, 64)),
    ("port", INT, 80, (1, 65535)),
    ("token", STR, "", (0, 64)),
)
TIME = (
    ("ntp_server", STR, "pool.ntp.org", (0, 64)),
    ("resync_h", INT, 12, (1, 168)),
    ("tz_offset_min", INT, 0, (-720, 840)),
)
LOG = (
    ("level", CHOICE, "info", ("debug", "info", "warning", "error")),
    ("lines", INT, 30, (5, 200)),
)
MAX_BOOT_CRASHES = 3
HEALTH = (
    ("wdt_s", INT, 60, (0, 600)),
    ("stall_s", INT, 300, (30, 3600)),
    ("max_boot_crashes", INT, MAX_BOOT_CRASHES, (1, 20)),
    ("safe_retry_s", INT, 600, (0, 86400)),  # crash safe mode retries a normal boot after this (doubling); 0: never
)
POWER = [("mode", CHOICE, "mains", POWER_MODES)]
SINK_SHAPE = (
    ("type", CHOICE, REQUIRED, SINK_TYPES),
    ("name", NAME, REQUIRED, None),
)
TOP = [
    ("name", NAME, "mbus-gateway", None),
    ("network", OBJ, None, NETWORK),
    ("bus", OBJ, None, BUS),
    ("meters", METERS, [], (METER, MAX_METERS)),
    ("sinks", LIST, [], (SINK, None, 8)),
    ("api", OBJ, None, API),
    ("power", OBJ, None, POWER),
    ("time", OBJ, None, TIME),
    ("log", OBJ, None, LOG),
    ("health", OBJ, None, HEALTH),
]
CHECKS_AFTER = []  # fn(cfg, board, errors) run on the whole config, from register_check()


def register_sink_type(kind, validate):
    SINK_VALIDATORS[kind] = validate


def register_check(fn):
    if fn not in CHECKS_AFTER:
        CHECKS_AFTER.append(fn)


def _join(path, key):
    return key if not path else path + "." + key


def _shown(value, path=""):
    if is_secret(path.rsplit(".", 1)[-1]):
        return "a value not shown (a secret)"  # errors reach logs and the API
    s = json.dumps(value)
    return s if len(s) <= 40 else s[:37] + "..."


def _check_int(v, arg, path, errors):
    if not isinstance(v, int) or isinstance(v, bool):
        errors.append("%s: must be an integer, got %s" % (path, _shown(v, path)))
    elif not arg[0] <= v <= arg[1]:
        errors.append("%s: must be from %d to %d, got %d" % (path, arg[0], arg[1], v))
    return v


def _check_str(v, arg, path, errors):
    if not isinstance(v, str):
        errors.append("%s: must be a string, got %s" % (path, _shown(v, path)))
    elif not arg[0] <= len(v) <= arg[1]:
        errors.append("%s: must be %d to %d characters long, got %d" % (path, arg[0], arg[1], len(v)))
    return v


def _check_bool(v, arg, path, errors):
    if not isinstance(v, bool):
        errors.append("%s: must be true or false, got %s" % (path, _shown(v, path)))
    return v


def _check_choice(v, arg, path, errors):
    if isinstance(v, bool) or v not in arg:
        errors.append("%s: must be one of %s, got %s" % (path, ", ".join(_shown(a) for a in arg), _shown(v, path)))
    return v


def _check_name(v, arg, path, errors):
    if not isinstance(v, str) or not 1 <= len(v) <= 32 or any(c not in NAME_CHARS for c in v):
        errors.append("%s: must be 1 to 32 letters, digits, '_' or '-', got %s" % (path, _shown(v, path)))
    return v


def _check_address(v, arg, path, errors):
    """Primary address 0..250 or a 16-hex-digit secondary address (F = wildcard)."""
    if isinstance(v, int) and not isinstance(v, bool):
        if not 0 <= v <= 250:
            errors.append("%s: a primary address must be from 0 to 250, got %d" % (path, v))
        return v
    if isinstance(v, str):
        u = v.upper()
        if len(u) == 16 and all(c in HEX_WILD for c in u):
            return u
    errors.append("%s: must be a primary address 0..250 or 16 hex digits "
                  "(id, manufacturer, version, medium), got %s" % (path, _shown(v, path)))
    return v


def _check_pin(v, arg, path, errors):
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 48):
        errors.append("%s: must be a GPIO number from 0 to 48, got %s" % (path, _shown(v, path)))
    return v


def _check_obj(v, fields, path, errors, defaults=None, closed=True, fill=True):
    """The checked object with defaults filled in; fill False: v itself is
    checked, not copied (a meter; its defaults are taken where it is used)."""
    if not isinstance(v, dict):
        errors.append("%s: must be an object, got %s" % (path or "config", _shown(v, path)))
        return {}
    for key in v:
        if closed and not any(f[0] == key for f in fields):
            errors.append("%s: unknown key (known: %s)" % (_join(path, key), ", ".join(f[0] for f in fields)))
    out = {} if fill else v
    for key, kind, default, arg in fields:
        p = _join(path, key)
        if key in v:
            value = v[key]
        elif defaults and key in defaults:
            value = defaults[key]
        elif default is REQUIRED:
            errors.append("%s: missing" % p)
            continue
        elif kind == OBJ:
            value = {}
        elif kind == METERS:
            value = []  # an empty meter table
        else:
            if fill:
                out[key] = default
            continue
        sub = defaults.get(key) if defaults and kind == OBJ else None
        value = _check(kind, value, arg, p, errors, sub)
        if fill:
            out[key] = value
    return out


def _check_list(v, arg, path, errors):
    kind, item_arg, most = arg
    if not isinstance(v, list):
        errors.append("%s: must be a list, got %s" % (path, _shown(v, path)))
        return []
    if len(v) > most:
        errors.append("%s: at most %d entries, got %d" % (path, most, len(v)))
    return [_check(kind, item, item_arg, "%s[%d]" % (path, i), errors) for i, item in enumerate(v)]


def _check_sink(v, arg, path, errors):
    """The shape every sink shares; its type's validator (if loaded) checks the rest."""
    n = len(errors)
    out = _check_obj(v, SINK_SHAPE, path, errors, closed=False)
    if len(errors) > n:
        return out
    check = SINK_VALIDATORS.get(out["type"])
    return check(v, path, errors) if check is not None else dict(v)


def _check_meters(v, arg, path, errors):
    """The meters as a scheduler.Table, checked one at a time (v is a list
    or a json_items.Items that parses each meter as its turn comes): no
    meter is copied, and only the table stays."""
    from scheduler import Table

    fields, most = arg
    if not isinstance(v, list) and not hasattr(v, "mapped"):  # a list, or a json_items.Items
        errors.append("%s: must be a list, got %s" % (path, _shown(v, path)))
        return Table(0)
    n = len(v)
    if n > most:
        errors.append("%s: at most %d entries, got %d" % (path, most, n))
    table = Table(min(n, most))
    names = bytearray(b"\n")  # of the meters so far, to find a name used twice
    for i, m in enumerate(v):
        p = "%s[%d]" % (path, i)
        _check_obj(m, fields, p, errors, fill=False)
        name = m.get("name") if isinstance(m, dict) else None
        if isinstance(name, str) and i < most:  # past the limit each name would still take heap
            key = name.encode() + b"\n"
            if names.find(b"\n" + key) >= 0:
                errors.append("%s.name: meter name %s is used twice" % (p, _shown(name)))
            names += key
        if errors or i >= most:
            continue  # the table is of no use now: its rows are not filled any more
        if _field(m, fields, "enabled"):
            _add_meter(table, m, fields)
        else:
            table.off += (name,)
    return table


def _field(obj, fields, key):
    """obj[key], or the default the fields table gives it."""
    if key in obj:
        return obj[key]
    for f in fields:
        if f[0] == key:
            return f[2]


def _add_meter(t, m, fields):
    """Meter m (checked) as the next row of scheduler.Table t."""
    from binascii import unhexlify

    i = t.n
    t.starts[i] = len(t.names)
    t.names += m["name"].encode() + b"\n"
    address = m["address"]
    if isinstance(address, int):
        t.addr[9 * i] = address
    else:
        t.addr[9 * i] = 255  # scheduler._SECONDARY: the secondary address follows
        t.addr[9 * i + 1:9 * i + 9] = unhexlify(address)
    t.opts[i] = _field(m, fields, "max_frames") | (0x80 if _field(m, fields, "multi") else 0)  # scheduler._MULTI
    t.interval_ms[i] = _field(m, fields, "interval_s") * 1000
    t.n = i + 1


CHECKS = (_check_int, _check_str, _check_bool, _check_choice, _check_obj, _check_list,
          _check_address, _check_name, _check_pin, _check_sink, _check_meters)


def _check(kind, value, arg, path, errors, defaults=None):
    if kind == OBJ:
        return _check_obj(value, arg, path, errors, defaults)
    return CHECKS[kind](value, arg, path, errors)


def _unique(items, what, path, errors):
    seen = []
    for i, item in enumerate(items):
        name = item.get("name")
        if name in seen:
            errors.append("%s[%d].name: %s name %s is used twice" % (path, i, what, _shown(name)))
        seen.append(name)


def _check_board(cfg, board, errors):
    """What only the board can tell: network kinds, UART ids, pins in use."""
    net = cfg.get("network", {})
    kinds = board.get("network", ())
    if net.get("kind") and net["kind"] not in kinds:
        errors.append("network.kind: board %s offers %s, not %s" % (board.get("board"), ", ".join(kinds), _shown(net["kind"])))
    if net.get("kind") == "wifi" and not net.get("ssid"):
        errors.append("network.ssid: missing (needed when network.kind is \"wifi\")")
    bus = cfg.get("bus", {})
    if bus.get("kind") == "tcp" and not bus.get("port"):
        errors.append("bus.port: missing (needed when bus.kind is \"tcp\")")
    if bus.get("kind") != "uart":
        return
    uarts = board.get("uarts", ())
    if bus.get("uart") not in uarts:
        errors.append("bus.uart: board %s has UART %s for the bus, got %s" % (
            board.get("board"), " or ".join(str(u) for u in uarts) or "none", _shown(bus.get("uart"))))
    reserved = board.get("reserved_pins", {})
    gpios = board.get("gpios")
    pins = {}
    for key in ("tx", "rx"):
        pin = bus.get(key)
        if pin is None:
            errors.append("bus.%s: missing (this board has no default pin)" % key)
        elif not isinstance(pin, int) or isinstance(pin, bool) or not 0 <= pin <= 48:
            continue  # named by the field check
        elif gpios is not None and pin not in gpios:
            errors.append("bus.%s: %s has no GPIO %d (its GPIOs: %s)" % (key, board.get("board"), pin, _spans(gpios)))
        elif str(pin) in reserved:
            errors.append("bus.%s: GPIO %d is %s on %s" % (key, pin, reserved[str(pin)], board.get("board")))
        elif key == "tx" and pin in board.get("input_only_pins", ()):
            errors.append("bus.tx: GPIO %d can only be an input, it cannot drive the converter's TXD" % pin)
        else:
            pins[key] = pin
    if "tx" in pins and pins.get("rx") == pins["tx"]:
        errors.append("bus.rx: must be another GPIO than bus.tx (both are GPIO %d)" % pins["tx"])


def _spans(numbers):
    """ "0-19, 21-23, 39" for a sorted list of ints."""
    out = []
    for n in numbers:
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ", ".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in out)


def _placeholders(value, path, errors):
    """A secret that is still REDACTED: a GET /api/config answer sent back
    where no secret is stored to keep (or copied into config.json)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if v == REDACTED and is_secret(k):
                errors.append("%s: %s is the placeholder GET /api/config shows; no secret is stored here "
                              "to keep, so give the secret itself" % (_join(path, k), REDACTED))
            else:
                _placeholders(v, _join(path, k), errors)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _placeholders(v, "%s[%d]" % (path, i), errors)


def validate(raw, board):
    """Return (config with defaults filled in, list of error strings); its
    "meters" is a scheduler.Table of the enabled meters (filled only as
    long as no mistake is found)."""
    errors = []
    cfg = _check_obj(raw, TOP, "", errors, board.get("defaults", {}))
    if isinstance(raw, dict):
        _placeholders(raw, "", errors)
        _unique(cfg.get("sinks", ()), "sink", "sinks", errors)
        _check_board(cfg, board, errors)
        for fn in CHECKS_AFTER:
            fn(cfg, board, errors)
    return cfg, errors


def parse(text, board):
    """(config, raw dict, errors) from JSON text (str or bytes); raw is None
    when it is not JSON. The raw "meters" is a json_items.Items."""
    raw, errors = stored_config.parse(text)
    if raw is None:
        return None, None, errors
    cfg, errors = validate(raw, board)
    return cfg, raw, errors


read = stored_config.read  # (raw dict or None, errors) of the file on flash, not yet validated


def load(board, path=PATH):
    """(config, raw dict or None, errors) from the file on flash."""
    raw, errors = read(path)
    if raw is None:
        return None, None, errors
    cfg, errors = validate(raw, board)
    return cfg, raw, errors


def crash_limit(raw):
    """health.max_boot_crashes of a raw config, before it is validated (boot
    decides on crash safe mode before the extensions are loaded)."""
    try:
        v = raw["health"]["max_boot_crashes"]
    except (KeyError, TypeError, IndexError):
        return MAX_BOOT_CRASHES
    if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 20:
        return v
    return MAX_BOOT_CRASHES


def save(raw, path=PATH):
    fsutil.write_atomic(path, json.dumps(raw))


def keep_secrets(new, old):
    """Put the stored secrets back where a PUT sent REDACTED (from a GET round trip)."""
    if isinstance(new, dict) and isinstance(old, dict):
        for k, v in new.items():
            if v == REDACTED and is_secret(k):
                if k in old:
                    new[k] = old[k]
            else:
                keep_secrets(v, old.get(k))
    elif isinstance(new, list) and isinstance(old, list):
        # list entries are matched by name (meters, sinks), else by position
        for i, v in enumerate(new):
            match = None
            if isinstance(v, dict) and "name" in v:
                for o in old:
                    if isinstance(o, dict) and o.get("name") == v["name"]:
                        match = o
            elif i < len(old):
                match = old[i]
            keep_secrets(v, match)
    return new


def secrets(value, out=None):
    """Every secret string in a config, for the log's masking."""
    if out is None:
        out = []
    if isinstance(value, dict):
        for k, v in value.items():
            if is_secret(k) and isinstance(v, str) and v:
                out.append(v)
            else:
                secrets(v, out)
    elif isinstance(value, list):
        for v in value:
            secrets(v, out)
    return out
