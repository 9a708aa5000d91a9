"""The outbox on real LittleFS (vfs.VfsLfs2 on a simulated flash chip, the
ESP32's filesystem and settings), MicroPython unix port only:

    micropython host_tests/lfs_cases.py [CASE ...]

Full flash (ENOSPC), a failing chip (EIO) and a power cut at every single
flash operation of a busy sequence. Prints "PASS name" / "FAIL name: why".
"""
import json
import sys

from flashsim import Flash, mount, umount
from outbox import Outbox, OutboxError

MP = "/flash"


class Log:
    def __init__(self):
        self.lines = []

    def __call__(self, msg):
        self.lines.append(msg)


def reading(i, size=1500):
    return {"meter": "heat", "uptime_s": i, "raw": ["68" + "ab" * (size // 2)]}


def fresh(blocks=16):
    umount(MP)
    flash = Flash(blocks)
    mount(flash, MP)
    return flash


def reboot(flash):
    umount(MP)
    flash.restore()
    mount(flash, MP)


def drain(ob, sink):
    out = []
    while True:
        item = ob.peek(sink)
        if item is None:
            return out
        out.append((item[0], json.loads(item[1].read())["uptime_s"]))
        ob.ack(sink, item[0])


def case_full_flash_drops_oldest(d):
    flash = fresh(16)  # 64 KiB: room for a few dozen readings
    log = Log()
    ob = Outbox(d, capacity=1000, sinks=("a",), segment_bytes=8192, log=log)
    for i in range(120):
        assert ob.append(reading(i)) == i + 1
    st = ob.status()
    assert st["dropped"] > 60 and st["queued"] + st["dropped"] == 120, st
    assert any("flash full" in line for line in log.lines), log.lines
    reboot(flash)
    ob = Outbox(d, capacity=1000, sinks=("a",), segment_bytes=8192)
    got = drain(ob, "a")
    # the newest readings, contiguous, each with its own content
    assert [s for s, _ in got] == list(range(121 - len(got), 121)), got
    assert all(s == u + 1 for s, u in got), got
    assert ob.status()["lost"] == 0 and ob.status()["dropped"] == st["dropped"]


def case_reading_bigger_than_flash_is_refused_keeping_the_rest(d):
    fresh(16)
    ob = Outbox(d, sinks=("a",))
    for i in range(5):
        ob.append(reading(i))
    try:
        ob.append(reading(5, size=40000))
    except OutboxError as e:
        assert "too large" in str(e) and "seq 6" in str(e), str(e)
    else:
        raise AssertionError("a 40 kB reading fitted on 64 kB of flash")
    assert ob.append(reading(6)) == 6
    assert [s for s, _ in drain(ob, "a")] == [1, 2, 3, 4, 5, 6]


def case_enospc_with_nothing_to_drop(d):
    flash = fresh(16)
    ob = Outbox(d, sinks=("a",), segment_bytes=1 << 20)  # one segment: nothing older to drop
    ob.append(reading(0))
    # someone else's files take the rest of the flash
    try:
        for i in range(64):
            with open(MP + "/big%d.bin" % i, "wb") as f:
                f.write(b"\0" * 4096)
    except OSError:
        pass
    err = None
    for i in range(1, 40):
        try:
            ob.append(reading(i))
        except OutboxError as e:
            err = e
            break
    assert err is not None and err.errno == 28 and "ENOSPC" in str(err), err
    n = ob.next_seq - 1
    reboot(flash)
    ob = Outbox(d, sinks=("a",))
    assert ob.next_seq == n + 1, (ob.next_seq, n)
    got = drain(ob, "a")
    assert [s for s, _ in got] == list(range(1, n + 1)), got
    assert all(s == u + 1 for s, u in got) and ob.status()["lost"] == 0, got


def case_failing_chip_is_reported_and_stored_data_kept(d):
    flash = fresh(32)
    ob = Outbox(d, sinks=("a",))
    for i in range(4):
        ob.append(reading(i))
    ob.ack("a", 1)
    flash.fail_writes(True)
    try:
        ob.append(reading(4))
    except OutboxError as e:
        assert e.errno == 5 and "seq 5" in str(e), str(e)
    else:
        raise AssertionError("append on a dead chip succeeded")
    try:
        ob.ack("a", 2)
    except OutboxError as e:
        assert "a.ack" in str(e), str(e)
    else:
        raise AssertionError("ack on a dead chip succeeded")
    assert ob.status()["last_error"]
    flash.fail_writes(False)
    reboot(flash)
    ob = Outbox(d, sinks=("a",))
    assert ob.next_seq == 5
    assert [s for s, _ in drain(ob, "a")] == [2, 3, 4]


def _busy(ob, done, plan):
    """Appends and acks; records in done what returned."""
    for op in plan:
        if op == "A":
            seq = ob.append(reading(100 + len(done["appended"]), size=700))
            done["appended"].append(seq)
        else:
            item = ob.peek(op)
            if item is not None:
                done["inflight"][op] = item[0]
                ob.ack(op, item[0])
                done["acked"][op] = item[0]


def case_power_cut_at_every_flash_operation(d):
    plan = "AAAaAbAaaAAbbAAAaab" * 2
    base = fresh(24)
    ob = Outbox(d, sinks=("a", "b"), segment_bytes=2048)
    for i in range(6):
        ob.append(reading(i, size=700))
    ob.ack("a", 2)
    umount(MP)
    image = bytes(base._ram)
    # how many flash operations the plan takes without a cut
    probe = Flash(24)
    probe._ram[:] = image
    mount(probe, MP)
    ob = Outbox(d, sinks=("a", "b"), segment_bytes=2048)
    ops0 = probe.ops
    _busy(ob, {"appended": [], "acked": {}, "inflight": {}}, plan)
    total = probe.ops - ops0
    umount(MP)
    assert total > 50, total
    flash = Flash(24)  # one device, rewritten for every cut: 300 fresh 96 KiB buffers fragment the heap
    for cut in range(1, total + 1):
        flash._ram[:] = image
        flash.restore()
        mount(flash, MP)
        ob = Outbox(d, sinks=("a", "b"), segment_bytes=2048, log=Log())
        flash.cut_after(cut)
        done = {"appended": [], "acked": {"a": 2, "b": 0}, "inflight": {}}
        try:
            _busy(ob, done, plan)
        except OutboxError:
            pass
        reboot(flash)
        ob = Outbox(d, sinks=("a", "b"), segment_bytes=2048, log=Log())
        last = done["appended"][-1] if done["appended"] else 6
        assert ob.next_seq in (last + 1, last + 2), (cut, ob.next_seq, last)  # +2: the append in flight landed
        for sink in ("a", "b"):
            got = drain(ob, sink)
            seqs = [s for s, _ in got]
            first = seqs[0] if seqs else ob.next_seq
            acked = done["acked"][sink]
            # nothing acknowledged comes again, except the one in flight at the cut
            assert first in (acked + 1, done["inflight"].get(sink, acked + 1)), (cut, sink, first, acked)
            assert seqs == list(range(first, ob.next_seq)), (cut, sink, seqs)
            assert all(s == u + 1 for s, u in got if s <= 6), (cut, got)
            assert all(s == u - 93 for s, u in got if s > 6), (cut, got)
        assert ob.status()["lost"] == 0
        umount(MP)
    print("  %d power cuts, one at each flash operation" % total)


CASES = [(k[5:], v) for k, v in sorted(globals().items()) if k.startswith("case_")]


def main(names):
    bad = 0
    for name, fn in CASES:
        if names and name not in names:
            continue
        try:
            fn(MP + "/outbox")
            print("PASS", name)
        except Exception as e:
            bad += 1
            print("FAIL %s: %s %s" % (name, type(e).__name__, e))
            sys.print_exception(e)
        umount(MP)
    return bad


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
