"""The firmware at a small heap, on the MicroPython unix port: the smallest
-X heapsize at which it boots (gateway, API, HTTP sink) is found by
bisection, and below the ESP32's 112wK a MemoryError while reading a meter,
storing or sending a reading is caught, logged and retried; nothing stored
is lost: rebooted with more heap, the gateway delivers every queued
reading, in order, without a gap."""
import time

from fw_e2e import arrival, console_readings, delivered, simulator
from fw_helpers import TOKEN, flash_dir, free_port, http
from fwd_servers import Receiver
from unix_board import UnixBoard

SMALL = "92wK"  # boots and stores readings, but reads and sends often find no room (README, "Resources")
# wK, a guard against regressions: found 82-89wK, 94-97wK since the request
# reader and status load with the API; near the edge whether the API's
# import finds room depends on how the boot left the heap (at 95wK it
# boots, at 94wK not, at 97wK its reads fail), so the bisection (to 4wK)
# lands a few wK apart from run to run
BOOTS_AT_MOST = 100


def config(sim, port, url):
    return {"bus": {"port": sim.port, "retries": 1}, "api": {"port": port, "token": TOKEN},
            "meters": [{"name": "heat", "address": 1, "interval_s": 2}, {"name": "water", "address": 2, "interval_s": 2}],
            "sinks": [{"type": "http", "name": "web", "url": url, "backoff_min": 0.2, "backoff_max": 1, "timeout": 3}]}


def boots(tmp_path, sim, url, kw):
    """True when the gateway at kw wK runs with its API listening for 3 s."""
    port = free_port()
    b = UnixBoard(flash_dir(tmp_path / ("h%d" % kw), config(sim, port, url)), heap="%dwK" % kw).start()
    try:
        b.wait_for("api: listening", 10)
        time.sleep(3)
        return b.running() and not any("crashed" in x for x in b.lines)
    except TimeoutError:
        return False
    finally:
        b.stop()


def test_smallest_heap_the_gateway_boots_at(tmp_path, corpus):
    sim = simulator(tmp_path, ["heat", "water"])
    try:
        with Receiver() as web:
            lo, hi = 32, 112  # wK: lo does not boot, hi does
            assert boots(tmp_path, sim, web.url, hi) and not boots(tmp_path, sim, web.url, lo)
            while hi - lo > 4:
                mid = (lo + hi) // 2
                if boots(tmp_path, sim, web.url, mid):
                    hi = mid
                else:
                    lo = mid
            print("smallest heap the gateway boots at: %dwK (about %d kB of heap on the 64-bit unix port)" % (hi, hi * 2))
            assert hi <= BOOTS_AT_MOST
    finally:
        sim.stop()


def test_memory_errors_are_caught_logged_retried_and_nothing_is_lost(tmp_path, corpus):
    sim = simulator(tmp_path, ["heat", "water"])
    port = free_port()
    b = None
    try:
        with Receiver() as web:
            flash = flash_dir(tmp_path, config(sim, port, web.url))
            b = UnixBoard(flash, heap=SMALL).start()
            b.wait_for("api: listening")
            time.sleep(15)
            assert b.running()
            text = "\n".join(b.lines)
            # caught and logged where they happen, each a retry later
            assert any("MemoryError" in x and ("read failed" in x or "forward web" in x) for x in b.lines)
            assert "Task exception wasn't retrieved" not in text and "task scheduler crashed" not in text
            stored = console_readings(b)
            assert stored, "no reading was stored at %s" % SMALL
            b.stop()
            # memory returns (the same flash at the ESP32's heap): every queued reading arrives
            b = UnixBoard(flash, heap="112wK").start()
            b.wait_for("api: listening")
            produced = stored + console_readings(b)
            arrival(lambda: [body for _h, body in web.accepted], produced)
            s = http(port, "GET", "/api/status")[1]
            got = delivered([body for _h, body in web.accepted], produced)
            assert s["forwarding"]["outbox"]["lost"] == 0 and s["forwarding"]["outbox"]["dropped"] == 0
            assert len(got) >= len(stored)
    finally:
        if b:
            b.stop()
            print("\n".join(x for x in b.lines if not x.startswith("{")))
        sim.stop()
