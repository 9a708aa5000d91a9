"""The fuzz campaigns in short (`make fuzz` runs them long, tools/fuzz/campaign.py),
and the regression corpus of what they found (host_tests/fuzz_regressions/):
each input there broke a robustness property once and is fixed in lib/mbus.
"""
import json
import os
import subprocess
import sys

import pytest

import mbus
from conftest import ROOT, run_micropython
from mbus import frame, tables

FUZZ = os.path.join(ROOT, "tools", "fuzz")
sys.path.insert(0, FUZZ)
import campaign  # noqa: E402
import oracle  # noqa: E402
import seeds  # noqa: E402

REGRESSIONS = os.path.join(os.path.dirname(__file__), "fuzz_regressions")
HEADER = bytes.fromhex("78563412" "2D2C" "01" "04" "2A" "00" "0000")


def regression(name):
    with open(os.path.join(REGRESSIONS, name)) as f:
        return mbus.from_hex("".join(line for line in f if not line.startswith("#")))


def regression_names():
    return sorted(n for n in os.listdir(REGRESSIONS) if n.endswith(".hex"))


def write_pack(path, frames):
    with open(path, "wb") as f:
        for fr in frames:
            f.write(len(fr).to_bytes(2, "little") + fr)


@pytest.fixture(scope="module")
def mpy(tmp_path_factory):
    """The .mpy build of lib/ and of the MicroPython fuzzing scripts."""
    return campaign.build_mpy(str(tmp_path_factory.mktemp("fuzz")))


# -- regression corpus ------------------------------------------------------------

@pytest.mark.parametrize("name", regression_names())
def test_regression_input_breaks_nothing_on_cpython(name):
    data = regression(name)
    oracle.check_all(data)
    oracle.check_decoders(data[6:-2])


def test_regression_corpus_on_micropython_in_32k_heap(tmp_path, mpy):
    pack = str(tmp_path / "regressions.bin")
    write_pack(pack, [regression(n) for n in regression_names()])
    res, r, _ = campaign.run_mutate("micropython", ["--as-is", pack], mpy)
    assert r.returncode == 0, r.stdout + r.stderr
    assert res["inputs"] == len(regression_names()) and res["findings"] == 0


@pytest.mark.parametrize("name", ["real_infinity.hex", "real_negative_infinity_fb.hex"])
def test_infinite_real_is_an_invalid_value_not_a_float(name):
    rec = mbus.decode(regression(name))["records"][0]
    assert rec["value"] is None and rec["invalid"] == "value is not a finite number"
    json.loads(json.dumps(rec, allow_nan=False))


def test_largest_finite_real_still_decodes():
    tg = mbus.decode(frame.long_frame(8, 1, 0x72, HEADER + bytes.fromhex("0513FFFF7F7F")))
    assert tg["records"][0]["value"] == pytest.approx(3.4028234663852886e35)


def test_name_store_stays_bounded_however_many_names_telegrams_use():
    # Every VIF of the FDh table, one telegram each: names are interned once
    # per entry of the names table, so the store never outgrows that table.
    for code in range(0x80):
        mbus.decode(frame.long_frame(8, 1, 0x72, HEADER + bytes((0x01, 0xFD, code, 0x01))))
    table_size = len(tables._STARTS) // 2 - 1
    for k in range(table_size):
        assert tables.name(k) is not None
    assert len(tables._names) <= table_size


def test_telegram_that_outgrows_the_heap_is_a_decode_error_on_micropython(tmp_path, mpy):
    # Ballast leaves ~4 KB of heap beside the decoder (.mpy): the 33-record
    # telegram cannot fit, and what comes out must be an MBusError. Without
    # the ballast it decodes.
    path = tmp_path / "dense.hex"
    path.write_text(regression("dense_33_records.hex").hex())
    script = ("import gc, sys, mbus\n"
              "data = mbus.from_hex(open(%r).read())\n"
              "mbus.decode\n"
              "gc.collect()\n"
              "ballast = []\n"
              "while gc.mem_free() > int(sys.argv[1]):\n"
              "    ballast.append(bytearray(400))\n"
              "try:\n"
              "    mbus.decode(data)\n"
              "    print('decoded')\n"
              "except mbus.MBusError as e:\n"
              "    print(type(e).__name__, e)\n") % str(path)
    env = {"MICROPYPATH": mpy[0]}
    r = run_micropython(["-c", script, "4000"], heap="64wK", env=env)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert r.stdout.decode().strip() == "DecodeError telegram of 242 bytes does not fit the free heap (at byte 6)"
    r = run_micropython(["-c", script, "100000"], heap="64wK", env=env)
    assert r.stdout.decode().strip() == "decoded"


# -- the campaigns, short -----------------------------------------------------------

@pytest.mark.parametrize("target", ["decode", "framer"])
def test_atheris_short_run(tmp_path, corpus, target):
    seeds.write_seeds(corpus, str(tmp_path / "seeds"))
    (tmp_path / "kept").mkdir()
    r = subprocess.run([sys.executable, os.path.join(FUZZ, "atheris_fuzz.py"), target, str(tmp_path / "kept"),
                        str(tmp_path / "seeds"), "-runs=3000", "-seed=1", "-max_len=300", "-timeout=10",
                        "-dict=" + os.path.join(FUZZ, "mbus.dict"), "-artifact_prefix=%s/" % tmp_path],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Done 3000 runs" in r.stderr


def test_micropython_mutation_short_run_agrees_with_cpython(tmp_path, corpus, mpy):
    pack = str(tmp_path / "seeds.bin")
    seeds.write_pack(corpus, pack)
    args = ["--count", "400", "--seed", "7", pack]
    mp, r, _ = campaign.run_mutate("micropython", args, mpy)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    cp, rc, _ = campaign.run_mutate("cpython", args)
    assert rc.returncode == 0, rc.stdout[-3000:] + rc.stderr[-3000:]
    assert mp["inputs"] == cp["inputs"] == 400 and mp["findings"] == cp["findings"] == 0
    assert campaign.outcomes_agree(mp["outcomes"], cp["outcomes"])


def test_outcomes_agree_only_when_heap_errors_explain_the_difference():
    cp = {"decode:ok": 5, "decode:DecodeError": 3}
    assert campaign.outcomes_agree({"decode:ok": 4, "decode:heap": 2, "decode:DecodeError": 2}, cp)
    assert not campaign.outcomes_agree({"decode:ok": 6, "decode:DecodeError": 2}, cp)
    assert not campaign.outcomes_agree({"decode:ok": 5, "decode:DecodeError": 2, "decode:FrameError": 1}, cp)
