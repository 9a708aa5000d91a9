"""The one writer of a reading's JSON (firmware/reading_json.py): "meter"
first (a sink learns the meter from a stored record's first bytes), "fields"
as exact decimal text, "raw" frames kept as bytes and written as hex; the
same bytes on CPython (text and binary files) and on MicroPython."""
import io
import json
import os
import sys

import mbus
from conftest import CORPUS, ROOT, read_hex, run_micropython

sys.path.insert(0, os.path.join(ROOT, "firmware"))
import fields  # noqa: E402
import reading_json  # noqa: E402

FRAME = os.path.join(CORPUS, "test-frames", "kamstrup_multical_601.hex")


def reading():
    frame = read_hex(FRAME)
    tg = mbus.decode(frame)
    return {"seq": 7, "telegram": tg, "raw": [frame], "meter": "heat-1", "time": None, "uptime_s": 3,
            "fields": fields.extract(tg["records"]), "extra": {"a": [1, 2]}}


def text(r):
    out = io.StringIO()
    reading_json.dump(r, out)
    return out.getvalue()


def test_meter_first_fields_exact_raw_as_hex(corpus):
    r = reading()
    t = text(r)
    assert t.startswith('{"meter":"heat-1","seq":7,"time":null,"uptime_s":3,"fields":{"energy":37351,"volume":561.08,')
    back = json.loads(t)
    assert back["raw"] == [r["raw"][0].hex().upper()]
    assert back["telegram"] == json.loads(json.dumps(r["telegram"]))
    assert back["extra"] == {"a": [1, 2]} and back["fields"]["flow_temperature"] == 101.69
    assert reading_json.meter_of(t.encode()[:48]) == "heat-1"
    assert reading_json.meter_of(b'{"seq":1}') is None and reading_json.meter_of(b'{"meter":"unterminated') is None


def test_binary_and_text_files_get_the_same_bytes(tmp_path, corpus):
    r = reading()
    with open(tmp_path / "b", "wb") as f:
        reading_json.dump(r, f)
    with open(tmp_path / "t", "w") as f:
        reading_json.dump(r, f)
    assert (tmp_path / "b").read_bytes() == (tmp_path / "t").read_bytes() == text(r).encode()


def test_empty_and_hex_string_raw():
    assert text({}) == "{}"
    assert json.loads(text({"meter": "m", "raw": ["68AB"], "fields": []})) == {"meter": "m", "raw": ["68AB"],
                                                                               "fields": {}}


def test_same_text_on_micropython(tmp_path, corpus):
    want = text(reading())
    script = tmp_path / "rj.py"
    script.write_text(
        "import sys, mbus, fields, reading_json\n"
        "frame = bytes.fromhex(open(%r).read().strip())\n"
        "tg = mbus.decode(frame)\n"
        "r = {'seq': 7, 'telegram': tg, 'raw': [frame], 'meter': 'heat-1', 'time': None, 'uptime_s': 3,\n"
        "     'fields': fields.extract(tg['records']), 'extra': {'a': [1, 2]}}\n"
        "reading_json.dump(r, sys.stdout)\n" % FRAME)
    out = run_micropython([str(script)], heap="112wK")
    assert out.returncode == 0, out.stderr.decode()
    got = out.stdout.decode()
    # the keys after FIRST come in each interpreter's own dict order; the text
    # up to the end of "fields" and the parsed whole are the same
    end = want.index("}", want.index('"fields"')) + 1
    assert got[:end] == want[:end]
    assert json.loads(got) == json.loads(want)
