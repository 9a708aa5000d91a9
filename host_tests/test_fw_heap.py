"""Regression guard for the firmware's heap (not a benchmark: `make
bench-firmware` measures the running gateway): the whole firmware, as
deployed (.mpy), booted at the ESP32's heap size must leave a generous floor
of the heap free, with the boot-time code unloaded again."""
import json
import subprocess

from fw_helpers import flash_dir
from unix_board import micropython

HEAP = "112wK"
# of the heap free after boot with every module of the running gateway
# imported (.mpy in the heap): 0.484 after the memory work; 0.378 now: the
# bounded request reader (httpreq) and the status rendering load with the API
# (imported per request they found no free block their size in a busy heap,
# and the API answered nothing), readings carry "fields", the decoder has
# the EN 13757-3:2018 tables and exact scaling, the bus counts its faults;
# 0.414 before the memory work. With the code in ROM (ROMFS) the gateway
# keeps about twice as much free: test_fw_rom.py, README "Memory".
FLOOR = 0.37
RUNNING = ("app", "api", "microdot", "scheduler", "bus", "net", "health", "readings", "log", "hw",
           "mbus.master", "mbus.tcp", "mbus.aio", "mbus.telegram")
BOOT_ONLY = ("startup", "config", "stored_config", "json_items", "api_admin", "page", "mbus.commands", "mbus.scan")

PROBE = """
import gc, sys, json
import app
gw = app.prepare()
for name in %r:
    __import__(name)
gc.collect()
print(json.dumps({"free": gc.mem_free(), "alloc": gc.mem_alloc(), "modules": sorted(sys.modules)}))
"""


def test_booted_firmware_leaves_the_heap_floor_free(tmp_path):
    meters = [{"name": "m%d" % i, "address": i + 1} for i in range(8)]
    flash = flash_dir(tmp_path, {"bus": {"port": 1}, "api": {"token": "t0123456789"}, "meters": meters})
    env = {"MICROPYPATH": ":.frozen:lib", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([micropython(), "-X", "heapsize=" + HEAP, "-c", PROBE % (RUNNING,)], cwd=flash, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    total = got["free"] + got["alloc"]
    print("free after boot: %d of %d bytes (%.1f %%)" % (got["free"], total, 100.0 * got["free"] / total))
    assert got["free"] >= FLOOR * total, "only %d of %d bytes free (%.1f %%)" % (got["free"], total,
                                                                             100.0 * got["free"] / total)
    assert not set(BOOT_ONLY) & set(got["modules"]), "boot-time or rare code stayed loaded"
