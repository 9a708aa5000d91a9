"""The `mbus` command line: every subcommand against the simulator over
socket:// (and over a pty bridged by socat, through pyserial), its output,
its exit codes and its Ctrl-C behaviour.

The commands run as subprocesses (`python -m mbus`), as a user runs them.
Most commands run at 38400 baud with a 30 ms reply window (FAST), so
silence costs little; the simulator answers at once (fast mode). The Ctrl-C
tests keep the 2400-baud defaults.
"""
import fcntl
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

import mbus
from conftest import LIB, ROOT, read_hex
from sim import config as simconfig
from sim import telegrams as tg
from sim.process import SIM_CONFIGS, Simulator

FAST = ["--baudrate", "38400", "--timeout", "30"]
CLI = [sys.executable, "-m", "mbus"]
ENV = dict(os.environ, PYTHONPATH=LIB)
TEN = simconfig.load(os.path.join(SIM_CONFIGS, "ten.json"))


def run(*args, stdin=None, timeout=120, env=ENV):
    return subprocess.run(CLI + [str(a) for a in args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def ok(r):
    assert r.returncode == 0, "rc %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout, r.stderr)
    return r.stdout


def as_json(obj):
    return json.loads(json.dumps(obj))


def reply_of(slave):
    """The frames a simulated slave sends, as the master receives them."""
    return [tg.with_address(t, slave.primary) for t in slave.telegrams]


@pytest.fixture(scope="module")
def ten(tmp_path_factory, corpus):
    """Ten meters (tools/sim/ten.json), left as they are by the tests using it."""
    sim = Simulator("ten.json", tmp_path_factory.mktemp("ten"))
    sim.url = "socket://%s:%d" % (sim.host, sim.port)
    yield sim
    sim.stop()


@pytest.fixture
def bus(tmp_path, corpus):
    """A fresh simulator per test (for commands that change meters)."""
    sims = []

    def start(config="ten.json", *extra):
        sim = Simulator(config, tmp_path, *extra)
        sim.url = "socket://%s:%d" % (sim.host, sim.port)
        sims.append(sim)
        return sim

    yield start
    for s in sims:
        s.stop()


# -- decode ------------------------------------------------------------------------------

KAMSTRUP = os.path.join("test-frames", "kamstrup_382_005.hex")


def test_decode_hex_file_and_stdin(corpus):
    path = os.path.join(corpus, KAMSTRUP)
    want = as_json(mbus.decode(read_hex(path)))
    assert json.loads(ok(run("decode", path))) == want
    with open(path) as f:
        text = f.read()
    assert json.loads(ok(run("decode", text))) == want
    assert json.loads(ok(run("decode", stdin=text))) == want
    assert json.loads(ok(run("decode", "-", "--indent", "0", stdin=text))) == want


def test_decode_several_frames_and_merge(corpus):
    path = os.path.join(corpus, KAMSTRUP)
    frame = read_hex(path)
    capture = "10 5B 78 D3 16 " + frame.hex() + " E5 " + frame.hex()
    items = json.loads(ok(run("decode", capture)))
    assert items[0] == {"frame": {"type": "short", "c": 0x5B, "a": 0x78}}
    assert items[1] == items[3] == as_json(mbus.decode(frame))
    assert items[2] == {"frame": {"type": "ack"}}
    merged = json.loads(ok(run("decode", "--merge", path, path)))
    assert merged == as_json(mbus.merge([mbus.decode(frame), mbus.decode(frame)]))
    assert len(merged["records"]) == 12


def test_decode_table(corpus):
    out = ok(run("decode", "-f", "table", os.path.join(corpus, KAMSTRUP), "E5"))
    lines = out.splitlines()
    assert lines[0] == "meter 14839120  KAM  version 1  electricity  secondary address 148391202D2C0102"
    assert lines[2].split() == ["#", "function", "storage", "tariff", "subunit", "quantity", "value", "unit"]
    assert lines[4].split() == ["1", "instantaneous", "0", "0", "0", "on_time", "32400", "s"]
    assert "manufacturer data: 00000000000000000000000000000010" in out
    assert lines[-1] == "E5h acknowledgement"


def test_decode_user_data():
    assert json.loads(ok(run("decode", "--user-data", "78 04 13 E8030000")))["records"][0]["value"] == 1.0
    xml = ok(run("decode", "--user-data", "-f", "xml", "70 08"))
    assert "<Error>Application busy</Error>" in xml


def test_decode_errors_name_the_problem():
    r = run("decode", "68 03")
    assert r.returncode == 1 and r.stderr.startswith("error: frame truncated: 2 bytes cannot hold a header")
    r = run("decode", "E5 10 5B 01")
    assert r.returncode == 1 and "frame truncated: 3 of 5 bytes in frame 2 of the hex argument (at byte 4)" in r.stderr
    r = run("decode", "zz")
    assert r.returncode == 2 and "neither a file nor hex" in r.stderr
    r = run("decode", "68 03 03 68 08 01 70 79 17")
    assert r.returncode == 1 and "stop byte" in r.stderr


# -- XML as libmbus prints it -----------------------------------------------------------------

def corpus_xml(corpus):
    out = []
    for folder in ("test-frames", "error-frames"):
        d = os.path.join(corpus, folder)
        out += [os.path.join(d, f[:-4]) for f in sorted(os.listdir(d))
                if f.endswith(".xml") and not f.endswith(".norm.xml")]
    return out


def test_xml_reproduces_libmbus_for_every_corpus_frame(corpus):
    from mbus.cli.libmbus_xml import frames_xml

    names = corpus_xml(corpus)
    assert len(names) == 86  # 76 test frames, 10 application errors
    differ = []
    for name in names:
        with open(name + ".xml", "rb") as f:
            want = f.read().decode("utf-8")
        got = frames_xml([read_hex(name + ".hex")])
        if got != want:
            differ.append(os.path.basename(name))
    # Not only after whitespace normalisation: byte for byte.
    assert differ == []


def test_xml_through_the_command_line(corpus):
    name = os.path.join(corpus, "test-frames", "landis+gyr_ultraheat_t230")
    with open(name + ".xml", "rb") as f:
        want = f.read().decode("utf-8")
    assert ok(run("decode", "--format", "xml", name + ".hex")) == want


def test_xml_reads_long_binary_lvars_with_the_standards_lengths():
    from mbus.cli.libmbus_xml import frames_xml

    header = bytes.fromhex("78563412" "2D2C" "01" "04" "2A" "00" "0000")
    for lvar, size in ((0xF4, 32), (0xF5, 48), (0xF6, 64)):
        data = bytes([0x0D, 0xFD, 0x16, lvar]) + bytes(size - 1) + b"\x07" + bytes.fromhex("01 13 05")
        xml = frames_xml([mbus.frame.long_frame(0x08, 0x01, 0x72, header + data)])
        # The record after the LVAR is found where it is: a 1-byte volume.
        assert xml.count("<DataRecord") == 2 and "<Value>5</Value>" in xml, hex(lvar)
        assert "<Value>07 " + "00 " * (size - 2) + "00</Value>" in xml


def test_xml_refuses_what_libmbus_refuses(corpus):
    r = run("decode", "-f", "xml", os.path.join(corpus, "error-frames", "premature_end_of_data1.hex"))
    assert r.returncode == 1 and "Premature end of record at data." in r.stderr
    r = run("decode", "-f", "xml", "10 5B 01 5C 16")
    assert r.returncode == 1 and "short frame carries no telegram" in r.stderr


# -- request -------------------------------------------------------------------------------------

def test_request_by_primary_secondary_and_wildcard(ten):
    for slave in TEN.slaves[:9:3]:  # not med-0F: an F nibble in its address is a wildcard too
        want = as_json(mbus.decode(reply_of(slave)[0]))
        assert json.loads(ok(run("request", "-d", ten.url, slave.primary, *FAST))) == want
        assert json.loads(ok(run("request", "-d", ten.url, slave.secondary, *FAST))) == want
    slave = TEN.slaves[4]  # man-KAM 555555552D2C0102: the only one with this identification and manufacturer
    r = ok(run("request", "-d", ten.url, "555555552D2CFFFF", "--indent", "0", *FAST))
    assert json.loads(r)["header"]["secondary_address"] == slave.secondary


def test_request_table_xml_and_raw(ten):
    slave = TEN.slaves[0]
    frame = reply_of(slave)[0]
    out = ok(run("request", "-d", ten.url, 1, "-f", "table", *FAST))
    assert out.splitlines()[0] == "meter 12345670  KAM  version 1  electricity  secondary address 123456702D2C0102"
    assert ok(run("request", "-d", ten.url, 1, "--raw", *FAST)).split() == [frame.hex().upper()]
    from mbus.cli.libmbus_xml import frames_xml

    xml = ok(run("request", "-d", ten.url, 1, "-f", "xml", *FAST))
    # A live read stamps every record, as libmbus's request tools do.
    stamps = [x for x in xml.splitlines() if "<Timestamp>" in x]
    assert len(stamps) == 7
    assert "\n".join(x for x in xml.splitlines() if "<Timestamp>" not in x) + "\n" == frames_xml([frame])


def test_request_multi_telegram(bus):
    sim = bus("multi.json")
    cfg = simconfig.load(os.path.join(SIM_CONFIGS, "multi.json"))
    frames = reply_of(cfg.slaves[0])
    assert len(frames) == 3
    t = json.loads(ok(run("request", "-d", sim.url, 1, *FAST)))
    assert t == as_json(mbus.merge([mbus.decode(f) for f in frames]))
    raw = ok(run("request", "-d", sim.url, 1, "--raw", *FAST)).split()
    assert raw == [f.hex().upper() for f in frames]
    xml = ok(run("request", "-d", sim.url, 1, "-f", "xml", *FAST))
    assert xml.count("<SlaveInformation>") == 1
    assert xml.count('frame="0"') == xml.count('frame="1"') == xml.count('frame="2"') == 7
    r = run("request", "-d", sim.url, 1, "--single", *FAST)
    assert len(json.loads(ok(r))["records"]) == 6 and "more telegrams" in r.stderr
    r = run("request", "-d", sim.url, 3, "--max-frames", "4", "--raw", *FAST)
    assert len(ok(r).split()) == 4 and "more telegrams than the 4 read" in r.stderr


def test_request_failures(ten):
    r = run("request", "-d", ten.url, 42, *FAST)
    assert r.returncode == 3 and "no reply from primary address 42" in r.stderr and r.stdout == ""
    # Four meters share 1234567 and the manufacturer: a selection they all answer.
    r = run("request", "-d", ten.url, "1234567F2D2C0102", *FAST)
    assert r.returncode == 4 and "several meters answered" in r.stderr
    r = run("request", "-d", ten.url, 251)
    assert r.returncode == 2 and "0..250" in r.stderr
    r = run("request", "-d", ten.url, "1234X")
    assert r.returncode == 2 and "neither a primary address" in r.stderr


# -- scans ---------------------------------------------------------------------------------------

def test_scan_primary(ten):
    r = json.loads(ok(run("scan-primary", "-d", ten.url, "--last", 14, *FAST)))
    assert r == {"found": list(range(1, 11)), "collisions": [], "probes": 15, "interrupted": False}
    out = ok(run("scan-primary", "-d", ten.url, "--first", 9, "--last", 12, "-f", "table", *FAST))
    assert out.splitlines() == ["address  answer", "      9  E5h", "     10  E5h",
                                "2 meter(s) found, 0 collision(s); 4 probes over 4 addresses"]
    assert run("scan-primary", "-d", ten.url, "--first", 5, "--last", 4).returncode == 2


def test_scan_primary_reports_shared_addresses(bus):
    sim = bus({"slaves": [{"primary": 3, "telegrams": [KAMSTRUP]},
                          {"primary": 3, "secondary": "11111111FFFF0102", "telegrams": [KAMSTRUP]}]})
    r = json.loads(ok(run("scan-primary", "-d", sim.url, "--last", 5, *FAST)))
    assert r["found"] == [] and r["collisions"] == [3]


def test_scan_primary_read_finds_meters_whose_e5h_coincide(bus):
    sim = bus({"slaves": [{"primary": 3, "telegrams": [KAMSTRUP], "response_delay_bits": 20},
                          {"primary": 3, "secondary": "11111111FFFF0102", "telegrams": [KAMSTRUP],
                           "response_delay_bits": 20},
                          {"primary": 5, "secondary": "22222222FFFF0102", "telegrams": [KAMSTRUP]}]})
    r = json.loads(ok(run("scan-primary", "-d", sim.url, "--last", 5, *FAST)))
    assert r["found"] == [3, 5] and r["collisions"] == []
    r = json.loads(ok(run("scan-primary", "-d", sim.url, "--last", 5, "--read", *FAST)))
    assert r["found"] == [5] and r["collisions"] == [3] and r["secondary"] == {"5": "22222222FFFF0102"}
    out = ok(run("scan-primary", "-d", sim.url, "--first", 3, "--last", 5, "--read", "-f", "table", *FAST))
    assert out.splitlines()[1:3] == ["      3  garbled: several meters share this address",
                                     "      5  E5h, telegram from 22222222FFFF0102"]


def test_scan_secondary(ten):
    # Three meters that differ in version and medium, one with medium 0Fh (an F
    # nibble no probe names: only the verification pass finds it).
    group = [s for s in TEN.slaves if s.secondary.startswith("77777777")]
    r = json.loads(ok(run("scan-secondary", "-d", ten.url, "777777772D2CFFFF", *FAST)))
    assert r["found"] == sorted(s.secondary for s in group)
    assert r["primary"] == {s.secondary: s.primary for s in group}
    assert r["verified"] is True and r["interrupted"] is False and r["collisions"] == []
    assert r["mask"] == "777777772D2CFFFF" and r["probes"] > 3
    out = ok(run("scan-secondary", "-d", ten.url, "1234567FFFFFFFFF", "-f", "table", *FAST))
    lines = out.splitlines()
    assert [x.split() for x in lines[:-1]] == [
        ["secondary", "address", "primary"], ["123456702D2C0102", "1"], ["123456712D2C0102", "2"],
        ["123456722D2C0102", "3"], ["123456732D2C0102", "4"]]
    assert re.match(r"4 meter\(s\) found under 1234567FFFFFFFFF; \d+ probes; list verified complete$", lines[-1])


# -- select, set-address, switch-baudrate, reset -------------------------------------------------------

def test_select_then_read_the_selected_meter(ten):
    assert json.loads(ok(run("select", "-d", ten.url, "55555555C514FFFF", *FAST))) == {
        "mask": "55555555C514FFFF", "selected": True}
    t = json.loads(ok(run("request", "-d", ten.url, 253, *FAST)))
    assert t["header"]["secondary_address"] == "55555555C5140102"
    r = run("select", "-d", ten.url, "99999999FFFFFFFF", *FAST)
    assert r.returncode == 3 and "no meter answered the selection of 99999999FFFFFFFF" in r.stderr
    r = run("select", "-d", ten.url, "55555555FFFFFFFF", *FAST)
    assert r.returncode == 4
    assert run("select", "-d", ten.url, 5).returncode == 2


def test_set_address(bus):
    sim = bus()
    assert json.loads(ok(run("set-address", "-d", sim.url, 1, 20, *FAST))) == {
        "address": 1, "new_address": 20, "acknowledged": True}
    t = json.loads(ok(run("request", "-d", sim.url, 20, *FAST)))
    assert t["header"]["secondary_address"] == TEN.slaves[0].secondary
    assert run("request", "-d", sim.url, 1, *FAST).returncode == 3
    # By secondary address, and refused where another meter already answers.
    out = ok(run("set-address", "-d", sim.url, "55555555AE4C0102", 30, "-f", "table", *FAST))
    assert out == "meter 55555555AE4C0102 now answers at primary address 30\n"
    r = run("set-address", "-d", sim.url, 30, 2, *FAST)
    assert r.returncode == 4 and "already answers at primary address 2" in r.stderr
    assert json.loads(ok(run("request", "-d", sim.url, 30, *FAST)))["header"]["manufacturer"] == "SEN"
    assert run("set-address", "-d", sim.url, 30, 300).returncode == 2


def test_switch_baudrate(bus):
    sim = bus()
    r = json.loads(ok(run("switch-baudrate", "-d", sim.url, 2, 9600, *FAST)))
    assert r == {"address": 2, "baudrate": 9600, "acknowledged": True}
    # The meter now listens at 9600 baud; the simulated line stays at 2400.
    assert run("request", "-d", sim.url, 2, *FAST).returncode == 3
    assert "baud rate -> 9600" in sim.output()
    r = run("switch-baudrate", "-d", sim.url, 2, 1234)
    assert r.returncode == 2 and "300, 600, 1200" in r.stderr


def test_reset(ten):
    assert json.loads(ok(run("reset", "-d", ten.url, 3, *FAST))) == {"address": 3, "reset": True}
    assert json.loads(ok(run("reset", "-d", ten.url, "55555555AE4C0102", "--subcode", 7, *FAST))) == {
        "address": "55555555AE4C0102", "reset": True, "subcode": 7}
    out = ok(run("reset", "-d", ten.url, 255, "-f", "table", *FAST))
    assert out == "primary address 255: application reset sent (broadcast, no answer expected)\n"
    log = ten.output()
    assert "application reset subcode 07h" in log and log.count("application reset") >= 12
    assert run("reset", "-d", ten.url, 42, *FAST).returncode == 3


# -- raw -------------------------------------------------------------------------------------------------

def test_raw(ten):
    frame = reply_of(TEN.slaves[1])[0]
    r = json.loads(ok(run("raw", "-d", ten.url, "10 5B 02 5D 16", *FAST)))
    assert r["sent"] == "105B025D16" and r["reply"] == frame.hex().upper()
    assert r["frames"] == [as_json(mbus.decode(frame))]
    out = ok(run("raw", "-d", ten.url, "10", "40", "02", "42", "16", "-f", "table", *FAST))
    assert out == "sent   10 40 02 42 16\nreply  E5\nE5h acknowledgement\n"
    r = run("raw", "-d", ten.url, "10 40 33 73 16", *FAST)
    assert r.returncode == 3 and json.loads(r.stdout)["reply"] == "" and "no reply" in r.stderr
    # Every meter acknowledges a SND_NKE to FEh at once: E5h on top of E5h.
    r = run("raw", "-d", ten.url, "10 40 FE 3E 16", *FAST)
    assert r.returncode == 4 and json.loads(r.stdout)["error"].startswith("the reply is not a sequence")


# -- simulate -----------------------------------------------------------------------------------------------

def start_cli_simulator(*args):
    p = subprocess.Popen(CLI + ["simulate", "--quiet"] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    first = p.stdout.readline()
    assert first.startswith("listening on "), first + p.stderr.read()
    return p, "socket://" + first.split()[-1]


def simulated_delays(*args):
    """The response delays `mbus simulate` gives its meters (summary lines)."""
    p = subprocess.Popen(CLI + ["simulate"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=ENV, cwd=ROOT)
    try:
        lines = [p.stdout.readline(), p.stdout.readline()]
        assert lines[0].startswith("listening on ") and lines[1].startswith("bus: "), lines + [p.stderr.read()]
        lines += [p.stdout.readline() for _ in range(int(lines[1].split()[1]))]  # "bus: N slaves ..."
    finally:
        p.terminate()
        p.wait(10)
    return lines[1].split("seed ")[1].strip(), [line.split("delay ")[1].strip() for line in lines[2:]]


def test_simulate_seed_draws_the_response_delays(corpus):
    seed, default = simulated_delays()
    assert seed == "0"
    assert simulated_delays("--seed", "0") == ("0", default)
    seed, other = simulated_delays("--seed", "7")
    assert seed == "7" and other != default
    assert simulated_delays("--seed", "7") == ("7", other)  # a seed repeats a run
    # Bundled configs too (one.json leaves its meter's delay open).
    assert simulated_delays("--config", "one", "--corpus", corpus, "--seed", "7")[1][0] != \
        simulated_delays("--config", "one", "--corpus", corpus, "--seed", "8")[1][0]


def test_simulate_serves_the_demo_bus_and_bundled_configs(corpus):
    p, url = start_cli_simulator()
    try:
        r = json.loads(ok(run("scan-primary", "-d", url, "--last", 4, *FAST)))
        assert r["found"] == [1, 2, 3]
        t = json.loads(ok(run("request", "-d", url, 3, *FAST)))
        assert t["header"]["manufacturer"] == "EFE" and t["frame"]["a"] == 3
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 0
    p, url = start_cli_simulator("--config", "one", "--corpus", corpus)
    try:
        assert json.loads(ok(run("request", "-d", url, 1, *FAST)))["header"]["id"] == "14839120"
    finally:
        p.terminate()
        assert p.wait(10) == 0
    r = run("simulate", "--config", "nope")
    assert r.returncode == 2 and "no simulator config nope" in r.stderr


# -- serial ports: a pty bridged to the simulator by socat ------------------------------------------------------

@pytest.fixture
def pty(tmp_path, ten):
    """A fresh pty per test (socat PTY <-> TCP): the kernel refuses a second
    session's parity setting on a pty that was hung up once."""
    socat = shutil.which("socat")
    assert socat, "socat is needed (make debian-deps)"
    link = str(tmp_path / "ttyMBUS")
    p = subprocess.Popen([socat, "PTY,link=%s,raw,echo=0" % link, "TCP:%s:%d" % (ten.host, ten.port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not os.path.exists(link):
        assert p.poll() is None and time.monotonic() < deadline, "socat did not start"
        time.sleep(0.02)
    yield link
    p.terminate()
    p.wait(10)


def test_request_over_a_serial_port(pty):
    slave = TEN.slaves[2]
    t = json.loads(ok(run("request", "-d", pty, slave.primary, *FAST)))
    assert t == as_json(mbus.decode(reply_of(slave)[0]))


def test_busy_serial_port(pty):
    import serial

    holder = serial.Serial(pty, 2400, parity="E", exclusive=True)
    try:
        r = run("request", "-d", pty, 1, *FAST)
        assert r.returncode == 6 and "is busy" in r.stderr
    finally:
        holder.close()


# -- exit codes -----------------------------------------------------------------------------------------------

def test_missing_ports(tmp_path):
    r = run("request", "-d", str(tmp_path / "ttyUSB9"), 1)
    assert r.returncode == 5 and r.stderr.startswith("error: no serial port %s" % (tmp_path / "ttyUSB9"))
    r = run("scan-primary", "-d", "socket://127.0.0.1:1")
    assert r.returncode == 5 and "nothing answers at socket://127.0.0.1:1" in r.stderr
    r = run("request", "-d", "tcp://127.0.0.1:1", 1)
    assert r.returncode == 5
    r = run("request", "-d", "nope://x", 1)
    assert r.returncode == 2 and "bad device" in r.stderr
    r = run("request", 1, env=dict(ENV, MBUS_DEVICE=str(tmp_path / "ttyACM7")))
    assert r.returncode == 5 and "ttyACM7" in r.stderr
    assert run("request", 1, env={k: v for k, v in ENV.items() if k != "MBUS_DEVICE"}).returncode == 2


def test_the_board_never_loads_the_command_line():
    code = ("import sys, mbus; mbus.decode(bytes.fromhex('6803036808017079 16'.replace(' ', ''))); "
            "print(sorted(m for m in sys.modules if m in ('argparse', 'mbus.cli', 'mbus.__main__', 'serial')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert r.stdout.strip() == "[]", r.stderr


# -- progress and Ctrl-C -----------------------------------------------------------------------------------------

def test_progress_on_a_terminal_only(ten):
    r = run("scan-primary", "-d", ten.url, "--last", 3, *FAST)
    assert r.stderr == ""  # piped: quiet
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    p = subprocess.Popen(CLI + ["scan-primary", "-d", ten.url, "--last", "12"] + FAST, stdout=subprocess.PIPE,
                         stderr=slave, env=dict(ENV, TERM="xterm"), cwd=ROOT)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out = p.communicate(timeout=60)[0]
    assert p.returncode == 0 and json.loads(out)["found"] == list(range(1, 11))
    text = seen.decode()
    assert "\r[" in text and "address 0 " in text and "found" in text
    assert text.endswith("\r")  # the line is cleared before the result


def interrupt(args, sim, when, sig=signal.SIGINT, times=1):
    """Start a command, send sig once the simulator's log shows when (times times)."""
    p = subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    deadline = time.monotonic() + 60
    while sim.output().count(when) < times:
        assert p.poll() is None and time.monotonic() < deadline, "never got to %r" % when
        time.sleep(0.02)
    p.send_signal(sig)
    out, err = p.communicate(timeout=30)
    return p.returncode, out, err


def test_ctrl_c_stops_a_primary_scan_and_prints_what_was_found(bus):
    sim = bus()
    rc, out, err = interrupt(["scan-primary", "-d", sim.url], sim, "(SND_NKE to 13)")
    assert rc == 130, err
    r = json.loads(out)
    assert r["interrupted"] is True and r["found"] == list(range(1, 11)) and 13 <= r["probes"] < 251
    assert err == ""


def test_sigterm_also_stops_a_scan_cleanly(bus):
    sim = bus()
    rc, out, err = interrupt(["scan-primary", "-d", sim.url, "-f", "table"], sim, "(SND_NKE to 3)", signal.SIGTERM)
    assert rc == 130 and out.splitlines()[-1].endswith("; interrupted"), err


def test_a_port_lost_mid_scan_still_prints_what_was_found(bus):
    sim = bus()
    p = subprocess.Popen(CLI + ["scan-primary", "-d", sim.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=ENV, cwd=ROOT)
    deadline = time.monotonic() + 60
    while "(SND_NKE to 12)" not in sim.output():
        assert p.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    sim.stop()
    out, err = p.communicate(timeout=30)
    assert p.returncode == 7, err
    r = json.loads(out)
    assert r["found"] == list(range(1, 11)) and r["interrupted"] is True and "disconnected" in r["error"]
    assert err.startswith("error: ") and "disconnected" in err


def test_ctrl_c_stops_a_request_and_prints_nothing(bus):
    # Twenty telegrams paced at 2400 baud: stopped after the second, the
    # reading is not the meter's, so stdout stays empty (README, Command line).
    sim = bus("multi.json", "--realtime")
    rc, out, err = interrupt(["request", "-d", sim.url, "3"], sim, "telegram 2/20")
    assert (rc, out, err) == (130, "", "interrupted\n")


def test_ctrl_c_stops_a_secondary_scan_and_prints_what_was_found(bus):
    sim = bus()
    # Once a second meter has sent its telegram, the first one is in the list.
    rc, out, err = interrupt(["scan-secondary", "-d", sim.url, "-f", "table"] + FAST, sim, "telegram 1/1", times=2)
    assert rc == 130, err
    lines = out.splitlines()
    assert lines[0].split() == ["secondary", "address", "primary"] and lines[-1].endswith("; interrupted")
    found = [x.split()[0] for x in lines[1:-1]]
    assert found and set(found) <= set(s.secondary for s in TEN.slaves)


# -- pip install ------------------------------------------------------------------------------------------------------

def test_pip_install_gives_the_mbus_command(tmp_path, corpus):
    src = tmp_path / "src"
    for part in ("lib", os.path.join("tools", "sim")):
        shutil.copytree(os.path.join(ROOT, part), str(src / part),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, f), str(src / f))
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                        str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, PYTHONPATH=str(target))
    mbus_cmd = str(target / "bin" / "mbus")
    r = subprocess.run([mbus_cmd, "--version"], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert r.stdout == "mbus %s\n" % mbus.__version__
    r = subprocess.run([mbus_cmd, "decode", os.path.join(corpus, KAMSTRUP)], capture_output=True, text=True,
                       env=env, cwd=str(tmp_path))
    assert json.loads(r.stdout)["header"]["id"] == "14839120"
    # python -m mbus runs the installed package's __main__ (not the clone's lib/).
    r = subprocess.run([sys.executable, "-m", "mbus", "decode", os.path.join(corpus, KAMSTRUP)],
                       capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert r.returncode == 0 and json.loads(r.stdout)["header"]["id"] == "14839120", r.stderr
    r = subprocess.run([sys.executable, "-c", "import mbus.cli, mbus.__main__; print(mbus.__main__.__file__)"],
                       capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert r.stdout.strip() == str(target / "mbus" / "__main__.py"), r.stderr
    r = subprocess.run([sys.executable, "-m", "mbus", "--version"], capture_output=True, text=True, env=env,
                       cwd=str(tmp_path))
    assert r.stdout == "mbus %s\n" % mbus.__version__
    # The installed simulator (mbus_sim) serves a bundled config.
    p = subprocess.Popen([mbus_cmd, "simulate", "--config", "one", "--corpus", corpus, "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(tmp_path))
    try:
        url = "socket://" + p.stdout.readline().split()[-1]
        r = subprocess.run([mbus_cmd, "request", "-d", url, "1"] + FAST, capture_output=True, text=True, env=env,
                           cwd=str(tmp_path))
        assert json.loads(r.stdout)["header"]["manufacturer"] == "KAM", r.stderr
    finally:
        p.terminate()
        p.wait(10)
