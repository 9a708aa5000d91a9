"""The network fault campaign, short (host_tests/fault_net.py; `make fuzz`
runs it for minutes): broker and HTTP server stopped and started again,
refusing, accepting and never answering, accepting nothing, host names
that do not resolve. The gateway keeps polling and answering its API, its
waits end, it holds no socket it does not use, and once the network is
back every reading reaches both sinks in order."""
import os

from fault_net import run
from fw_helpers import report_campaign

SECONDS = int(os.environ.get("FAULT_SECONDS", "45"))
SEED = int(os.environ.get("FAULT_SEED", "1"))


def test_network_faults_lose_nothing_and_block_nothing(tmp_path, corpus):
    r = run(tmp_path, seconds=SECONDS, seed=SEED)
    report_campaign(r)
    assert r["faults"]["dns"] == 1 and r["phases"] >= 4 and r["readings"] >= 20, r
