"""CPython and the MicroPython unix port must decode a frame alike: the same
JSON, or the same error class and message. One MicroPython process serves
every frame of a test module (frames go in as hex lines on its stdin)."""
import atexit
import json
import os
import subprocess

import mbus
from conftest import LIB, MICROPYTHON, ROOT

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp", "decode_lines.py")
_process = []


def cpython_outcome(data):
    try:
        return {"telegram": json.loads(json.dumps(mbus.decode(data)))}
    except mbus.MBusError as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}


def micropython_outcome(data):
    if not _process:
        env = dict(os.environ, MICROPYPATH=LIB)
        p = subprocess.Popen([MICROPYTHON, SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, cwd=ROOT)
        _process.append(p)
        atexit.register(_stop, p)
    p = _process[0]
    p.stdin.write(bytes(data).hex().encode() + b"\n")
    p.stdin.flush()
    line = p.stdout.readline()
    if not line:
        _process.clear()
        raise AssertionError("MicroPython stopped: %s" % p.stderr.read().decode())
    return json.loads(line)


def _stop(p):
    p.stdin.close()
    p.wait(10)


def assert_same(data):
    """CPython's outcome for the frame data, checked against MicroPython's."""
    ours = cpython_outcome(data)
    theirs = micropython_outcome(data)
    # Parsed JSON compares every key, value and float exactly.
    assert theirs == ours, "MicroPython decodes %s otherwise:\n  CPython     %s\n  MicroPython %s" % (
        bytes(data).hex(), ours, theirs)
    return ours
