"""The firmware with its code in a ROMFS image (`make romfs`, `make deploy
ROMFS=1`): on a board with a ROMFS partition MicroPython runs the .mpy files
in place, so bytecode and constants stay in flash and out of the heap. The
image for the ESP32 carries every module; and the whole gateway (API, MQTT
with Home Assistant discovery, HTTP, eight corpus meters including the
biggest telegrams) runs from it in the ESP32's heap, 112wK, on the unix port
(UnixBoard mounts the image at /rom as such a board does), without a
MemoryError, every reading delivered to both sinks, every status answered."""
import json
import os
import subprocess
import time

import firmware_image
from fw_e2e import arrival, console_readings, delivered
from fw_helpers import TOKEN, flash_dir, free_port, http, rom_image
from fwd_servers import Receiver, Subscriber
from test_mqtt import broker  # noqa: F401  (the fixture: Mosquitto on a free port)
from unix_board import Simulator, UnixBoard, heap_bytes, micropython

HEAP = "112wK"
FRAMES = ("kamstrup_multical_601", "itron_cyble_m-bus_v1.4_water", "itron_cyble_m-bus_v1.4_gas",
          "EMU_EMU-Professional-375-M-Bus", "landis+gyr_ultraheat_t230", "abb_delta", "siemens_water",
          "engelmann_sensostar2c")
LIST = """
import vfs, os
with open(%r, "rb") as f:
    rom = f.read()
vfs.mount(vfs.VfsRom(rom), "/rom")
def walk(d):
    for name, kind, *_ in os.ilistdir(d):
        p = d + "/" + name
        if kind == 0x4000:
            yield from walk(p)
        else:
            yield p[5:]
print(" ".join(sorted(walk("/rom"))))
"""


def test_romfs_image_for_the_esp32_carries_every_module(tmp_path):
    out = str(tmp_path / "flash")
    firmware_image.stage(out, "esp32-devkitc", arch="xtensawin", romfs=True)
    assert sorted(os.listdir(out)) == ["board.json", "boot.py", "main.py"]  # the filesystem keeps no code
    r = subprocess.run([micropython(), "-c", LIST % firmware_image.romfs_path(out)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    want = sorted(name + ".mpy" for src, name in firmware_image.files()
                  if os.path.basename(src) not in firmware_image.KEEP_SOURCE)
    assert r.stdout.split() == want
    with open(firmware_image.romfs_path(out), "rb") as f:
        head = f.read(64)
    assert head[:2] == b"\xd2\xcd"  # the ROMFS magic a board's `mpremote romfs deploy` checks
    # fits the romfs partition of MicroPython's ESP32_GENERIC ROMFS variant
    # (ports/esp32/partitions-4MiB-romfs.csv: 0x20000 bytes)
    assert os.path.getsize(firmware_image.romfs_path(out)) <= 0x20000


def test_the_whole_gateway_runs_from_rom_at_112wk(tmp_path, broker, corpus):  # noqa: F811
    path = tmp_path / "bus.json"
    path.write_text(json.dumps({"corpus": corpus, "seed": 1, "slaves": [
        {"name": "m%d" % i, "primary": i + 1, "telegrams": ["test-frames/%s.hex" % f]} for i, f in enumerate(FRAMES)]}))
    sim = Simulator(str(path)).start()
    sub = Subscriber(broker, "mbus/+/+/state").start()
    b = None
    try:
        with Receiver() as web:
            port = free_port()
            cfg = {"name": "gw-rom", "bus": {"port": sim.port}, "api": {"port": port, "token": TOKEN},
                   "meters": [{"name": "m%d" % i, "address": i + 1, "interval_s": 2} for i in range(len(FRAMES))],
                   "sinks": [{"type": "mqtt", "name": "broker", "host": "127.0.0.1", "port": broker.port,
                              "backoff_min": 0.2, "backoff_max": 1},
                             {"type": "http", "name": "web", "url": web.url, "backoff_min": 0.2, "backoff_max": 1}]}
            flash = flash_dir(tmp_path, cfg, romfs=True)
            b = UnixBoard(flash, heap=HEAP, rom=rom_image(flash)).start()
            b.wait_for("api: listening")
            lows = []
            for _ in range(15):
                time.sleep(2)
                status, s = http(port, "GET", "/api/status")
                assert status == 200, s
                lows.append(min(s["heap_free"], s["heap_free_low"]))
            assert http(port, "GET", "/api/config")[0] == 200
            produced = console_readings(b)
            arrival(lambda: [body for _h, body in web.accepted], produced)
            arrival(sub.states, produced)
            b.stop()
            assert len(produced) >= 8 * 10, len(produced)
            assert not [x for x in b.lines if "MemoryError" in x], [x for x in b.lines if "MemoryError" in x][:3]
            assert {r["meter"] for r in produced} == {"m%d" % i for i in range(len(FRAMES))}
            delivered([body for _h, body in web.accepted], produced)
            delivered(sub.states(), produced)
            # the app's heap is 112wK; at least a quarter of it stayed free at every sample
            assert min(lows) >= heap_bytes(HEAP) // 4 - 4096, (min(lows), lows)
            print("lowest free heap with the code in ROM: %d bytes of 112wK" % min(lows))
    finally:
        sub.stop()
        if b:
            b.stop()
        sim.stop()
