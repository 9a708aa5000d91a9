"""The firmware's bus adapter (firmware/bus.py) on CPython against the
simulator: what the exchanges met is counted since boot, also across a
reopened transport, and /api/status shows it (status.bus)."""
import asyncio
import importlib.util
import os
import sys

import pytest

from conftest import ROOT
from mbus.errors import TransportError
from sim.process import Simulator

sys.path.insert(0, os.path.join(ROOT, "firmware"))
import status  # noqa: E402

# by path: "bus" is also host_tests/bus/, the master's test harness
_spec = importlib.util.spec_from_file_location("fw_bus", os.path.join(ROOT, "firmware", "bus.py"))
fwbus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fwbus)

KAM = "test-frames/kamstrup_382_005.hex"


def sim(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    once = {"probability": 1.0, "limit": 1}
    return Simulator({"slaves": [{"name": "m", "primary": 1, "telegrams": [KAM], "faults": {"no_reply": once}}]},
                     d, "--quiet")


def test_counters_survive_a_reopened_transport(tmp_path, corpus):
    first = sim(tmp_path, "one")
    b = fwbus.Bus({"kind": "tcp", "host": first.host, "port": first.port, "baudrate": 38400, "retries": 2,
                   "timeout_ms": 20})

    async def run():
        await b.read(1)  # one silence, then the answer
        assert b.failed() == 1
        first.stop()
        with pytest.raises(TransportError):
            await b.read(1)
        assert b.master is None and b.failed() == 1
        second = sim(tmp_path, "two")
        b.cfg["port"] = second.port
        try:
            await b.read(1)  # a new transport: SND_NKE after the silence, REQ_UD2
        finally:
            await b.master.close()
            second.stop()

    asyncio.run(run())
    s = status.bus(b)
    assert b.opens == 2 and s["exchanges_failed"] == 2 == s["no_reply"], s
    assert s["frames_sent"] == b.master.core.sent and s["frames_sent"] >= 6, s
    assert (s["garbled"], s["bad_frame"], s["echoes"], s["noise_skipped"]) == (0, 0, 0, 0), s
