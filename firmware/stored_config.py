# The config file as stored, without its checker (config.py, 15 KB of
# tables and rules, is loaded only to validate): reading it raw and hiding
# its secrets, all GET /api/config needs.
import json

import fsutil

PATH = "config.json"
REDACTED = "***"  # what GET /api/config shows for a secret; PUT keeps the stored value


def is_secret(key):
    return key in ("password", "token", "secret", "psk") or key.endswith(("_password", "_token", "_secret"))


def redact(value):
    """A copy of a config (or any part) with every secret replaced by REDACTED."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret(k) and v else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def parse(text):
    """(raw dict or None, errors): None when text is not JSON."""
    try:
        return json.loads(text), []
    except ValueError as e:
        return None, ["not valid JSON: %s" % e]


def read(path=PATH):
    """(raw dict or None, errors) of the file on flash."""
    try:
        text = fsutil.read_text(path)
    except OSError:
        return None, ["%s not found: upload one (see README, \"Configuration\")" % path]
    return parse(text)
