"""The forwarding half of the gateway, driven by a JSON file, for the sink
tests; the same file runs on CPython and on the MicroPython unix port:

    micropython fwd_gateway.py CONFIG.json

CONFIG: {"outbox": dir, "gateway": name, "sinks": [sink entries],
"readings": [reading templates], "count": n, "interval_ms": ms,
"linger_s": s, "capacity": n, "drain_s": s}. Appends count readings
(templates in turn) every interval_ms, then waits up to linger_s for every
sink to catch up; with drain_s, appends first and then runs
Forwarder.drain(drain_s) instead (battery style), printing "DRAINED <bool>".
Prints "A <seq> <meter>" per append, "POLL <meter>" per poll command, log
lines as "LOG ...", and finally "STATUS <json>".
"""
import asyncio
import json
import sys

import forwarder
from sinks.check import validate_sinks


def log(msg):
    print("LOG", msg)


async def main(cfg):
    errors = validate_sinks(cfg["sinks"])
    if errors:
        for e in errors:
            print("CONFIG", e)
        return 2
    fw = forwarder.setup(cfg["sinks"], cfg["outbox"], cfg.get("capacity", 1000), cfg.get("gateway", "gw"),
                         on_poll=lambda meter: print("POLL", meter), log=log)
    ob, sinks = fw.outbox, fw.sinks
    note = None
    if any(getattr(s, "discovery", False) for s in sinks):  # as forwarding.start wires it
        from sinks.mqtt import note_discovery as note

    def append(r):
        seq = ob.append(r)
        if note:
            note(r)
        return seq

    if cfg.get("drain_s"):
        for i in range(cfg.get("count", 0)):
            print("A", append(dict(cfg["readings"][i % len(cfg["readings"])])), "-")
        print("DRAINED", await fw.drain(cfg["drain_s"]))
        print("STATUS", json.dumps(fw.status()))
        return 0
    task = asyncio.create_task(fw.run())
    templates = cfg["readings"]
    for i in range(cfg.get("count", 0)):
        r = dict(templates[i % len(templates)])
        r["uptime_s"] = i
        print("A", append(r), r["meter"])
        await asyncio.sleep(cfg.get("interval_ms", 0) / 1000)
    waited = 0
    while waited < cfg.get("linger_s", 10) * 20 and any(ob.pending(s.name) for s in sinks):
        await asyncio.sleep(0.05)
        waited += 1
    if cfg.get("hold_s"):
        await asyncio.sleep(cfg["hold_s"])
    print("STATUS", json.dumps(fw.status()))
    task.cancel()
    return 0


with open(sys.argv[1]) as f:
    conf = json.load(f)
sys.exit(asyncio.run(main(conf)))
