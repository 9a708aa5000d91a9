"""The decoder on the MicroPython unix port: the same JSON as CPython for
every corpus frame, and every frame decoded within a 32 KB heap from .mpy."""
import json
import os

import pytest

import mbus
from build_mpy import compile_one, sources
from conftest import CORPUS, run_micropython

FOLDERS = [os.path.join(CORPUS, d) for d in ("test-frames", "error-frames", "unsupported-frames")]
SCRIPT = os.path.join(os.path.dirname(__file__), "mp", "decode_corpus.py")


def cpython_result(path):
    with open(path) as f:
        text = f.read()
    try:
        return {"file": os.path.basename(path), "telegram": mbus.decode(mbus.from_hex(text))}
    except mbus.MBusError as e:
        return {"file": os.path.basename(path), "error": "%s: %s" % (type(e).__name__, e)}


def test_same_json_as_cpython_for_every_corpus_frame(corpus):
    r = run_micropython([SCRIPT] + FOLDERS)
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    assert lines[-1] == "decoded %d files" % (len(lines) - 1)
    results = {json.loads(line)["file"]: line for line in lines[:-1]}
    seen = 0
    for folder in FOLDERS:
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".hex"):
                continue
            ours = cpython_result(os.path.join(folder, name))
            # MicroPython's dicts do not keep insertion order: compare the
            # parsed JSON, which compares every key, value and float exactly.
            assert json.loads(results[name]) == json.loads(json.dumps(ours)), name
            seen += 1
    assert seen == len(lines) - 1 == 103


@pytest.fixture(scope="module")
def mpy_lib(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("mpy"))
    for rel in sources(("lib",)):
        compile_one(rel, out)
    return os.path.join(out, "lib")


def test_mpy_build_decodes_every_frame_in_32k_heap(corpus, mpy_lib):
    assert not os.path.exists(os.path.join(mpy_lib, "mbus", "telegram.py"))
    r = run_micropython([SCRIPT, "--quiet"] + FOLDERS, heap="32wK", env={"MICROPYPATH": mpy_lib})
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().strip() == "decoded 103 files"
