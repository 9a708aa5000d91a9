"""The public API of the mbus package: names, input types, merge, hex, CLI."""
import json
import os
import subprocess
import sys

import pytest

import mbus
from mbus import DecodeError, FrameError, MBusError, frame
from conftest import CORPUS, LIB, read_hex

KAMSTRUP = os.path.join(CORPUS, "test-frames", "kamstrup_multical_601.hex")


def test_public_names():
    for name in ("decode", "decode_user_data", "merge", "from_hex", "MBusError", "FrameError",
                 "DecodeError", "UnsupportedError", "__version__"):
        assert hasattr(mbus, name)
    assert not hasattr(mbus, "no_such_thing")
    from mbus import decode  # noqa: F401  lazy names import like plain ones


def test_import_mbus_is_lean():
    """import mbus loads the errors only; decoding loads the decoder, never argparse."""
    code = ("import sys; import mbus; a = sorted(m for m in sys.modules if m.startswith('mbus'));"
            "mbus.decode(bytes.fromhex('6803036808017079 16'.replace(' ', '')));"
            "b = sorted(m for m in sys.modules if m.startswith('mbus'));"
            "print(a, b, 'argparse' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": LIB},
                         check=True).stdout
    assert out.strip() == ("['mbus', 'mbus.errors'] ['mbus', 'mbus.errors', 'mbus.frame', 'mbus.tables', "
                           "'mbus.telegram', 'mbus.values'] False")


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, lambda b: memoryview(bytearray(b))])
def test_input_types_decode_alike(wrap):
    raw = read_hex(KAMSTRUP)
    assert mbus.decode(wrap(raw)) == mbus.decode(raw)


def test_exotic_memoryviews_decode_alike():
    raw = read_hex(KAMSTRUP)
    assert mbus.decode(memoryview(raw).cast("b")) == mbus.decode(raw)
    doubled = bytes(b for x in raw for b in (x, 0))
    assert mbus.decode(memoryview(doubled)[::2]) == mbus.decode(raw)


@pytest.mark.parametrize("bad", ["68 03 03 68", None, 42, [0x68], 1.5])
def test_non_bytes_input_is_a_decode_error(bad):
    with pytest.raises(DecodeError, match="expected bytes"):
        mbus.decode(bad)
    with pytest.raises(DecodeError):
        mbus.decode_user_data(bad)


def test_decode_user_data_matches_decode():
    raw = read_hex(KAMSTRUP)
    whole = mbus.decode(raw)
    ud = mbus.decode_user_data(raw[6:-2])
    assert ud["frame"] == {"type": "user_data", "c": None, "a": None, "ci": 0x72}
    assert {k: v for k, v in ud.items() if k != "frame"} == {k: v for k, v in whole.items() if k != "frame"}
    with pytest.raises(DecodeError, match="CI field is missing"):
        mbus.decode_user_data(b"")


def test_error_offsets_of_user_data_count_from_the_ci_field():
    with pytest.raises(DecodeError) as e:
        mbus.decode_user_data(bytes.fromhex("78 04 13 0000"))
    assert e.value.offset == 3


def two_frames():
    first = frame.long_frame(8, 1, 0x72, bytes.fromhex("78563412 2D2C 01 04 01 00 0000 04 13 E8030000 1F"))
    second = frame.long_frame(8, 1, 0x72, bytes.fromhex("78563412 2D2C 01 04 02 00 0000 02 5B 2A00 0F AA"))
    return mbus.decode(first), mbus.decode(second)


def test_merge_consecutive_telegrams():
    a, b = two_frames()
    assert a["more_records_follow"] and not b["more_records_follow"]
    m = mbus.merge([a, b])
    assert m["frame"] == a["frame"] and m["header"] == a["header"]
    assert m["records"] == a["records"] + b["records"]
    assert m["more_records_follow"] is False
    assert m["manufacturer_data"] == "AA"
    assert a["more_records_follow"] is True and len(a["records"]) == 1  # inputs untouched
    assert json.loads(json.dumps(m)) == m
    assert mbus.merge([a]) == dict(a, more_records_follow=False)


def test_merge_refuses_other_meters_and_nothing():
    a, b = two_frames()
    other = mbus.decode(frame.long_frame(8, 1, 0x72, bytes.fromhex("11111111 2D2C 01 04 02 00 0000")))
    with pytest.raises(DecodeError, match="telegram 1 comes from meter 111111112D2C0104"):
        mbus.merge([a, other])
    with pytest.raises(DecodeError, match="no telegrams"):
        mbus.merge([])


def test_from_hex():
    assert mbus.from_hex("68 03\n03\t68") == b"\x68\x03\x03\x68"
    assert mbus.from_hex("") == b""
    with pytest.raises(FrameError, match="odd number of hex digits") as e:
        mbus.from_hex("68 0")
    assert e.value.offset == 1
    with pytest.raises(FrameError, match="'x' is not a hex digit") as e:
        mbus.from_hex("68 0x")
    assert e.value.offset == 1
    with pytest.raises(FrameError, match="must be a str"):
        mbus.from_hex(b"68")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mbus"] + list(args), capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=LIB))


def test_cli_decodes_a_file_and_hex(tmp_path):
    r = run_cli("decode", KAMSTRUP)
    assert r.returncode == 0 and json.loads(r.stdout) == mbus.decode(read_hex(KAMSTRUP))
    r = run_cli("decode", "68 03 03 68 08 01 70 79 16", "--indent", "0")
    assert r.returncode == 0 and json.loads(r.stdout)["error"]["message"] == "unspecified error"
    binary = tmp_path / "frame.bin"
    binary.write_bytes(read_hex(KAMSTRUP))
    r = run_cli("decode", str(binary))
    assert r.returncode == 0 and json.loads(r.stdout)["header"]["id"] == "06855817"
    r = run_cli("decode", "--user-data", "78 04 13 E8030000")
    assert r.returncode == 0 and json.loads(r.stdout)["records"][0]["value"] == 1.0


def test_cli_reports_errors():
    r = run_cli("decode", "68 03")
    assert r.returncode == 1 and r.stderr.startswith("error: frame truncated")
    r = run_cli()
    assert r.returncode == 2 and "COMMAND" in r.stderr


def test_errors_are_mbus_errors_with_offset():
    with pytest.raises(MBusError) as e:
        mbus.decode(b"\x10\x5b\x01\x5d\x16")
    assert e.value.offset == 3 and "(at byte 3)" in str(e.value)
