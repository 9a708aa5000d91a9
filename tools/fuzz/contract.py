# The contract every fuzz campaign checks a decoded telegram against, and the
# link-layer fix-up that lets a mutated frame reach the application layer.
# Small on purpose: the MicroPython runner (mutate.py) loads it next to the
# decoder in a 32wK heap; oracle.py builds the CPython checks on it.
import json
import sys

PLAIN = (str, int, float, bool)
ROUND_TRIP = sys.implementation.name != "micropython"


class Finding(AssertionError):
    """The input broke a robustness property (not an MBusError)."""


def json_ready(x, key=None):
    """Only JSON types, str keys, finite floats (strict JSON has no NaN/inf).
    Allocates nothing unless it fails: it also runs in a 32wK heap."""
    t = type(x)
    if t is float:
        if x != x or x - x != 0:
            raise Finding("non-finite float %r under key %r" % (x, key))
    elif t is dict:
        for k in x:
            if type(k) is not str:
                raise Finding("non-str key %r under key %r" % (k, key))
            json_ready(x[k], k)
    elif t is list:
        for v in x:
            json_ready(v, key)
    elif x is not None and t not in PLAIN:
        raise Finding("%s under key %r is not a JSON type" % (t.__name__, key))


def error_label(e):
    """The MBusError's class name; one without a message is a finding."""
    if not str(e):
        raise Finding("%s without a message" % type(e).__name__)
    return type(e).__name__


def check_telegram(tg):
    """The decoded-telegram contract (README "The JSON telegram")."""
    if type(tg) is not dict:
        raise Finding("decode returned %s" % type(tg).__name__)
    for key in ("frame", "header", "records", "more_records_follow"):
        if key not in tg:
            raise Finding("telegram lacks %r" % key)
    json_ready(tg)
    for r in tg["records"]:
        if r.get("function") not in ("instantaneous", "maximum", "minimum", "error"):
            raise Finding("record function %r" % r.get("function"))
        for key in ("storage", "tariff", "subunit"):
            if type(r.get(key)) is not int:
                raise Finding("record %s is %r" % (key, r.get(key)))
    # The round trip needs twice the telegram's heap: CPython only (on
    # MicroPython the type walk above is what can run in a 32wK heap).
    if ROUND_TRIP and json.loads(json.dumps(tg)) != tg:
        raise Finding("telegram does not survive a JSON round trip")


def fix_up(data):
    """data as a long frame with its length fields, checksum and stop byte
    made right, so a mutation reaches the application layer; None when it
    cannot be one (too short for C, A, CI or longer than 255 user bytes)."""
    n = len(data) - 6
    if n < 3 or n > 255:
        return None
    b = bytearray(data)
    b[0] = b[3] = 0x68
    b[1] = b[2] = n
    s = 0
    for k in range(4, 4 + n):
        s += b[k]
    b[4 + n] = s & 0xFF
    b[5 + n] = 0x16
    return bytes(b)
