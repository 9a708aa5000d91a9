# The config file as stored, without its checker (config.py, 15 KB of
# tables and rules, is loaded only to validate): reading it raw and hiding
# its secrets, all GET /api/config needs. Its "meters" array stays JSON
# text, each meter parsed when its turn comes (json_items.py).
import fsutil

PATH = "config.json"
REDACTED = "***"  # what GET /api/config shows for a secret; PUT keeps the stored value


def is_secret(key):
    return key in ("password", "token", "secret", "psk") or key.endswith(("_password", "_token", "_secret"))


def redact(value):
    """A copy of a config (or any part) with every secret replaced by REDACTED
    (a json_items.Items: redacted as it is iterated)."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret(k) and v else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if hasattr(value, "mapped"):
        return value.mapped(redact)
    return value


def _load(src):
    from compat import unload

    import json_items
    try:
        return json_items.load(src, "meters"), []
    except ValueError as e:  # also UnicodeError
        return None, ["not valid JSON: %s" % e]
    finally:
        unload("json_items")  # its Items stay usable


def parse(text):
    """(raw dict or None, errors) of JSON text (str or bytes): None when it
    is not JSON. A top-level "meters" array is a json_items.Items."""
    return _load(text.encode() if isinstance(text, str) else bytes(text))


def read(path=PATH):
    """(raw dict or None, errors) of the file on flash; its "meters" array
    is a json_items.Items that reads the file again when it is iterated."""
    fsutil.recover(path)
    if not fsutil.exists(path):
        return None, ["%s not found: upload one (see README, \"Configuration\")" % path]
    try:
        return _load(path)
    except OSError as e:
        return None, ["%s not readable: %s" % (path, e)]
