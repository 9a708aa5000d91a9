import json
import os
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
sys.path.insert(0, LIB)
sys.path.insert(0, os.path.join(ROOT, "tools"))

CORPUS = os.path.abspath(os.environ.get("MBUS_CORPUS", os.path.join(ROOT, "..", "shared", "corpus", "libmbus")))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")

# A shell that starts `make test` in the background (no job control) starts
# it with SIGINT ignored, and every process the tests start would inherit
# that: the tests that stop a command with Ctrl-C would wait in vain. A
# handler (not an ignore) is reset to the default in each child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def read_hex(path):
    with open(path) as f:
        return bytes.fromhex("".join(f.read().split()))


def corpus_files(folder, ext=".hex"):
    d = os.path.join(CORPUS, folder)
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(ext))


def run_micropython(args, heap=None, stdin=None, timeout=120, cwd=ROOT, env=None):
    """Run the MicroPython unix port with lib/ on its path; return CompletedProcess."""
    cmd = [MICROPYTHON]
    if heap:
        cmd += ["-X", "heapsize=" + heap]
    e = dict(os.environ)
    e["MICROPYPATH"] = ".frozen:" + LIB + ":" + os.path.join(ROOT, "firmware")
    if env:
        e.update(env)
    return subprocess.run(cmd + list(args), input=stdin, capture_output=True, timeout=timeout, cwd=cwd, env=e)



def micropython_json(code, cwd, heap="112wK", timeout=60, env=None):
    """Run code on the MicroPython unix port; it must succeed, and the JSON
    of the last line it prints is returned."""
    r = run_micropython(["-c", code], heap=heap, cwd=str(cwd), timeout=timeout, env=env)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()[-3000:]
    return json.loads(r.stdout.decode().strip().splitlines()[-1])

@pytest.fixture(scope="session")
def corpus():
    if not os.path.isdir(CORPUS):
        pytest.fail("corpus not found at %s (set MBUS_CORPUS or put ../shared beside the clone)" % CORPUS)
    return CORPUS
