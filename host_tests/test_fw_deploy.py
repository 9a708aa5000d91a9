"""Deployment for real, against a virtual board: the MicroPython unix port on
a pty (socat), driven by mpremote exactly as `make deploy` drives an ESP32.
After the deploy the board boots the uploaded files and reads the simulator.
Also: package.json is current and mip installs lib/mbus from it."""
import json
import os
import subprocess
import sys
import time

import deploy
import package_json
import virtual_board
from fw_helpers import TOKEN, free_port, http
from test_fw_gateway import GAS, HEAT, simulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wait_console(path, text, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and text in open(path, errors="replace").read():
            return
        time.sleep(0.2)
    raise AssertionError("%r not on the console within %ss:\n%s" % (text, timeout, open(path).read()[-3000:]))


def test_deploy_to_a_virtual_board_then_it_boots_and_reads_meters(tmp_path, corpus):
    sim = simulator(tmp_path, [{"name": "heat", "primary": 1, "telegrams": [HEAT]},
                               {"name": "gas", "primary": 3, "telegrams": [GAS]}])
    flash, dev, console = tmp_path / "board-flash", str(tmp_path / "ttyV0"), str(tmp_path / "console.log")
    flash.mkdir()
    (flash / "app.py").write_text("raise RuntimeError('stale file from an old deploy')\n")
    board = virtual_board.start(str(flash), dev, heap="112wK", console=console)
    try:
        port = free_port()
        cfg = tmp_path / "my-config.json"
        cfg.write_text(json.dumps({"bus": {"port": sim.port}, "api": {"port": port, "token": TOKEN},
                                   "meters": [{"name": "heat", "address": 1, "interval_s": 2},
                                              {"name": "gas", "address": 3, "interval_s": 2}]}))
        # what `make deploy PORT=... BOARD=unix-sim CONFIG=...` runs, with ESP32 bytecode
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy.py"), "--port", dev,
                            "--board", "unix-sim", "--config", str(cfg), "--arch", "xtensawin"],
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        names = sorted(os.listdir(flash))
        assert "app.py" not in names and "app.mpy" in names and "main.py" in names and "safe_mode" not in names
        assert json.load(open(flash / "board.json"))["board"] == "unix-sim"
        assert json.load(open(flash / "config.json"))["api"]["token"] == TOKEN
        assert open(flash / "lib" / "mbus" / "master.mpy", "rb").read(4)[:2] == b"M\x06"
        wait_console(console, '"meter":"gas"')
        wait_console(console, "api: listening")
        status, s = http(port, "GET", "/api/status")
        assert status == 200 and s["safe_mode"] is None and s["board"] == "unix-sim"
        status, readings = http(port, "GET", "/api/readings")
        assert sorted(readings) == ["gas", "heat"] and readings["heat"]["secondary_address"] == "068558172D2C0804"

        # ROMFS=1 to a firmware without a ROMFS partition (the unix port has none):
        # a clear refusal before anything on the board changes
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy.py"), "--port", dev,
                            "--board", "unix-sim", "--romfs"], capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and "has no ROMFS partition" in r.stdout + r.stderr, r.stdout + r.stderr
        assert "safe_mode" not in os.listdir(flash) and "app.mpy" in os.listdir(flash)
        deadline = time.monotonic() + 20  # mpremote's Ctrl-C stopped the gateway; the reset that follows restarts it
        while True:
            try:
                if http(port, "GET", "/api/status", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the gateway did not come back after the refused ROMFS deploy"
            time.sleep(0.5)

        # the library alone, with mip from package.json, onto the same board
        r = subprocess.run([deploy.mpremote(), "connect", dev, "resume", "mip", "install", "--target", "mip-lib",
                            os.path.join(ROOT, "package.json")], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        listed = [u[0].split("/")[1] for u in json.load(open(os.path.join(ROOT, "package.json")))["urls"]]
        assert sorted(os.listdir(flash / "mip-lib" / "mbus")) == sorted(listed)
    finally:
        virtual_board.stop(board)
        sim.stop()


def test_package_json_lists_the_library():
    path = os.path.join(ROOT, "package.json")
    assert open(path).read() == package_json.text(), "package.json is out of date: run python tools/package_json.py"
