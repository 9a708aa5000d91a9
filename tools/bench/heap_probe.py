# Runs ON the MicroPython unix port, in a staged board flash (cwd), for
# tools/bench/heap_profile.py, which starts it and reads its output: one JSON
# object per line, or a "qstr pool: ..." line that micropython.qstr_info()
# printed for the object before it.
#
#   HEAP_PROBE="imports MOD..." micropython -X heapsize=112wK -c "import heap_probe; heap_probe.main()"
#   HEAP_PROBE="runtime FRAME.hex METER POLLS" micropython ... (the same)
#
# imports: the bytes each module adds to the live heap (gc.collect() before
# and after), in the order given, and the qstr pool after each.
# runtime: the real gateway (app.prepare(), Gateway.run()) on the staged
# config, until every meter was read POLLS times; then the live heap, and for
# each operation the free heap it needs (found by filling the heap with
# ballast and halving the gap until the operation just succeeds) and the
# bytes it allocates with the collector stopped.
import gc
import json
import os
import sys

try:
    import asyncio
    import micropython
except ImportError:  # pragma: no cover (CPython has no heap to measure)
    micropython = None


TRACE = False


def emit(**fields):
    if fields.get("kind") == "stage":
        fields["largest"] = largest_block()
    print(json.dumps(fields))


def live():
    gc.collect()
    return gc.mem_alloc()


def qstrs():
    micropython.qstr_info()  # the profiler reads the line this prints


def imports(names):
    emit(kind="base", alloc=live(), free=gc.mem_free())
    qstrs()
    for name in names:
        before = live()
        __import__(name)
        emit(kind="import", module=name, bytes=live() - before)
        qstrs()


# -- finding what an operation needs --------------------------------------


def largest_block():
    """Bytes of the largest block the heap can give now."""
    gc.collect()
    lo, hi = 0, gc.mem_free()
    while hi - lo > 64:
        mid = (lo + hi) // 2
        try:
            bytearray(mid)
            lo = mid
        except MemoryError:
            hi = mid
        gc.collect()
    return lo


def ballast(leave):
    """Allocations that leave `leave` free bytes in one piece, the end of the
    largest free block, and nothing else free: every other hole is plugged
    with small blocks. So the operation measured next has that piece only."""
    from uctypes import addressof
    top = largest_block()
    probe = bytearray(top - 64)
    end = addressof(probe) + top - 64
    probe = None
    gc.collect()
    window = end - leave  # [window, end) stays free
    chain = None  # [previous link, block]: no list to grow
    inside = None  # the blocks that landed in the window, released at the end
    for size in (1024, 256, 64, 16):
        while True:
            try:
                link = [None, None]
                link[1] = bytearray(size)
            except MemoryError:
                break
            if window <= addressof(link[1]) < end:
                link[0] = inside
                inside = link
            else:
                link[0] = chain
                chain = link
    link = inside = None
    return chain


async def succeeds(op):
    """True when op() (an async callable returning True on success) ran
    without running out of heap."""
    from mbus import DecodeError

    try:
        return bool(await op())
    except (MemoryError, DecodeError) as e:
        # The decoder reports a telegram that outgrows the heap as a
        # DecodeError ("does not fit the free heap"); any other is a failure.
        if not isinstance(e, MemoryError) and "does not fit the free heap" not in str(e):
            raise
        if TRACE:
            sys.print_exception(e)
            emit(kind="failed", free=gc.mem_free(), largest=largest_block())
        return False


async def need(op, step=128):
    """(Smallest free piece in which op succeeds, largest free block now),
    after a warm-up run; the first is None when op does not succeed in the
    heap as it is, and equal to the second when op needs that much or more."""
    global TRACE
    largest = largest_block()
    if not await succeeds(op):
        return None, largest
    trace, TRACE = TRACE, False
    lo, hi = 0, largest
    while hi - lo > step:
        mid = (lo + hi) // 2
        keep = ballast(mid)
        ok = await succeeds(op)
        keep = None  # noqa: F841
        gc.collect()
        if ok:
            hi = mid
        else:
            lo = mid
    TRACE = trace
    return hi, largest


async def volume(op):
    """Bytes op allocates with the collector stopped (its churn); None when
    that is more than the free heap."""
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        await op()
        return gc.mem_alloc() - before
    except MemoryError:
        return None
    finally:
        gc.enable()
        gc.collect()


# -- an in-memory HTTP connection for the API ---------------------------------


class FakeReader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    async def readline(self):
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end + 1
        line = self.data[self.pos:end]
        self.pos = end
        return line

    async def read(self, n=-1):
        end = len(self.data) if n < 0 else min(len(self.data), self.pos + n)
        out = self.data[self.pos:end]
        self.pos = end
        return out

    async def readexactly(self, n):
        return await self.read(n)


class FakeWriter:
    def __init__(self):
        self.status = None
        self.sent = 0

    async def awrite(self, data):
        if self.status is None:
            self.status = int(bytes(data).split(b" ", 2)[1])
        self.sent += len(data)

    async def aclose(self):
        pass

    def close(self):
        pass

    def write(self, data):
        if self.status is None:
            self.status = int(bytes(data).split(b" ", 2)[1])
        self.sent += len(data)

    async def drain(self):
        pass

    def get_extra_info(self, name):
        return ("127.0.0.1", 0)


def request(server, method, path, body=None, token=None, expect=200):
    head = "%s %s HTTP/1.0\r\nHost: board\r\n" % (method, path)
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
    raw = head.encode() + b"\r\n" + data

    async def op():
        import log
        errors = log.counts[3]
        w = FakeWriter()
        await server.handle_request(FakeReader(raw), w)
        if w.status != expect or log.counts[3] != errors:
            emit(kind="failed", request=method + " " + path, status=w.status, free=gc.mem_free())
            return False
        return True

    return op


# -- the gateway at work -----------------------------------------------------


async def poll_once(gw, meter):
    # in a function of its own: the reading poll() returns must not stay
    # referenced from a stack slot of the caller's frame
    await gw.scheduler.poll(gw.scheduler.meters.find(meter))


def stored_config():
    with open("config.json") as f:
        return json.load(f)


def pause_polls(gw):
    """No scheduled poll for a day: nothing runs beside the operation measured."""
    from compat import ticks_add, ticks_ms
    sch = gw.scheduler
    for i in range(sch.meters.n):
        sch.ints[len(sch.row(0)) * i] = ticks_add(ticks_ms(), 86400000)  # row: due first


async def runtime(frame_path, meter, polls):
    with open(frame_path) as f:
        frame = bytes.fromhex("".join(f.read().split()))
    import app
    import log
    gw = app.prepare()
    gw.dispatch.echo = False  # the console is the profiler's channel
    emit(kind="stage", name="after boot (config checked and unloaded)", alloc=live())
    qstrs()
    task = asyncio.create_task(gw.run())
    while gw.scheduler is None or gw.server is None or min(gw.scheduler.row(i)[2] for i in range(gw.scheduler.meters.n)) < polls:  # row: due, polls, ok
        await asyncio.sleep_ms(100)
    emit(kind="stage", name="gateway running, every meter read %d times" % polls, alloc=live(),
         modules=sorted(sys.modules))
    qstrs()

    samples = []
    for _ in range(40):  # between the gateway's own steps, as its health task samples
        await asyncio.sleep_ms(97)
        samples.append(live())
    emit(kind="stage", name="while polling: the most of 40 samples in 4 s", alloc=max(samples), least=min(samples))
    if os.getenv("HEAP_PROBE_DUMP"):
        gc.collect()
        micropython.mem_info(1)
    server = gw.server  # the API application serving on its port; requests here come in memory
    token = gw.api_token()
    pause_polls(gw)
    from mbus import decode
    import readings

    async def decode_frame():
        return decode(frame) is not None

    await poll_once(gw, meter)  # the meter's latest/ file exists
    result = {"address": 1, "frames": [frame], "telegram": None}

    async def make_reading():
        return readings.make(meter, 1, result, True) is not None

    async def publish_reading():
        errors = log.counts[3]
        await gw.dispatch.publish(readings.make(meter, 1, result, True))
        return log.counts[3] == errors

    async def poll_meter():
        ok = await gw.scheduler.poll(gw.scheduler.meters.find(meter)) is not None
        pause_polls(gw)
        return ok

    before = live()
    result["telegram"] = decode(frame)
    emit(kind="stage", name="one decoded telegram of %s kept" % meter, alloc=live(), bytes=live() - before)
    ops = [
        ("decode the frame", decode_frame),
        ("make a reading of it", make_reading),
        ("publish a reading (latest/ file, stages)", publish_reading),
        ("poll the meter over the bus (read, decode, publish)", poll_meter),
        ("GET /", request(server, "GET", "/")),
        ("GET /api/status", request(server, "GET", "/api/status")),
        ("GET /api/readings", request(server, "GET", "/api/readings")),
        ("GET /api/readings?meter=" + meter, request(server, "GET", "/api/readings?meter=" + meter)),
        ("GET /api/logs", request(server, "GET", "/api/logs")),
        ("GET /api/config", request(server, "GET", "/api/config")),
        ("PUT /api/config", request(server, "PUT", "/api/config", stored_config(), token)),
        ("POST /api/poll", request(server, "POST", "/api/poll", {"meter": meter}, token)),
        ("GET /nowhere (404)", request(server, "GET", "/nowhere", expect=404)),
    ]
    for name, op in ops:
        before = live()
        needed, largest = await need(op)
        churn = await volume(op)
        emit(kind="op", name=name, need=needed, largest=largest, churn=churn, kept=live() - before)
    emit(kind="stage", name="after the operations", alloc=live())
    qstrs()
    gw.stop()
    await task


def main():
    args = os.getenv("HEAP_PROBE", "").split()
    global TRACE
    TRACE = bool(os.getenv("HEAP_PROBE_TRACE"))
    if args[0] == "imports":
        imports(args[1:])
    else:
        asyncio.run(runtime(args[1], args[2], int(args[3])))
