"""The simulator's parts: the line (wired AND, UART decoding), a slave's
behaviour, the config format and the command line."""
import os
import subprocess
import sys
import time

import pytest

from bus.harness import Simulator
from sim.process import SIMULATOR
from mbus import frame
from mbus import requests as rq
from mbus.master import Master
from mbus.transport import TcpTransport
from sim import config as simconfig
from sim import line, telegrams as tg
from sim.slave import ACK, Slave

KAM = "test-frames/kamstrup_382_005.hex"


def test_char_bits_even_parity():
    assert line.char_bits(0xE5) == [0, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1]  # five 1s: parity 1
    assert line.char_bits(0x00)[9] == 0


def test_line_alone_and_aligned():
    assert [b for _, b in line.combine([(0, b"\x68\x16")])] == [0x68, 0x16]
    both = line.combine([(3, b"\xe5\x0f"), (3, b"\xf0\xff")])
    assert [b for _, b in both] == [0xE5 & 0xF0, 0x0F]


def test_line_offset_collision_garbles():
    out = [b for _, b in line.combine([(0, ACK), (5, ACK)])]
    assert out != [0xE5]


def slave(**kw):
    t = tg.load(os.path.join(tg.corpus_dir(), KAM))
    args = dict(name="k", primary=1, secondary="148391202D2C0102", telegrams=[t, tg.closing(t)])
    args.update(kw)
    return Slave(**args)


def test_slave_fcb_repeat_and_advance(corpus):
    s = slave()
    assert s.handle(0x40, 1, None, b"")[0] == ACK
    r1, n1 = s.handle(0x7B, 1, None, b"")
    assert "telegram 1/2" in n1 and r1[5] == 1
    r1b, n = s.handle(0x7B, 1, None, b"")  # FCB unchanged: a retry
    assert r1b == r1 and "repeated" in n
    r2, n2 = s.handle(0x5B, 1, None, b"")
    assert "telegram 2/2" in n2
    _, n3 = s.handle(0x7B, 1, None, b"")
    assert "telegram 1/2" in n3  # the sequence starts over
    assert s.handle(0x7B, 2, None, b"") == (None, None)


def test_slave_expects_fcb_1_after_a_link_reset(corpus):
    # EN 13757-2: after SND_NKE the next FCV=1 frame carries FCB=1. FCB=0
    # repeats the frame before, whose answer was the E5h to SND_NKE.
    s = slave()
    s.handle(0x7B, 1, None, b"")
    s.handle(0x5B, 1, None, b"")
    assert s.handle(0x40, 1, None, b"")[0] == ACK
    r, n = s.handle(0x5B, 1, None, b"")
    assert r == ACK and "E5h repeated" in n
    r, n = s.handle(0x7B, 1, None, b"")
    assert "telegram 1/2" in n and r[0] == 0x68
    # Broadcast SND_NKE resets every slave the same way (no answer to FFh).
    assert s.handle(0x40, 0xFF, None, b"") == (None, "link reset")
    assert s.handle(0x5B, 1, None, b"")[0] == ACK
    # A command with FCB=0 right after the reset is a repetition: not executed.
    s.handle(0x40, 1, None, b"")
    assert s.handle(0x53, 1, 0x51, b"\x01\x7a\x09")[1].startswith("repeated") and s.primary == 1


def test_slave_selection_nibble_and_byte_wildcards(corpus):
    s = slave()
    assert s.handle(0x53, 0xFD, 0x52, rq.secondary_bytes("1483912FFFFFFFFF"))[0] == ACK and s.selected
    assert s.handle(0x53, 0xFD, 0x52, rq.secondary_bytes("14839120FFFF01F3"))[0] is None and not s.selected
    b = slave(wildcards="byte")
    assert b.handle(0x53, 0xFD, 0x52, rq.secondary_bytes("14839120FFFF0102"))[0] == ACK
    assert b.handle(0x53, 0xFD, 0x52, rq.secondary_bytes("148391202FFF0102"))[0] is None
    assert b.handle(0x53, 0xFD, 0x52, rq.secondary_bytes("148391202D2CFFFF"))[0] == ACK
    assert b.handle(0x40, 0xFD, None, b"")[0] == ACK and not b.selected  # SND_NKE to FDh deselects


def test_slave_commands(corpus):
    s = slave()
    assert s.handle(0x73, 1, 0x51, b"\x01\x7a\x09") == (ACK, "primary address 1 -> 9")
    assert s.handle(0x73, 9, 0x51, b"\x01\x7a\x0a")[1].startswith("repeated")  # same FCB: not executed
    assert s.primary == 9
    assert s.handle(0x53, 9, 0x50, b"\x10") == (ACK, "application reset subcode 10h")
    assert s.handle(0x53, 0xFF, 0xBD, b"")[0] is None and s.baudrate == 9600  # broadcast: no answer
    assert s.handle(0x73, 9, 0x99, b"") == (None, "CI 99h ignored")


def test_telegram_rewrites_keep_frames_valid(corpus):
    t = tg.load(os.path.join(tg.corpus_dir(), KAM))
    u = tg.with_secondary(tg.with_address(t, 7), "99999999AE4C0B0F")
    frame.parse(u)
    assert u[5] == 7 and rq.reply_secondary(u) == "99999999AE4C0B0F"
    assert tg.more_records_follow(tg.with_more_records(t))
    assert not tg.more_records_follow(tg.closing(t))


@pytest.mark.parametrize("cfg, words", [
    ({"slaves": []}, "no slaves"),
    ({"slaves": [{"primary": 1}]}, "needs at least one telegram"),
    ({"slaves": [{"telegrams": ["nope.hex"]}]}, "No such file"),
    ({"slaves": [{"telegrams": [{"hex": "68 03 03 68 08 01 72 7b 17"}]}]}, "stop byte"),
    ({"slaves": [{"telegrams": [KAM], "secondary": "12"}]}, "16 hex digits"),
    ({"slaves": [{"telegrams": [KAM], "primary": 300}]}, "primary address"),
    ({"slaves": [{"telegrams": [KAM], "colour": "red"}]}, "unknown key(s) colour"),
    ({"slaves": [{"telegrams": [KAM]}], "faults": {"no_reply": 2}}, "probability"),
    ({"baudrate": 1234, "slaves": [{"telegrams": [KAM]}]}, "baudrate"),
])
def test_config_errors_name_the_problem(cfg, words, corpus):
    with pytest.raises(simconfig.ConfigError) as e:
        simconfig.build(cfg)
    assert words in str(e.value)


def test_generated_meters_share_prefixes(corpus):
    bus = simconfig.build({"slaves": [{"generate": {"count": 3, "template": KAM, "id_start": "00000098",
                                                    "primary_start": 4, "medium": "07"}}]})
    assert [s.secondary for s in bus.slaves] == ["000000982D2C0107", "000000992D2C0107", "000001002D2C0107"]
    assert [s.primary for s in bus.slaves] == [4, 5, 6]
    assert rq.reply_secondary(bus.slaves[2].telegrams[0]) == "000001002D2C0107"


def test_command_line_reports_a_bad_config(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    p = subprocess.run([sys.executable, SIMULATOR, "--config", str(bad)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "cannot read config" in p.stderr


def test_command_line_prints_what_it_does(tmp_path, corpus):
    sim = Simulator("one.json", tmp_path, "--seed", "5")
    try:
        m = Master(TcpTransport(sim.host, sim.port), reply_timeout_ms=50)
        assert m.ping(1)
        m.close()
        time.sleep(0.2)
        out = sim.output()
    finally:
        sim.stop()
    assert out.startswith("listening on 127.0.0.1:")
    assert "bus: 1 slaves at 2400 baud, fast, seed 5" in out
    assert "master 1040014116  (SND_NKE to 1)" in out and "link reset" in out


def test_realtime_paces_bytes_at_the_line_rate(tmp_path, corpus):
    """Pacing, checked loosely: a read cannot beat the bytes on the wire."""
    sim = Simulator("one.json", tmp_path, "--realtime")
    try:
        m = Master(TcpTransport(sim.host, sim.port))
        t0 = time.monotonic()
        r = m.read(1)
        elapsed = time.monotonic() - t0
        m.close()
    finally:
        stats = sim.stats()
    wire = (stats["master_bytes"] + stats["reply_bytes"]) * 11 / 2400
    assert len(r["frames"]) == 1
    assert elapsed >= wire
    assert stats["master_frames"] == 2 and stats["reply_bytes"] == 1 + len(r["frames"][0])


def test_collision_fault_and_what_the_line_carried(tmp_path, corpus):
    """A second meter talking at once garbles a reply; the stats tell each
    answered frame's outcome, which the master's counters then match."""
    once = {"probability": 1.0, "limit": 1}
    cfg = {"slaves": [{"name": "a", "primary": 1, "telegrams": [KAM], "faults": {"collision": once}},
                      {"name": "b", "primary": 2, "telegrams": [KAM], "faults": {"no_reply": once}},
                      {"name": "c", "primary": 3, "telegrams": [KAM], "faults": {"noise": once}}]}
    sim = Simulator(cfg, tmp_path, "--quiet")
    try:
        m = Master(TcpTransport(sim.host, sim.port), sync_fcb=False)
        frames = [m.read(a)["frames"] for a in (1, 2, 3)]
        counts = dict(zip(("no_reply", "garbled", "bad_frame", "echoes", "noise_skipped"), m.core.counts))
        m.close()
    finally:
        stats = sim.stats()
    assert all(len(f) == 1 for f in frames)
    assert stats["faults"] == {"collision": 1, "no_reply": 1, "noise": 1} and stats["collisions"] == 1
    assert stats["outcomes"] == {"silenced": 1, "collided": 1, "damaged": 0, "noisy": 1, "intact": 2}
    assert counts == {"no_reply": 1, "garbled": 1, "bad_frame": 0, "echoes": 0, "noise_skipped": 1}
