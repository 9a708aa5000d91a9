"""The bus fault campaign, short (host_tests/fault_bus.py; `make fuzz` runs
it for minutes): the firmware at the ESP32's heap reads simulated meters
whose replies are disturbed at random, forwards to an HTTP receiver, and
never forwards a wrong value, loses a reading or stops polling; its
counters account for the faults the simulator injected."""
import os

from fault_bus import run
from fw_helpers import report_campaign

SECONDS = int(os.environ.get("FAULT_SECONDS", "30"))
SEED = int(os.environ.get("FAULT_SEED", "1"))
RATE = float(os.environ.get("FAULT_RATE", "0.05"))  # per reply and kind of fault


def test_bus_faults_never_reach_a_sink(tmp_path, corpus):
    r = run(tmp_path, seconds=SECONDS, rate=RATE, seed=SEED)
    report_campaign(r)
    # the run meant something: readings went through, every kind of fault happened
    assert r["readings_checked"] >= 30 and all(n > 0 for n in r["faults"].values()), r
