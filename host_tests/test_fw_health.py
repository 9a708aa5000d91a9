"""firmware/health.py on the MicroPython unix port: the watchdog is fed only
while the scheduler makes progress, a stall is logged once and stops the
feeding (so the watchdog resets the board), feeding resumes with progress;
supervise() restarts a task that crashed or ended, with a growing delay, and
the running gateway counts the restarts in /api/status task_restarts."""

from conftest import micropython_json
from fw_helpers import flash_dir, free_port, http, replace_module
from unix_board import UnixBoard

CHECK = r"""
import json, health, log
from time import ticks_ms, ticks_add

class Dog:
    fed = 0
    def feed(self):
        Dog.fed += 1

last = [ticks_ms()]
h = health.Health(Dog(), 30, lambda: last[0])
out = []
out.append((h.check(), Dog.fed, h.stalled))           # progress now: fed
last[0] = ticks_add(ticks_ms(), -29000)
out.append((h.check(), Dog.fed, h.stalled))           # 29 s ago: still fed
last[0] = ticks_add(ticks_ms(), -31000)
out.append((h.check(), Dog.fed, h.stalled))           # 31 s ago: a stall, not fed
out.append((h.check(), Dog.fed, h.stalled))           # still stalled: logged once only
last[0] = ticks_ms()
out.append((h.check(), Dog.fed, h.stalled))           # progress again: fed again
nowdt = health.Health(None, 30, lambda: ticks_ms())    # no watchdog (wdt_s 0): counts all the same
out.append((nowdt.check(), nowdt.feeds))
print(json.dumps({"out": out, "errors": log.counts[3], "lines": log.lines()}))
"""

RUN = r"""
import asyncio, json, health, log
from time import ticks_ms

class Dog:
    fed = []
    def feed(self):
        Dog.fed.append(ticks_ms())

t0 = ticks_ms()
last = [t0]

async def scheduler():  # makes progress for 2.5 s, then hangs (without blocking the loop)
    while ticks_ms() - t0 < 2500:
        last[0] = ticks_ms()
        await asyncio.sleep_ms(100)

async def main():
    h = health.Health(Dog(), 1, lambda: last[0])  # stall limit 1 s
    asyncio.create_task(scheduler())
    task = asyncio.create_task(h.run())
    await asyncio.sleep_ms(6200)
    task.cancel()
    return h

h = asyncio.run(main())
print(json.dumps({"fed": [t - t0 for t in Dog.fed], "stalled": h.stalled, "heap_low": h.heap_low,
                  "lines": log.lines()}))
"""

SUPERVISE = r"""
import asyncio, json, health, log
from time import ticks_ms

t0 = ticks_ms()
starts = []

async def flaky():
    starts.append(ticks_ms() - t0)
    if len(starts) <= 2:
        raise ValueError("broken %d" % len(starts))
    if len(starts) == 3:
        return  # ends: restarted too
    await asyncio.sleep(60)

async def main():
    restarts = {}
    task = asyncio.create_task(health.supervise("flaky", flaky, restarts))
    await asyncio.sleep_ms(7800)
    task.cancel()
    return restarts

restarts = asyncio.run(main())
print(json.dumps({"starts": starts, "restarts": restarts, "lines": log.lines()}))
"""


def test_the_watchdog_is_fed_only_while_the_scheduler_progresses(tmp_path):
    got = micropython_json(CHECK, tmp_path)
    assert got["out"] == [[True, 1, False], [True, 2, False], [False, 2, True], [False, 2, True], [True, 3, False],
                          [True, 1]]
    stall = [x for x in got["lines"] if "ERROR health:" in x]
    assert len(stall) == 1 and "scheduler made no progress for 31 s; the watchdog will reset the board" in stall[0]
    assert got["errors"] == 1


def test_the_health_task_stops_feeding_when_the_scheduler_stalls(tmp_path):
    got = micropython_json(RUN, tmp_path)
    fed = got["fed"]
    # once a second while the scheduler runs (and for its 1 s stall limit), then never again
    assert 3 <= len(fed) <= 5 and fed[0] < 200 and all(800 <= b - a <= 1300 for a, b in zip(fed, fed[1:])), fed
    assert fed[-1] <= 3700, fed
    assert got["stalled"] is True and got["heap_low"] > 0
    assert sum("scheduler made no progress" in x for x in got["lines"]) == 1


def test_supervise_restarts_a_crashed_task_with_a_growing_delay(tmp_path):
    got = micropython_json(SUPERVISE, tmp_path)
    starts = got["starts"]
    assert len(starts) == 4, got
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # after each end: 1 s, 2 s, 4 s (doubling up to a minute)
    assert [round(g / 1000) for g in gaps] == [1, 2, 4], gaps
    assert got["restarts"] == {"flaky": 3}
    text = "\n".join(got["lines"])
    assert "task flaky crashed: ValueError: broken 1" in text and "task flaky crashed: ValueError: broken 2" in text
    assert "task flaky ended; restarting" in text


FLAKY_EXTENSION = """
import asyncio
runs = []

async def flaky():
    runs.append(1)
    if len(runs) == 1:
        raise RuntimeError("first run fails")
    await asyncio.sleep(3600)

def start(gw):
    return {"flaky": flaky}
"""


def test_the_running_gateway_counts_task_restarts_in_its_status(tmp_path):
    port = free_port()
    flash = flash_dir(tmp_path, {"bus": {"port": 9}, "api": {"port": port, "token": "tok-123"}})
    replace_module(flash, "battery", FLAKY_EXTENSION)  # an extension task that crashes once
    b = UnixBoard(flash, heap="112wK").start()
    try:
        b.wait_for("task flaky crashed: RuntimeError: first run fails", 15)
        b.wait_for("api: listening", 15)
        status, s = http(port, "GET", "/api/status")
        assert s["task_restarts"] == {"flaky": 1} and s["safe_mode"] is None
        assert b.running()  # a task's crash is not the gateway's
    finally:
        b.stop()
