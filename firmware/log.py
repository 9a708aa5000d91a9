# Log lines go to the console and to a small ring buffer that the local API
# serves. Secret values (passwords, tokens) registered with add_secret() are
# masked in every line, whatever code wrote it.
from compat import const, print_exception, uptime_ms

DEBUG = const(10)
INFO = const(20)
WARNING = const(30)
ERROR = const(40)
LEVEL_NAMES = ("debug", "info", "warning", "error")  # index: level // 10 - 1
MASK = "***"

_ring = [None] * 30
_next = 0
_level = INFO
_secrets = []
counts = [0, 0, 0, 0]  # lines written per level since boot


def setup(level="info", lines=30):
    global _ring, _next, _level
    _level = (LEVEL_NAMES.index(level) + 1) * 10
    if lines != len(_ring):
        _ring = [None] * lines
        _next = 0


def add_secret(value):
    if isinstance(value, str) and len(value) >= 3 and value not in _secrets:
        _secrets.append(value)


def mask(text):
    for s in _secrets:
        if s in text:
            text = text.replace(s, MASK)
    return text


def log(level, msg, *args):
    global _next
    counts[level // 10 - 1] += 1
    if level < _level:
        return
    if args:
        msg = msg % args
    ms = uptime_ms()
    line = mask("%d.%03d %s %s" % (ms // 1000, ms % 1000, LEVEL_NAMES[level // 10 - 1].upper(), msg))
    print(line)
    _ring[_next] = line
    _next = (_next + 1) % len(_ring)


def debug(msg, *args):
    log(DEBUG, msg, *args)


def info(msg, *args):
    log(INFO, msg, *args)


def warning(msg, *args):
    log(WARNING, msg, *args)


def error(msg, *args):
    log(ERROR, msg, *args)


def exception(msg, exc):
    """One line naming the exception in the ring; the traceback on the console."""
    log(ERROR, "%s: %s: %s", msg, type(exc).__name__, exc)
    print_exception(exc)


def lines():
    """Buffered lines, oldest first."""
    n = len(_ring)
    out = []
    for i in range(n):
        line = _ring[(_next + i) % n]
        if line is not None:
            out.append(line)
    return out
