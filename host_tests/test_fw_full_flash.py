"""A full flash, for real: the whole firmware on a small LittleFS image
(tools/flashsim.py, the ESP32's filesystem and settings) at 112wK, whose
free space is taken while the gateway runs (host_tests/lfs_gateway.py).
Outbox appends and config writes fail cleanly (the API answer, the status,
a log line name the problem), nothing stored is damaged or lost, polling
goes on, the gateway boots on the full flash, and once space returns the
queued readings are delivered, in order, without a gap.

HEAP: 160wK, not the ESP32's 112wK: the flash simulator, its image file and
LittleFS's caches share the unix port's heap with the gateway, its HTTP
sink and the API, and at 112wK the config check of a PUT finds no room
(a MemoryError, answered 500 and logged; README "Resources")."""
import json
import os
import subprocess
import time

from conftest import ROOT
from fw_e2e import arrival, console_readings, delivered, simulator
from fw_helpers import TOKEN, flash_dir, free_port, http, until
from fwd_servers import Receiver
from unix_board import UnixBoard, micropython

HERE = os.path.dirname(os.path.abspath(__file__))
BLOCKS = 160  # 640 KiB: the firmware takes about 100 blocks
HEAP = "160wK"  # see the docstring


class LfsBoard:
    """UnixBoard running the firmware from a LittleFS image, with the fill control."""

    def __init__(self, tmp_path, staged):
        self.image = str(tmp_path / "flash.img")
        self.staged = staged
        self.control = str(tmp_path / "control")
        self.cwd = str(tmp_path)
        self.board = None

    def boot(self):
        self.board = UnixBoard(self.cwd, heap=HEAP, argv=[os.path.join(HERE, "lfs_gateway.py"), self.image,
                                                          self.staged, str(BLOCKS), self.control]).start()
        self.board.wait_for("api: listening")
        return self.board

    def command(self, cmd):
        try:
            os.remove(self.control + ".done")
        except OSError:
            pass
        with open(self.control, "w") as f:
            f.write(cmd)
        return until(lambda: os.path.exists(self.control + ".done") and open(self.control + ".done").read(),
                     10, cmd)

    def dump(self):
        r = subprocess.run([micropython(), os.path.join(HERE, "lfs_gateway.py"), self.image, "-", str(BLOCKS),
                            "--dump"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])


def status(port):
    code, s = http(port, "GET", "/api/status")
    assert code == 200, s
    return s


def test_full_flash_fails_cleanly_and_loses_nothing(tmp_path, corpus):
    sim = simulator(tmp_path, ["water"])
    port = free_port()
    b = None
    with Receiver(mode="fail", fail_count=10 ** 6) as web:  # the sink is down: readings queue up
        cfg = {"name": "gw-full", "bus": {"port": sim.port, "retries": 1}, "api": {"port": port, "token": TOKEN},
               "meters": [{"name": "water", "address": 1, "interval_s": 2}],
               "sinks": [{"type": "http", "name": "web", "url": web.url, "backoff_min": 0.2, "backoff_max": 1,
                          "timeout": 3}]}
        staged = flash_dir(tmp_path, cfg)
        lfs = LfsBoard(tmp_path, staged)
        try:
            b = lfs.boot()
            until(lambda: status(port)["forwarding"]["outbox"]["queued"] >= 3, 20, "readings queued")
            assert lfs.command("fill").startswith("filled ")
            n = len(b.lines)
            # the next appends fail: logged with the cause, shown in the status
            b.wait_for(r"stage outbox failed: OutboxError: outbox: flash full \(ENOSPC\) storing seq \d+", 15, n)
            s = status(port)
            assert "ENOSPC" in s["forwarding"]["outbox"]["last_error"] and s["flash_free"] < 8192
            stored = [r for r in console_readings(b)]
            queued = s["forwarding"]["outbox"]["queued"]
            # polling goes on: readings keep coming (printed, not stored)
            polls = s["bus"]["polls"]
            until(lambda: status(port)["bus"]["polls"] >= polls + 2, 10, "polls on a full flash")
            assert any(r["seq"] is None for r in b.readings()[len(stored):])

            # a config write fails cleanly: 507 naming the cause, the old file kept.
            # Failed appends give blocks back, and LittleFS keeps small files in
            # its metadata blocks: fill again, and send a config (40 meters,
            # 2.5 kB) that needs a block of its own
            assert lfs.command("fill again").startswith("filled ")
            _, shown = http(port, "GET", "/api/config")
            shown["meters"] += [{"name": "m%d" % i, "address": i, "interval_s": 3600} for i in range(2, 42)]
            code, body = http(port, "PUT", "/api/config", shown, token=TOKEN)
            # (LittleFS refuses the new file with its ENAMETOOLONG when even its
            # metadata is full, or ENOSPC when the data blocks are)
            full = ("ENOSPC: the flash is full", "no room for a new file on the flash")
            assert code == 507 and "config not saved, the stored one is unchanged" in body["error"] \
                and any(x in body["error"] for x in full), body
            assert any(x in status(port)["flash_error"] for x in full)
            assert any("api: new config not saved" in x for x in b.lines)
            assert len(http(port, "GET", "/api/config")[1]["meters"]) == 1

            # a reboot on the full flash: the gateway comes up and polls
            b.stop()
            b = lfs.boot()
            until(lambda: status(port)["bus"]["polls"] >= 2, 15, "polls after a boot on a full flash")
            s = status(port)
            assert s["safe_mode"] is None and s["forwarding"]["outbox"]["queued"] == queued
            assert s["forwarding"]["outbox"]["lost"] == 0

            # space returns: appends work again, and everything queued is delivered
            assert lfs.command("free") == "freed"
            until(lambda: any(r["seq"] == stored[-1]["seq"] + 1 for r in b.readings()), 15, "a stored reading")
            web.mode = "ok"
            produced = console_readings(b)
            arrival(lambda: [body for _h, body in web.accepted], produced)
            got = delivered([body for _h, body in web.accepted], produced)
            o = status(port)["forwarding"]["outbox"]
            assert len(got) >= queued + 1 and o["lost"] == 0 and o["dropped"] == 0
        finally:
            if b:
                b.stop()
                print("\n".join(x for x in b.lines if not x.startswith("{")))
            sim.stop()
    # on the flash afterwards: the config as it was, no half-written file left
    after = lfs.dump()
    assert json.loads(after["config"]) == cfg
    assert not [f for f in after["files"] if f.endswith((".new", ".tmp"))], after["files"]
