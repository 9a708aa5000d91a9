"""firmware/scheduler.py on the MicroPython unix port (ESP32 heap): a meter
that keeps failing is retried 5, 10, 20 ... s later, doubling up to 320 s and
never later than its interval; a reading made while the wall clock is not
set (no NTP yet) says time null, time_synced false, and carries uptime_s;
a read that finds no heap even to begin is counted and backed off like any
failed read (it once left its meter due, and the loop spun on it)."""

from conftest import micropython_json

TABLE = r"""
def table(meters):  # the meter table as the config check makes it
    import config
    cfg, errors = config.validate({"network": {"kind": "host"}, "bus": {"kind": "tcp", "port": 1}, "meters": meters},
                                  {"network": ["host"]})
    assert not errors, errors
    return cfg["meters"]
"""

BACKOFF = TABLE + r"""
import asyncio, json, log, readings, scheduler
from mbus.errors import NoReplyError
from time import ticks_diff, ticks_ms

class DeadBus:
    async def read(self, address, multi=True, max_frames=16):
        raise NoReplyError("no reply from %s" % address)

    def failed(self):  # exchanges failed since boot (bus.Bus counts them for status)
        return 0

class Net:
    time_synced = True

t = table([{"name": "slow", "address": 5, "interval_s": 3600}, {"name": "fast", "address": 6, "interval_s": 60}])
sch = scheduler.Scheduler(DeadBus(), t, readings.Dispatch(echo=False), Net())

async def main():
    out = {}
    for i in range(t.n):
        waits = []
        for _ in range(9):
            try:
                await sch.poll(i)
            except NoReplyError:
                pass
            waits.append(round(ticks_diff(sch.row(i)[0], ticks_ms()) / 1000))
        due, polls, ok, errors, failing, last_ms, ok_up, err_up, faults = sch.row(i)
        out[t.name(i)] = {"waits": waits, "failing": failing, "errors": errors, "ok": ok,
                          "last_error": sch.err_text[i]}
    return out

out = asyncio.run(main())
print(json.dumps({"meters": out, "errors": sum(sch.row(i)[3] for i in range(t.n)), "lines": log.lines()}))
"""

NO_CLOCK = TABLE + r"""
import asyncio, json, readings, scheduler, status

class Bus:
    async def read(self, address, multi=True, max_frames=16):
        return {"telegram": {"frame": {"a": address}, "header": {"secondary_address": "12345678B4097204"},
                             "records": []},
                "frames": [bytes([0x68, 0x03, 0x03, 0x68, 0x08, address, 0x72, 0x7A, 0x16])]}

    def failed(self):
        return 0

class Net:
    time_synced = True  # NTP said yes once, but the clock is not set (e.g. a board that just lost power)

# the clock as a board has it before NTP: 2000-01-01
readings.clock_is_set = lambda: False
scheduler.clock_is_set = lambda: False
d = readings.Dispatch(echo=False)
t = table([{"name": "heat", "address": 7, "interval_s": 60}])
sch = scheduler.Scheduler(Bus(), t, d, Net())
r = asyncio.run(sch.poll(0))
with open(d.path("heat")) as f:
    stored = json.load(f)
import io, reading_json
shown = io.StringIO()
reading_json.dump(r, shown)  # as the console shows it: frames in hex, fields as an object
print(json.dumps({"reading": json.loads(shown.getvalue()), "stored": stored, "meter": status.meter(t, sch, 0)}))
"""


NO_HEAP = TABLE + r"""
import asyncio, json, log, readings, scheduler
from time import ticks_diff, ticks_ms

class Bus:
    reads = 0
    async def read(self, address, multi=True, max_frames=16):
        Bus.reads += 1
        return {"telegram": {"frame": {"a": address}, "header": {}, "records": []}, "frames": [b"\xe5"]}

    def failed(self):
        return 0

class Net:
    time_synced = True

t = table([{"name": "heat", "address": 5, "interval_s": 60}])
starve = [1]
def starved_name(i, name=t.name):
    # the meter's name finds no heap once, as in a heap full to the last block
    if starve[0]:
        starve[0] -= 1
        raise MemoryError("memory allocation failed, allocating 32 bytes")
    return name(i)
t.name = starved_name
sch = scheduler.Scheduler(Bus(), t, readings.Dispatch(echo=False), Net())
out = {}

async def inside():
    try:
        await sch.poll(0)  # the name is made inside the read: a failed read
    except MemoryError:
        pass
    out["inside"] = list(sch.row(0)) + [sch.err_text[0], round(ticks_diff(sch.row(0)[0], ticks_ms()) / 1000)]

async def before():
    # poll() itself fails when called (no heap for its coroutine): the loop
    # counts it, backs the meter off and does not spin on it
    calls = []
    def no_heap(i):
        calls.append(i)
        raise MemoryError("memory allocation failed, allocating 360 bytes")
    sch.poll = no_heap
    sch.ints[0] = ticks_ms()  # due now
    task = asyncio.create_task(sch.run())
    await asyncio.sleep_ms(300)
    task.cancel()
    out["before"] = {"calls": len(calls), "row": list(sch.row(0)), "wait_s": round(ticks_diff(sch.row(0)[0], ticks_ms()) / 1000)}

asyncio.run(inside())
asyncio.run(before())
out["reads"] = Bus.reads
out["lines"] = log.lines()
print(json.dumps(out))
"""

def test_a_failing_meter_backs_off_doubling_up_to_its_cap_and_never_past_its_interval(tmp_path):
    got = micropython_json(BACKOFF, tmp_path)
    slow, fast = got["meters"]["slow"], got["meters"]["fast"]
    assert slow["waits"] == [5, 10, 20, 40, 80, 160, 320, 320, 320]  # 5 s << 6 at most
    assert fast["waits"] == [5, 10, 20, 40, 60, 60, 60, 60, 60]  # the 60 s interval caps it
    assert slow["failing"] == slow["errors"] == 9 and slow["ok"] == 0 and got["errors"] == 18
    assert slow["last_error"] == "NoReplyError: no reply from 5"
    text = "\n".join(got["lines"])
    assert "WARNING meter slow: read failed (7 in a row): NoReplyError: no reply from 5; next try in 320 s" in text
    assert "unexpected error" not in text  # a bus error is no bug: no traceback


def test_a_reading_made_before_the_clock_is_set(tmp_path):
    got = micropython_json(NO_CLOCK, tmp_path)
    r = got["reading"]
    assert r["time"] is None and r["time_synced"] is False
    assert isinstance(r["uptime_s"], int) and r["uptime_s"] >= 0
    assert r["meter"] == "heat" and r["primary_address"] == 7 and r["raw"] == ["680303680807727A16"]
    assert got["stored"] == r  # what the API serves from latest/heat.json
    assert got["meter"]["last_ok"] == {"time": None, "uptime_s": r["uptime_s"]}


def test_a_read_that_finds_no_heap_to_begin_is_counted_and_backed_off(tmp_path):
    got = micropython_json(NO_HEAP, tmp_path)
    due, polls, ok, errors, failing, last_ms, ok_up, err_up, faults, err, wait = got["inside"]
    assert (polls, ok, errors, failing) == (1, 0, 1, 1) and wait == 5 and got["reads"] == 0
    assert err == "MemoryError: memory allocation failed, allocating 32 bytes"
    before = got["before"]
    assert before["calls"] == 1, "the loop spun on a meter whose read could not begin"
    assert before["row"][3] == 2 and before["row"][4] == 2 and before["wait_s"] == 10
    text = "\n".join(got["lines"])
    assert "WARNING meter heat: read failed (1 in a row): MemoryError" in text
    assert "WARNING meter heat: read failed (2 in a row): MemoryError: memory allocation failed, allocating 360 bytes" in text
    assert "unexpected error" not in text  # no heap is no bug: no traceback
