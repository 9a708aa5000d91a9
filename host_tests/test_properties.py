"""Property tests: truncated, mutated and random input never raises anything
but an MBusError, never hangs, and what decodes is plain JSON.

`make test` runs a few hundred examples per property (seconds); `make fuzz`
runs the "long" profile (HYPOTHESIS_PROFILE=long) with many more.
"""
import json
import os

from hypothesis import HealthCheck, given, settings, strategies as st

import mbus
from mbus import MBusError, frame
from conftest import CORPUS, read_hex

FRAMES = [read_hex(os.path.join(CORPUS, "test-frames", f))
          for f in sorted(os.listdir(os.path.join(CORPUS, "test-frames"))) if f.endswith(".hex")]
CIS = (0x72, 0x76, 0x7A, 0x78, 0x73, 0x77, 0x70, 0x71)

# A hang would blow the deadline; the decoder needs well under 1 ms a frame.
settings.register_profile("default", max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=30000, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def outcome(fn, data):
    """Decode; return the telegram (checked to be JSON) or None on MBusError."""
    try:
        tg = fn(data)
    except MBusError as e:
        assert str(e)
        return None
    assert json.loads(json.dumps(tg)) == tg
    return tg


def reframe(user_data):
    """A valid long frame around user data (C, A, CI and the rest)."""
    return frame.long_frame(user_data[0], user_data[1], user_data[2], user_data[3:])


@given(st.binary(max_size=300))
def test_random_bytes(data):
    outcome(mbus.decode, data)
    outcome(mbus.decode_user_data, data)


@given(st.sampled_from(CIS), st.binary(max_size=250))
def test_random_user_data_after_a_known_ci(ci, data):
    outcome(mbus.decode_user_data, bytes([ci]) + data)
    outcome(mbus.decode, frame.long_frame(8, 1, ci, data[:252]))


@given(st.sampled_from(FRAMES), st.data())
def test_truncated_corpus_frames(raw, data):
    ud = raw[4:-2]  # C, A, CI, data
    cut = data.draw(st.integers(3, len(ud) - 1))
    outcome(mbus.decode, reframe(ud[:cut]))
    outcome(mbus.decode, raw[:data.draw(st.integers(0, len(raw) - 1))])


@given(st.sampled_from(FRAMES), st.data())
def test_mutated_corpus_frames(raw, data):
    ud = bytearray(raw[4:-2])
    for _ in range(data.draw(st.integers(1, 8))):
        ud[data.draw(st.integers(3, len(ud) - 1))] = data.draw(st.integers(0, 255))
    outcome(mbus.decode, reframe(bytes(ud)))
    outcome(mbus.decode, bytes(raw[:6]) + bytes(ud[2:]) + raw[-2:])  # checksum now wrong


@given(st.sampled_from(FRAMES), st.binary(min_size=1, max_size=40), st.data())
def test_corpus_frames_with_inserted_bytes(raw, extra, data):
    ud = raw[4:-2]
    at = data.draw(st.integers(15, len(ud)))
    outcome(mbus.decode, reframe((ud[:at] + extra + ud[at:])[:255]))
