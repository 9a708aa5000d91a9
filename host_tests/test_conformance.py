"""All 76 libmbus test frames against libmbus's normalized XML.

Compared: header (id, manufacturer, version, medium, access number, status,
signature), the record count (libmbus's 0Fh/1Fh pseudo-record is our
manufacturer_data / more_records_follow), and per record function, storage,
tariff, subunit, quantity, unit and value (libmbus_xml maps the names).

DEPARTURES lists every record where we say something else than libmbus, each
with the EN 13757-3 clause that decides it; README "Decoder" lists the frames.
"""
import os

import pytest

import mbus
from conftest import corpus_files, read_hex
import libmbus_xml

BCD_DIGITS = ("EN 13757-3 annex A, type A (BCD): digits are 0-9, only Fh as the most significant "
              "digit has a meaning (minus); other digits A-F are reported, not decoded")
DATE_RANGE = "EN 13757-3 annex A, type G: month 1-12, day 1-31; 0000h is no date"
TIME_INVALID = "EN 13757-3 annex A, type F: bit IV (bit 7) set means the date/time is invalid"
EVERY_YEAR = "EN 13757-3 annex A, types F/G: year 127 means 'every year', a date without a year"
DATE_OF = ("EN 13757-3 combinable (orthogonal) VIFE table, E110 1f1b 'date (/time) of' first/last "
           "begin/end: the data is a type F date/time, not a value of the VIF's unit")
DURATION_OF = ("EN 13757-3 combinable (orthogonal) VIFE table, E101 ufnn 'duration of limit exceed': "
               "the data is a duration in s/min/h/d (nn), not a value of the VIF's unit")
PER_PULSE = ("EN 13757-3 combinable (orthogonal) VIFE table, E010 100p 'increment per input pulse "
             "on input channel p': the value is the VIF's unit per pulse")
VIF_7B = ("EN 13757-3 primary VIF table: 7Bh/FBh names the extension table through the first VIFE; "
          "7Bh without the extension bit has no VIFE, so the code is reserved (record kept, raw bytes)")

# frame -> {record index: (clause, the fields we assert instead of libmbus's)}
DEPARTURES = {
    "ACW_Itron-BM-plus-m": {2: (DATE_RANGE, {"quantity": "date", "value": None, "invalid": "date out of range"})},
    "itron_bm_+m": {2: (DATE_RANGE, {"quantity": "date", "value": None, "invalid": "date out of range"})},
    "siemens_water": {3: (DATE_RANGE, {"function": "error", "value": None, "invalid": "date out of range"})},
    "siemens_wfh21": {3: (DATE_RANGE, {"function": "error", "value": None, "invalid": "date out of range"})},
    "REL-Relay-Padpuls2": {1: (TIME_INVALID, {"quantity": "datetime", "value": None,
                                              "invalid": "date/time flagged invalid", "raw": "A115E917"})},
    "ELS_Elster-F96-Plus": {
        4: (BCD_DIGITS, {"function": "error", "quantity": "power", "value": None,
                         "invalid": "invalid BCD digits DDDDEBBD"}),
        5: (BCD_DIGITS, {"function": "error", "quantity": "volume_flow", "value": None,
                         "invalid": "invalid BCD digits DDEBBD"}),
    },
    "abb_f95": {
        2: (BCD_DIGITS, {"function": "error", "quantity": "power", "value": None,
                         "invalid": "invalid BCD digits DDEBB4DD"}),
        3: (BCD_DIGITS, {"function": "error", "quantity": "volume_flow", "value": None,
                         "invalid": "invalid BCD digits EBB4DD"}),
    },
    "landis+gyr_ultraheat_t230": {
        19: (DATE_OF, {"function": "maximum", "tariff": 1, "quantity": "power", "unit": "", "value": None,
                       "modifiers": ["date_of_end_last"], "invalid": "date/time out of range"}),
        20: (DATE_OF, {"function": "maximum", "tariff": 1, "quantity": "volume_flow", "unit": "", "value": None,
                       "modifiers": ["date_of_end_last"], "invalid": "date/time out of range"}),
        21: (DATE_OF, {"function": "maximum", "tariff": 1, "quantity": "flow_temperature", "unit": "",
                       "value": "2011-08-26T20:50", "modifiers": ["date_of_end_last"]}),
        22: (DATE_OF, {"function": "maximum", "tariff": 1, "quantity": "return_temperature", "unit": "",
                       "value": "2011-08-09T11:43", "modifiers": ["date_of_end_last"]}),
        32: (EVERY_YEAR, {"storage": 510, "quantity": "datetime", "value": "--01-01T00:00"}),
    },
    "SEN_Pollustat": {
        12: (DURATION_OF, {"quantity": "volume_flow", "unit": "s", "value": 11582321,
                           "modifiers": ["duration_of_first_lower_limit_exceed"]}),
        13: (DURATION_OF, {"quantity": "volume_flow", "unit": "s", "value": 756,
                           "modifiers": ["duration_of_first_upper_limit_exceed"]}),
    },
    "EFE_Engelmann-Elster-SensoStar-2": {
        24: (PER_PULSE, {"quantity": "volume", "unit": "m^3/pulse", "modifiers": ["input_channel_0"]})},
    "EFE_Engelmann-WaterStar": {
        11: (PER_PULSE, {"quantity": "volume", "unit": "m^3/pulse", "value": 8e-06,
                         "modifiers": ["input_channel_0"]})},
    "engelmann_sensostar2c": {
        13: (PER_PULSE, {"quantity": "volume", "unit": "m^3/pulse", "modifiers": ["input_channel_0"]})},
    "sen_pollutherm": {
        2: (VIF_7B, {"quantity": "reserved", "unit": "", "value": 302, "raw": "02030000"})},
}

FRAMES = [os.path.basename(p)[:-4] for p in corpus_files("test-frames")]


def test_corpus_has_76_frames():
    assert len(FRAMES) == 76


@pytest.mark.parametrize("name", FRAMES)
def test_frame_matches_libmbus(name, corpus):
    path = os.path.join(corpus, "test-frames", name)
    tg = mbus.decode(read_hex(path + ".hex"))
    departures = DEPARTURES.get(name, {})
    diffs = libmbus_xml.compare(tg, libmbus_xml.load(path + ".norm.xml"), skip=departures)
    assert diffs == [], "\n".join(diffs)
    for k, (clause, want) in departures.items():
        rec = tg["records"][k]
        got = {key: rec.get(key) for key in want}
        assert got == want, "record %d departs from libmbus by %s" % (k, clause)


def test_departures_name_real_records():
    for name, recs in DEPARTURES.items():
        assert name in FRAMES
        for clause, want in recs.values():
            assert clause.startswith("EN 13757-3") and want
