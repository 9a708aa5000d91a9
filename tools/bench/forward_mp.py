"""MicroPython side of forward_bench.py (unix port).

    micropython forward_mp.py flash READINGS.json N SINKS SEGMENT_BYTES
    micropython forward_mp.py drain READINGS.json N OUTBOX_DIR SINKS.json

flash: LittleFS on a simulated 2 MiB ESP32 flash partition (4 KiB blocks,
MicroPython's LittleFS settings); appends N readings and has SINKS sinks
acknowledge each; prints JSON with bytes programmed and blocks erased.
drain: queues N readings, then times the forwarder delivering them all.
"""
import gc
import json
import sys
import time

from outbox import Outbox


def load(path):
    with open(path) as f:
        return json.load(f)


def flash(readings, n, nsinks, seg):
    from flashsim import Flash, mount

    fl = Flash(512)  # 2 MiB, as the filesystem partition of a 4 MiB ESP32
    mount(fl, "/flash")
    sinks = ["s%d" % i for i in range(nsinks)]
    ob = Outbox("/flash/outbox", capacity=1000, sinks=sinks, segment_bytes=seg)
    body = 0
    warm = n // 5
    app = [0, 0]
    ack = [0, 0]
    for i in range(n):
        if i == warm:  # steady state: segments already rolling and being deleted
            body = 0
            app = [0, 0]
            ack = [0, 0]
        r = dict(readings[i % len(readings)])
        p, e = fl.programmed, fl.erased
        ob.append(r)
        app[0] += fl.programmed - p
        app[1] += fl.erased - e
        p, e = fl.programmed, fl.erased
        for s in sinks:
            seq, b = ob.peek(s)
            ob.ack(s, seq)
        body += len(b)
        ack[0] += fl.programmed - p
        ack[1] += fl.erased - e
    k = n - warm
    print(json.dumps({"sinks": nsinks, "segment_bytes": seg, "readings": k, "json_bytes": body / k,
                      "append_programmed": app[0] / k, "append_erased": app[1] / k,
                      "ack_programmed": ack[0] / k, "ack_erased": ack[1] / k}))


def fill(outbox, path, n):
    readings = load(path)
    for i in range(n):
        outbox.append(dict(readings[i % len(readings)]))


def drain(path_readings, n, path, sinks_file):
    import asyncio

    gc.collect()
    base = gc.mem_alloc()  # interpreter, json, asyncio
    heap = base + gc.mem_free()
    import forwarder

    fw = forwarder.setup(load(sinks_file), path, capacity=n + 10, gateway="bench", log=lambda m: None)
    fill(fw.outbox, path_readings, n + n // 5)
    fill(fw.outbox, path_readings, 0)  # overwrite stale stack slots the GC would take for live
    gc.collect()
    resident = gc.mem_alloc() - base

    async def run(count, sample):
        task = asyncio.create_task(fw.run())
        t0 = time.ticks_ms()
        peak = 0
        while sum(fw.outbox.pending(s.name) for s in fw.sinks) > count:
            await asyncio.sleep_ms(1 if sample else 5)
            if sample:  # live heap, after a collection, at many moments
                gc.collect()
                peak = max(peak, gc.mem_alloc() - base)
        dt = time.ticks_diff(time.ticks_ms(), t0)
        task.cancel()
        await asyncio.sleep_ms(10)
        return dt, peak

    k = len(fw.sinks)
    dt, _ = asyncio.run(run(k * (n // 5), False))  # timed: the first n readings
    _, peak = asyncio.run(run(0, True))  # sampled: the rest
    st = fw.status()
    print(json.dumps({"readings": n, "ms": dt, "per_s": n * 1000 / dt, "heap": heap, "resident": resident,
                      "peak": peak, "delivered": {k: v["delivered"] for k, v in st["sinks"].items()}}))


if __name__ == "__main__":
    if sys.argv[1] == "flash":
        flash(load(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        drain(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
