"""libmbus's error and unsupported frames: expected application errors, or a
clear MBusError that names the problem and its byte offset."""
import os

import pytest

import mbus
from mbus import DecodeError, FrameError, MBusError, UnsupportedError
from conftest import CORPUS, corpus_files
import libmbus_xml


def load(folder, name):
    with open(os.path.join(CORPUS, folder, name + ".hex")) as f:
        return mbus.from_hex(f.read())


def names(folder, ext):
    return [os.path.basename(p)[:-len(ext)] for p in corpus_files(folder, ext)]


APPLICATION_ERROR_FRAMES = names("error-frames", ".xml")


def test_ten_application_error_frames():
    assert len(APPLICATION_ERROR_FRAMES) == 10


@pytest.mark.parametrize("name", APPLICATION_ERROR_FRAMES)
def test_application_error_as_libmbus_reports_it(name):
    tg = mbus.decode(load("error-frames", name))
    xml = libmbus_xml.load(os.path.join(CORPUS, "error-frames", name + ".xml"))
    expected = xml.find("SlaveInformation").find("Error").text
    assert tg["frame"]["ci"] == 0x70
    assert tg["error"]["code"] == libmbus_xml.APPLICATION_ERRORS[expected]
    assert tg["error"]["message"].lower().replace("-", " ").replace("´", "") == \
        expected.lower().replace("-", " ").replace("´", "")
    assert tg["records"] == [] and tg["more_records_follow"] is False


# frame -> (error class, words of the message, byte offset)
MALFORMED = {
    "premature_end_of_data1": (DecodeError, "record data needs 3 bytes, only 0 left", 32),
    "premature_end_of_data2": (DecodeError, "record data needs 3 bytes, only 2 left", 32),
    "premature_end_of_dif1": (DecodeError, "inside its DIFE chain", 30),
    "premature_end_of_dif2": (DecodeError, "inside its DIFE chain", 31),
    "premature_end_of_var_vif1": (DecodeError, "plain-text VIF of 19 characters runs past the end", 43),
    "premature_end_of_vif1": (DecodeError, "ends before its VIF", 31),
    "too_long_var_vif": (DecodeError, "plain-text VIF of 243 characters runs past the end", 43),
    "too_many_dife": (DecodeError, "more than 10 DIFEs", 40),
    "too_many_vife": (DecodeError, "more than 10 VIFEs", 42),
    "too_short_header": (DecodeError, "long header needs 12 bytes, only 5", 12),
}


def test_every_malformed_error_frame_is_listed():
    hexes = set(names("error-frames", ".hex"))
    assert hexes - set(APPLICATION_ERROR_FRAMES) == set(MALFORMED)


UNSUPPORTED = {
    "invalid_length": (FrameError, "length field 0 is below the minimum of 3", 1),
    "invalid_length2": (DecodeError, "fixed data structure is 16 bytes, got 15", 22),
    "manual_frame4": (UnsupportedError, "CI field 0x51 (data send) is sent by a master", 6),
    "manual_frame5": (UnsupportedError, "CI field 0x51 (data send) is sent by a master", 6),
    "manual_frame6": (UnsupportedError, "CI field 0x51 (data send) is sent by a master", 6),
}


def test_every_unsupported_frame_is_covered():
    assert set(names("unsupported-frames", ".hex")) == set(UNSUPPORTED) | {"manual_frame1", "svm_f22_telegram2"}


REJECTED = [("error-frames", n) for n in sorted(MALFORMED)] + [("unsupported-frames", n) for n in sorted(UNSUPPORTED)]


@pytest.mark.parametrize("folder, name", REJECTED)
def test_rejected_frame_raises_clear_error(folder, name):
    cls, words, offset = (MALFORMED if folder == "error-frames" else UNSUPPORTED)[name]
    with pytest.raises(cls) as e:
        mbus.decode(load(folder, name))
    assert words in str(e.value)
    assert e.value.offset == offset
    assert str(e.value).endswith("(at byte %d)" % offset)


def test_lone_nibble_is_a_frame_error():
    with open(os.path.join(CORPUS, "unsupported-frames", "manual_frame1.hex")) as f:
        text = f.read()
    with pytest.raises(FrameError, match="odd number of hex digits"):
        mbus.from_hex(text)


def test_svm_f22_telegram2_decodes_as_manufacturer_data():
    # Departure from libmbus, which lists this frame as unsupported.
    # EN 13757-3, DIF special functions: 1Fh is the manufacturer data header
    # with "more records follow"; everything after it to the end of the user
    # data is manufacturer specific. Nothing requires a record before it.
    raw = load("unsupported-frames", "svm_f22_telegram2")
    tg = mbus.decode(raw)
    assert tg["header"]["id"] == "01006089" and tg["header"]["manufacturer"] == "SVM"
    assert tg["records"] == []
    assert tg["more_records_follow"] is True
    assert tg["manufacturer_data"] == raw[20:-2].hex().upper()


def test_all_errors_are_mbus_errors():
    for cls in (FrameError, DecodeError, UnsupportedError):
        assert issubclass(cls, MBusError)
