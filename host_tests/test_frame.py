import pytest

from mbus import FrameError, MBusError
from mbus import frame


def test_short_frame_req_ud2():
    assert frame.short_frame(0x5B, 0x01) == bytes.fromhex("105B015C16")


def test_snd_nke_broadcast():
    assert frame.short_frame(frame.C_SND_NKE, 0xFF) == bytes.fromhex("1040FF3F16")


def test_long_frame_select_wildcards():
    data = bytes.fromhex("78563412FFFFFFFF")
    f = frame.long_frame(frame.C_SND_UD, frame.ADDR_NETWORK, 0x52, data)
    assert f[:7] == bytes.fromhex("680B0B6853FD52")
    assert f[-1] == 0x16
    assert frame.parse(f) == ("long", 0x53, 0xFD, 0x52, 7, len(f) - 2)


def test_control_frame():
    f = frame.long_frame(0x53, 0x01, 0x50)
    assert f == bytes.fromhex("680303685301 50 A4 16".replace(" ", ""))
    assert frame.parse(f)[0] == "control"


def test_parse_ack_and_short():
    assert frame.parse(b"\xe5")[0] == "ack"
    assert frame.parse(bytes.fromhex("105B015C16"))[:3] == ("short", 0x5B, 1)


@pytest.mark.parametrize(
    "hexs, offset, words",
    [
        ("", 0, "empty"),
        ("00", 0, "not a frame start"),
        ("105B015D16", 3, "checksum"),
        ("105B015C17", 4, "stop byte"),
        ("105B01", 3, "truncated"),
        ("6803046853015054 16", 1, "length fields differ"),
        ("6803036953015054 16", 3, "second start"),
        ("68020268010102 16", 1, "minimum"),
        ("105B015C1600", 5, "after the end"),
    ],
)
def test_parse_errors_name_problem_and_offset(hexs, offset, words):
    with pytest.raises(FrameError) as e:
        frame.parse(bytes.fromhex(hexs.replace(" ", "")))
    assert e.value.offset == offset
    assert words in str(e.value)
    assert isinstance(e.value, MBusError)


def test_long_frame_too_long():
    with pytest.raises(FrameError):
        frame.long_frame(0x53, 1, 0x51, bytes(253))


def test_expected_length_incremental():
    f = frame.long_frame(0x08, 1, 0x72, bytes(20))
    assert frame.expected_length(f, 1) == 0
    assert frame.expected_length(f, 4) == len(f)
    assert frame.expected_length(b"\xe5", 1) == 1
