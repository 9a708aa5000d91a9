"""The reply framer against split, concatenated, garbled and truncated input."""
from hypothesis import given, settings
from hypothesis import strategies as st

from mbus import frame
from mbus.framer import Framer

LONG = frame.long_frame(0x08, 1, 0x72, bytes(range(40)))
SHORT = frame.short_frame(0x08, 1)
ACK = b"\xe5"


def feed_all(chunks):
    f = Framer()
    for c in chunks:
        f.feed(c)
    f.finish()
    return f


def test_whole_frames():
    for fr in (LONG, SHORT, ACK):
        f = feed_all([fr])
        assert f.frame == fr and f.skipped == 0 and f.trailing == 0


def test_split_at_every_position():
    for i in range(1, len(LONG)):
        f = Framer()
        assert f.feed(LONG[:i]) is None
        assert f.feed(LONG[i:]) == LONG


def test_byte_by_byte_with_offset_feed():
    f = Framer()
    data = b"\x00\x00" + LONG
    for i in range(len(data)):
        f.feed(data, i) if i == len(data) - 1 else f.feed(data[i:i + 1])
    assert f.frame == LONG and f.skipped == 2


def test_concatenated_frames_count_trailing():
    f = feed_all([LONG + ACK + SHORT])
    assert f.frame == LONG
    assert f.trailing == 6
    f = Framer()
    f.feed(ACK)
    f.feed(ACK)
    assert f.frame == ACK and f.trailing == 1 and f.total == 2


def test_leading_garbage_is_skipped():
    f = feed_all([b"\x00\xff\x13", LONG])
    assert f.frame == LONG and f.skipped == 3


def test_bad_checksum_then_valid_frame_resynchronises():
    bad = bytearray(LONG)
    bad[-2] ^= 0xFF
    f = feed_all([bytes(bad) + LONG])
    assert f.frame == LONG
    assert f.skipped == len(LONG)
    assert "checksum" in str(f.error)


def test_false_start_in_noise_is_resolved_when_the_line_goes_quiet():
    # 68 7F 7F 68 announces 133 bytes that never come; the real frame follows.
    noise = bytes.fromhex("687F7F68")
    f = Framer()
    assert f.feed(noise + LONG) is None  # still waiting for the announced length
    assert f.finish() == LONG
    assert f.skipped == 4


def test_truncated_frame_is_reported():
    f = feed_all([LONG[:30]])
    assert f.frame is None
    assert f.truncated == (30, len(LONG))


def test_header_errors_are_garbage():
    f = feed_all([bytes.fromhex("6805066853") + b"\x00" * 5])
    assert f.frame is None
    assert "length fields differ" in str(f.error)


def test_wired_and_collision_is_not_a_frame():
    other = frame.long_frame(0x08, 2, 0x72, bytes(range(1, 41)))
    garbled = bytes(a & b for a, b in zip(LONG, other))
    f = feed_all([garbled])
    assert f.frame is None and f.skipped == len(garbled)


def test_long_garbage_grows_the_buffer():
    f = feed_all([b"\x01" * 1000, LONG])
    assert f.frame == LONG and f.skipped == 1000


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40).filter(lambda b: 0x68 not in b and 0x10 not in b and 0xE5 not in b),
       st.lists(st.integers(1, 60), max_size=8))
def test_any_split_of_garbage_and_frame(garbage, cuts):
    data = garbage + LONG
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(data[pos:pos + c])
        pos += c
    chunks.append(data[pos:])
    f = feed_all(chunks)
    assert f.frame == LONG and f.skipped == len(garbage)
