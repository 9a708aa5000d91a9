"""Meter totals keep every digit: a record scaled by a negative power of ten
carries its exact decimal text beside the float value (the ESP32's floats
are single precision: about 7 digits), and what the gateway forwards to Home
Assistant is built from that text, never from the rounded float."""
import io
import json
import os
import struct
import sys

import pytest

import mbus
from mbus import frame
from mbus.values import decimal
from conftest import ROOT, corpus_files, read_hex, run_micropython

sys.path.insert(0, os.path.join(ROOT, "firmware"))
import fields  # noqa: E402
import reading_json  # noqa: E402

HEADER = bytes.fromhex("78563412 2C2D 01 07 05 00 0000".replace(" ", ""))


def telegram(records):
    return mbus.decode(frame.long_frame(8, 1, 0x72, HEADER + bytes.fromhex(records)))


def float32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


@pytest.mark.parametrize("n, e, text", [
    (54321, -3, "54.321"), (5, -3, "0.005"), (0, -3, "0"), (100, -2, "1"),
    (-1234, -1, "-123.4"), (-5, -2, "-0.05"), (12345678, -3, "12345.678"),
    (99999999999, -6, "99999.999999"),
])
def test_decimal_text(n, e, text):
    assert decimal(n, e) == text


def test_water_total_keeps_every_digit():
    # 0C 13: 8-digit BCD volume in litres (VIF 13h: 10^-3 m^3) = 12345.678 m^3
    rec = telegram("0C1378563412")["records"][0]
    assert rec["quantity"] == "volume" and rec["unit"] == "m^3"
    assert rec["decimal"] == "12345.678"
    assert rec["value"] == pytest.approx(12345.678)
    # a single-precision float cannot hold it: the text is what keeps the digits
    assert float32(rec["value"]) != rec["value"]


def test_unscaled_and_date_records_have_no_decimal():
    tg = telegram("0406E8030000" "046D0B0BCD13")  # energy in kWh (int), a date
    assert "decimal" not in tg["records"][0] and tg["records"][0]["value"] == 1000000
    assert "decimal" not in tg["records"][1]


def test_every_corpus_decimal_matches_its_value(corpus):
    seen = 0
    for path in corpus_files("test-frames"):
        for r in mbus.decode(read_hex(path))["records"]:
            if "decimal" in r:
                seen += 1
                assert float(r["decimal"]) == pytest.approx(r["value"], rel=1e-12, abs=1e-12), (path, r)
    assert seen > 100


def test_home_assistant_fields_use_the_exact_text_not_the_float():
    rec = {"quantity": "volume", "unit": "m^3", "function": "instantaneous", "storage": 0,
           "value": float32(12345.678), "decimal": "12345.678"}
    energy = {"quantity": "energy", "unit": "Wh", "function": "instantaneous", "storage": 0,
              "value": float32(1234567.891), "decimal": "1234567.891"}
    found = fields.extract([rec, energy])
    assert dict((f[0], f[3]) for f in found) == {"volume": "12345.678", "energy": "1234.567891"}
    # the reading's JSON carries the text as the number, not the float
    out = io.StringIO()
    reading_json.dump({"meter": "m", "fields": found}, out)
    assert out.getvalue() == '{"meter":"m","fields":{"volume":12345.678,"energy":1234.567891}}'
    assert json.loads(out.getvalue())["fields"] == {"volume": 12345.678, "energy": 1234.567891}


@pytest.mark.parametrize("text, k, out", [("54.321", 0, "54.321"), ("1234567", 3, "1234.567"),
                                          ("5", 3, "0.005"), ("0.005", 3, "0.000005"),
                                          ("-1500", 3, "-1.5"), ("0", 3, "0"), ("1000", 3, "1")])
def test_decimal_shift(text, k, out):
    assert fields._shift(text, k) == out


def test_same_decimal_text_on_micropython(tmp_path):
    script = tmp_path / "exact.py"
    script.write_text(
        "import mbus, json\n"
        "from mbus import frame\n"
        "h = bytes.fromhex('%s')\n"
        "tg = mbus.decode(frame.long_frame(8, 1, 0x72, h + bytes.fromhex('0C1378563412')))\n"
        "print(json.dumps(tg['records'][0]['decimal']))\n" % HEADER.hex())
    p = run_micropython([str(script)])
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == "12345.678"
