"""Every request frame the master sends, against the bytes EN 13757-2/-3 give."""
import pytest

from mbus import frame
from mbus import requests as rq


def h(s):
    return bytes.fromhex(s.replace(" ", ""))


@pytest.mark.parametrize("built, expected", [
    # SND_NKE: C=40h, FCV=0.
    (lambda: rq.snd_nke(1), "10 40 01 41 16"),
    (lambda: rq.snd_nke(0xFF), "10 40 FF 3F 16"),
    (lambda: rq.snd_nke(0xFD), "10 40 FD 3D 16"),
    # REQ_UD2: C=5Bh/7Bh (FCV=1, FCB 0/1).
    (lambda: rq.req_ud2(1, 0), "10 5B 01 5C 16"),
    (lambda: rq.req_ud2(1, 1), "10 7B 01 7C 16"),
    (lambda: rq.req_ud2(0xFD, 1), "10 7B FD 78 16"),
    (lambda: rq.req_ud2(0xFE, 0), "10 5B FE 59 16"),
    # REQ_UD1: C=5Ah/7Ah.
    (lambda: rq.req_ud1(5, 0), "10 5A 05 5F 16"),
    (lambda: rq.req_ud1(5, 1), "10 7A 05 7F 16"),
    # Application reset, CI 50h: control frame, and with subcode (to all: FEh).
    (lambda: rq.application_reset(1), "68 03 03 68 53 01 50 A4 16"),
    (lambda: rq.application_reset(0xFE, 0x10), "68 04 04 68 53 FE 50 10 B1 16"),
    (lambda: rq.application_reset(1, 0x00, fcb=1), "68 04 04 68 73 01 50 00 C4 16"),
    # Set primary address 8: data DIF 01h VIF 7Ah value.
    (lambda: rq.set_primary_address(0xFE, 8), "68 06 06 68 53 FE 51 01 7A 08 25 16"),
    (lambda: rq.set_primary_address(0xFD, 8, 1), "68 06 06 68 73 FD 51 01 7A 08 44 16"),
    # Selection (CI 52h to FDh): identification LSB first, then manufacturer, version, medium.
    (lambda: rq.select("12345678FFFFFFFF"), "68 0B 0B 68 53 FD 52 78 56 34 12 FF FF FF FF B2 16"),
    (lambda: rq.select("FFFFFFFF2D2C0102"), "68 0B 0B 68 53 FD 52 FF FF FF FF 2D 2C 01 02 FA 16"),
    (lambda: rq.select("1F3F5F7FF1F2F3F4"), "68 0B 0B 68 53 FD 52 7F 5F 3F 1F F1 F2 F3 F4 A8 16"),
    # Deselection (CI 56h).
    (lambda: rq.deselect("12345678FFFFFFFF"), "68 0B 0B 68 53 FD 56 78 56 34 12 FF FF FF FF B6 16"),
    (lambda: rq.deselect(), "68 0B 0B 68 53 FD 56 FF FF FF FF FF FF FF FF 9E 16"),
    # Baud rate switch, CI B8h..BFh.
    (lambda: rq.switch_baudrate(1, 300), "68 03 03 68 53 01 B8 0C 16"),
    (lambda: rq.switch_baudrate(1, 9600), "68 03 03 68 53 01 BD 11 16"),
    (lambda: rq.switch_baudrate(0xFE, 38400), "68 03 03 68 53 FE BF 10 16"),
    # Raw SND_UD, CI 51h with user data.
    (lambda: rq.snd_ud(5, 0x51, h("0C 78 00 00 00 00")), "68 09 09 68 53 05 51 0C 78 00 00 00 00 2D 16"),
])
def test_request_bytes(built, expected):
    f = built()
    assert f == h(expected)
    frame.parse(f)  # and every one is a well-formed frame


def test_secondary_address_round_trip():
    wire = rq.secondary_bytes("14839120FFFF0102")
    assert wire == h("20 91 83 14 FF FF 01 02")
    assert rq.secondary_string(wire) == "14839120FFFF0102"
    assert rq.normalize_secondary("abcdef012d2c0102") == "ABCDEF012D2C0102"


def test_reply_secondary_from_long_header():
    t = frame.long_frame(0x08, 1, 0x72, h("20 91 83 14 2D 2C 01 02 04 00 00 00"))
    assert rq.reply_secondary(t) == "148391202D2C0102"
    assert rq.reply_secondary(frame.long_frame(0x08, 1, 0x78, b"\x01\x02")) is None


def test_wildcard_matching_every_nibble():
    assert rq.matches("FFFFFFFFFFFFFFFF", "148391202D2C0102")
    assert rq.matches("1483912F2D2C0102", "148391202D2C0102")
    assert rq.matches("14839120FDFCF1F2", "148391202D2C0102")
    assert not rq.matches("14839120FFFF01F3", "148391202D2C0102")
    assert not rq.matches("FFFFFFFFFEFFFFFF", "148391202D2C0102")


@pytest.mark.parametrize("call, words", [
    (lambda: rq.snd_nke(251), "primary address"),
    (lambda: rq.req_ud2(-1, 0), "primary address"),
    (lambda: rq.req_ud2("7", 0), "primary address"),
    (lambda: rq.select("1234"), "16 hex digits"),
    (lambda: rq.select("12345678GGGGGGGG"), "16 hex digits"),
    (lambda: rq.set_primary_address(1, 251), "new primary address"),
    (lambda: rq.switch_baudrate(1, 115200), "baud rate"),
    (lambda: rq.application_reset(1, 256), "subcode"),
    (lambda: rq.snd_ud(1, 0x100), "CI field"),
])
def test_bad_arguments_are_named(call, words):
    with pytest.raises(ValueError) as e:
        call()
    assert words in str(e.value)
