"""Structure-aware property fuzzing of the decoder and the reply framer.

Telegrams are built from DIF/DIFE/VIF/VIFE chains, LVAR lengths and CI
fields with the link layer right, so the inputs reach the application layer;
then mutated. Every outcome is a decoded JSON telegram or an MBusError
(tools/fuzz/oracle.py says exactly what is checked). `make test` runs a few
hundred examples per property; `make fuzz` sets FUZZ_EXAMPLES (tens of
thousands) and FUZZ_REPORT, a JSON file that gets the example counts and the
slowest input.
"""
import atexit
import json
import os
import sys
import time

from hypothesis import HealthCheck, given, settings, strategies as st

import mbus
from conftest import ROOT
from fuzz_strategies import CIS, long_frame, mutated_user_data, reply_stream, user_data

sys.path.insert(0, os.path.join(ROOT, "tools", "fuzz"))
import oracle  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
# A hang or a blow-up in the decoder would pass this deadline by far; a
# frame decodes in well under a millisecond.
FUZZ = settings(max_examples=EXAMPLES, deadline=1000, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

STATS = {}


def timed(prop, fn, data):
    """fn(data), counted and timed under prop for the campaign report."""
    t = time.perf_counter()
    out = fn(data)
    dt = time.perf_counter() - t
    s = STATS.setdefault(prop, {"inputs": 0, "slowest_ms": 0.0, "slowest_hex": ""})
    s["inputs"] += 1
    if dt * 1e3 > s["slowest_ms"]:
        s["slowest_ms"] = dt * 1e3
        s["slowest_hex"] = bytes(data).hex()
    return out


def _report():
    path = os.environ.get("FUZZ_REPORT")
    if path and STATS:
        with open(path, "w") as f:
            json.dump(STATS, f, indent=1)


atexit.register(_report)


@FUZZ
@given(user_data())
def test_well_formed_records_decode_as_written(case):
    ud, expected = case
    tg = timed("well_formed", mbus.decode, long_frame(ud))
    oracle.check_telegram(tg)
    got = [(r["function"], r["storage"], r["tariff"], r["subunit"]) for r in tg["records"]]
    assert got == expected
    assert mbus.decode_user_data(ud)["records"] == tg["records"]


@FUZZ
@given(mutated_user_data())
def test_mutated_chains_reach_the_application_layer_and_fail_cleanly(ud):
    timed("mutated_chains", oracle.check_decode, long_frame(ud))
    oracle.check_user_data(ud)


@FUZZ
@given(st.integers(0, 255), st.binary(max_size=252))
def test_any_ci_with_any_data(ci, data):
    timed("any_ci", oracle.check_decode, long_frame(bytes([ci]) + data))


@FUZZ
@given(st.sampled_from(CIS), user_data(), st.integers(0, 255))
def test_well_formed_records_under_another_ci_or_a_cut(ci, case, cut):
    ud = bytes([ci]) + case[0][1:]
    timed("ci_swap_cut", oracle.check_decode, long_frame(ud[:max(1, len(ud) - cut)]))


@FUZZ
@given(reply_stream())
def test_framer_finds_the_first_valid_frame_however_the_stream_is_cut(case):
    data, sizes = case
    timed("framer", oracle.check_framer, data)
    oracle.check_framer(data, sizes)
    oracle.check_read(data, sizes)
