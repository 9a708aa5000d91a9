"""The outbox killed with SIGKILL at random moments (MicroPython unix port).

A worker appends and delivers readings at random and journals what
returned; it is killed 60 times at random moments, restarted each time, and
finally drains the queue. The whole journal must show: no confirmed reading
lost, every seq delivered to each sink in order, a seq never reused for a
different reading, and nothing a sink acknowledged delivered to it again
(only the one in flight at a kill may come twice). Run on a plain
directory and on LittleFS (a simulated flash chip in an image file, so a
kill lands between two flash operations, like a power cut)."""
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import LIB, MICROPYTHON, ROOT

KILLS = 60
WORKER = os.path.join(ROOT, "host_tests", "outbox_worker.py")


def start(kind, where, mode):
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join((".frozen", LIB, os.path.join(ROOT, "firmware"), os.path.join(ROOT, "tools")))
    return subprocess.Popen([MICROPYTHON, WORKER, kind, where, mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def run_killed(kind, where, seed, rnd):
    p = start(kind, where, str(seed))
    try:
        head = []  # log lines (a torn record found at boot) come before BOOT
        while not (head and head[-1].startswith("BOOT")):
            line = p.stdout.readline()
            assert line, "worker died before BOOT"
            head.append(line.strip())
        time.sleep(rnd.uniform(0.01, 0.25))
    finally:
        p.send_signal(signal.SIGKILL)
    out = p.stdout.read()  # not communicate(): it would skip what readline() buffered
    err = p.stderr.read()
    p.wait(30)
    assert p.returncode == -signal.SIGKILL, "worker died by itself:\n" + err
    return head + out.splitlines()


def check(journal):
    """Every invariant over the concatenated journal of all runs."""
    confirmed = {}  # seq -> uid, from appends that returned
    tried = set()
    last_append = 0
    delivered = {"a": [], "b": []}  # (seq, uid) in delivery order
    acked = {"a": 0, "b": 0}
    inflight = {"a": None, "b": None}
    end = None
    for line in journal:
        f = line.split()
        if not f:
            continue  # the last line may be cut by the kill
        if f[0] == "BOOT":
            inflight = {"a": None, "b": None}
            continue
        if f[0] == "END":
            end = int(f[1])
        elif f[0] == "T" and len(f) == 2:
            tried.add(f[1])
        elif f[0] == "A" and len(f) == 3:
            seq, uid = int(f[1]), f[2]
            assert seq > last_append, "seq %d reused after %d was confirmed" % (seq, last_append)
            assert seq not in confirmed
            last_append = seq
            confirmed[seq] = uid
        elif f[0] == "D" and len(f) == 4:
            sink, seq, uid = f[1], int(f[2]), f[3]
            assert seq > acked[sink] or seq == inflight[sink], \
                "%s got seq %d again after acknowledging %d" % (sink, seq, acked[sink])
            delivered[sink].append((seq, uid))
            inflight[sink] = seq
        elif f[0] == "K" and len(f) == 3:
            acked[f[1]] = int(f[2])
    assert end is not None, "the final drain did not finish"
    torn = sum(1 for line in journal if line.startswith("LOG") and "torn" in line)
    landed = set()
    assert len(confirmed) > KILLS, "too little happened: %d appends" % len(confirmed)
    for sink, got in delivered.items():
        seqs = []
        for seq, uid in got:
            if seq in confirmed:
                assert uid == confirmed[seq], "seq %d carried %s, appended as %s" % (seq, uid, confirmed[seq])
            else:  # an append killed before it returned that made it to flash
                assert uid in tried and uid not in confirmed.values(), (seq, uid)
                landed.add(seq)
            if not seqs or seqs[-1] != seq:
                seqs.append(seq)
        assert seqs == list(range(1, end)), "%s: seqs not delivered 1..%d in order: %s" % (sink, end - 1, seqs)
        assert set(confirmed) <= set(seqs)
        dups = len(got) - len(seqs)
        assert dups <= KILLS + 1, "%s: %d duplicates" % (sink, dups)
    return len(confirmed), {s: len(g) - len(set(g)) for s, g in delivered.items()}, torn, len(landed)


@pytest.mark.parametrize("kind", ["posix", "lfs"])
def test_sigkill_at_random_moments(kind, tmp_path):
    where = str(tmp_path / ("outbox" if kind == "posix" else "flash.img"))
    rnd = random.Random(1234)
    journal = []
    for i in range(KILLS):
        journal += run_killed(kind, where, i, rnd)
    p = start(kind, where, "drain")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    journal += out.splitlines()
    appended, dups, torn, landed = check(journal)
    print("%s: %d kills, %d confirmed appends, duplicates per sink %s, %d torn records found at boot, "
          "%d appends killed after reaching flash" % (kind, KILLS, appended, dups, torn, landed))
