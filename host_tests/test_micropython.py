"""The decoder on the MicroPython unix port: the same JSON as CPython for
every corpus frame, and every frame decoded within a 32 KB heap from .mpy."""
import json
import os

import pytest

import mbus
from build_mpy import compile_one, sources
from conftest import CORPUS, run_micropython
from datetime_cases import DATE_TIME_INVALID, DATE_TIME_VALUES, DAYLIGHT_SAVING_INVALID, DAYLIGHT_SAVING_VALUES

FOLDERS = [os.path.join(CORPUS, d) for d in ("test-frames", "error-frames", "unsupported-frames")]
SCRIPT = os.path.join(os.path.dirname(__file__), "mp", "decode_corpus.py")


def cpython_result(path):
    with open(path) as f:
        text = f.read()
    try:
        return {"file": os.path.basename(path), "telegram": mbus.decode(mbus.from_hex(text))}
    except mbus.MBusError as e:
        return {"file": os.path.basename(path), "error": "%s: %s" % (type(e).__name__, e)}


def assert_same_json(folders):
    """Decode every .hex file of folders on both interpreters; return the count."""
    r = run_micropython([SCRIPT] + folders)
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    assert lines[-1] == "decoded %d files" % (len(lines) - 1)
    results = {json.loads(line)["file"]: line for line in lines[:-1]}
    seen = 0
    for folder in folders:
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".hex"):
                continue
            ours = cpython_result(os.path.join(folder, name))
            # MicroPython's dicts do not keep insertion order: compare the
            # parsed JSON, which compares every key, value and float exactly.
            assert json.loads(results[name]) == json.loads(json.dumps(ours)), name
            seen += 1
    assert seen == len(lines) - 1
    return seen


def test_same_json_as_cpython_for_every_corpus_frame(corpus):
    assert assert_same_json(FOLDERS) == 103


def test_same_json_as_cpython_for_date_time_types(tmp_path):
    header = "78563412" "2D2C" "01" "04" "2A" "00" "0000"
    cases = DATE_TIME_VALUES + DATE_TIME_INVALID + DAYLIGHT_SAVING_VALUES + DAYLIGHT_SAVING_INVALID
    for k, case in enumerate(cases):
        data = bytes.fromhex((header + case[0]).replace(" ", ""))
        (tmp_path / ("case%02d.hex" % k)).write_text(mbus.frame.long_frame(0x08, 0x01, 0x72, data).hex())
    assert assert_same_json([str(tmp_path)]) == len(cases)


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
    lines = r.stdout.decode().splitlines()
    assert lines[-1] == "decoded 103 files"
    # Each outcome is CPython's: a frame that did not fit the heap ("does not
    # fit the free heap", a DecodeError) fails here instead of counting.
    got = dict(line.split(": ", 1) for line in lines[:-1])
    want = {}
    for folder in FOLDERS:
        for name in os.listdir(folder):
            if name.endswith(".hex"):
                out = cpython_result(os.path.join(folder, name))
                want[name] = out.get("error", "ok")
    assert got == want

