"""The outbox: the cases of outbox_cases.py on CPython and on the MicroPython
unix port (ESP32 heap), and lfs_cases.py on real LittleFS (unix port)."""
import os
import sys

import pytest

from conftest import LIB, ROOT, run_micropython

sys.path.insert(0, os.path.join(ROOT, "firmware"))

import outbox_cases  # noqa: E402

HERE = os.path.join(ROOT, "host_tests")
MPYPATH = ":".join((".frozen", LIB, os.path.join(ROOT, "firmware"), os.path.join(ROOT, "tools")))


@pytest.mark.parametrize("name", [n for n, _ in outbox_cases.CASES])
def test_outbox_on_cpython(name, tmp_path):
    dict(outbox_cases.CASES)[name](str(tmp_path / name))


def _all_passed(r, names):
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 0, out
    for n in names:
        assert "PASS " + n in out, out


def test_outbox_on_micropython(tmp_path):
    r = run_micropython([os.path.join(HERE, "outbox_cases.py"), str(tmp_path)], heap="112wK")
    _all_passed(r, [n for n, _ in outbox_cases.CASES])


def test_outbox_on_littlefs():
    r = run_micropython([os.path.join(HERE, "lfs_cases.py")], env={"MICROPYPATH": MPYPATH})
    _all_passed(r, ["full_flash_drops_oldest", "reading_bigger_than_flash_is_refused_keeping_the_rest",
                    "enospc_with_nothing_to_drop", "failing_chip_is_reported_and_stored_data_kept",
                    "power_cut_at_every_flash_operation"])
