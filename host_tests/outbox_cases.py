"""Outbox behaviour, as plain functions that run on CPython (imported by
test_outbox.py) and on the MicroPython unix port:

    micropython host_tests/outbox_cases.py DIR [CASE ...]

prints "PASS name" or "FAIL name: why" per case. Each case gets its own
fresh directory under DIR.
"""
import os
import sys

from outbox import Outbox, OutboxError


class Log:
    def __init__(self):
        self.lines = []

    def __call__(self, msg):
        self.lines.append(msg)


def reading(i, pad=0):
    return {"meter": "m%d" % (i % 3), "uptime_s": i, "raw": ["68" + "00" * pad], "telegram": {"records": []}}


def drain(ob, sink):
    """seqs delivered to sink until the queue is empty (acking each)."""
    out = []
    while True:
        item = ob.peek(sink)
        if item is None:
            return out
        out.append(item[0])
        ob.ack(sink, item[0])


def seg_files(d):
    return sorted(n for n in os.listdir(d) if n.endswith(".log"))


def case_order_and_independent_cursors(d):
    ob = Outbox(d, sinks=("a", "b"))
    seqs = [ob.append(reading(i)) for i in range(10)]
    assert seqs == list(range(1, 11)), seqs
    assert drain(ob, "a") == seqs
    assert ob.pending("a") == 0 and ob.pending("b") == 10
    seq, body = ob.peek("b")
    body = body.read()
    assert seq == 1 and b'"seq":1' in body and body.startswith(b"{") and body.endswith(b"}"), body
    assert ob.status()["queued"] == 10


def case_body_is_the_reading_json(d):
    import json

    ob = Outbox(d, sinks=("a",))
    r = {"meter": "heat", "unit": "\u00b0C", "value": 21.5, "n": None, "ok": True, "raw": ["6808"]}
    ob.append(r)
    seq, body = ob.peek("a")
    body = body.read()
    back = json.loads(body)
    assert back == {"meter": "heat", "unit": "\u00b0C", "value": 21.5, "n": None, "ok": True, "raw": ["6808"], "seq": 1}, back
    assert r["seq"] == 1  # the caller's dict carries its seq too


def case_seq_survives_reopen(d):
    ob = Outbox(d, sinks=("a",), segment_bytes=200)
    for i in range(7):
        ob.append(reading(i))
    drain(ob, "a")
    ob = Outbox(d, sinks=("a",), segment_bytes=200)
    assert ob.next_seq == 8, ob.next_seq
    assert ob.append(reading(99)) == 8
    assert ob.peek("a")[0] == 8


def case_ack_survives_reopen(d):
    ob = Outbox(d, sinks=("a", "b"))
    for i in range(5):
        ob.append(reading(i))
    ob.ack("a", 3)
    ob.ack("b", 1)
    ob = Outbox(d, sinks=("a", "b"))
    assert drain(ob, "a") == [4, 5]
    assert drain(ob, "b") == [2, 3, 4, 5]


def case_capacity_drops_oldest(d):
    log = Log()
    ob = Outbox(d, capacity=5, sinks=("a", "b"), log=log)
    for i in range(8):
        ob.append(reading(i))
    st = ob.status()
    assert st["queued"] == 5 and st["dropped"] == 3, st
    assert any("dropped" in line and "capacity 5" in line for line in log.lines), log.lines
    assert drain(ob, "a") == [4, 5, 6, 7, 8]
    assert drain(ob, "b") == [4, 5, 6, 7, 8]
    ob = Outbox(d, capacity=5, sinks=("a", "b"), log=log)
    assert ob.status()["dropped"] == 3  # the count is kept across reboots


def case_drop_spares_what_a_fast_sink_needs(d):
    # "b" keeps up, "a" is offline: the queue holds capacity readings for "a"
    log = Log()
    ob = Outbox(d, capacity=3, sinks=("a", "b"), log=log)
    for i in range(6):
        ob.append(reading(i))
        drain(ob, "b")
    assert ob.status()["dropped"] == 3
    assert len(log.lines) == 1, log.lines  # one line per streak of drops, not one per reading
    assert drain(ob, "a") == [4, 5, 6]


def case_segments_roll_and_are_deleted(d):
    ob = Outbox(d, sinks=("a",), segment_bytes=300)
    for i in range(20):
        ob.append(reading(i))
    assert len(seg_files(d)) > 3, seg_files(d)
    drain(ob, "a")
    assert len(seg_files(d)) == 1, seg_files(d)  # the active one stays
    ob.append(reading(20))
    assert drain(ob, "a") == [21]


def case_no_sinks_keeps_nothing(d):
    ob = Outbox(d, sinks=(), segment_bytes=300)
    for i in range(20):
        ob.append(reading(i))
    assert ob.status()["queued"] == 0
    assert len(seg_files(d)) == 1


def case_new_sink_starts_with_next_reading(d):
    ob = Outbox(d, sinks=("a",))
    for i in range(3):
        ob.append(reading(i))
    ob = Outbox(d, sinks=("a", "new"))
    assert ob.peek("new") is None
    ob.append(reading(3))
    assert drain(ob, "new") == [4]
    assert drain(ob, "a") == [1, 2, 3, 4]


def case_removed_sink_does_not_hold_back(d):
    ob = Outbox(d, sinks=("a", "gone"), segment_bytes=200)
    for i in range(10):
        ob.append(reading(i))
    ob = Outbox(d, sinks=("a",), segment_bytes=200)
    drain(ob, "a")
    assert len(seg_files(d)) == 1


def _truncate(path, n):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:n])
    return len(data)


def case_torn_tail_is_cut_off(d):
    log = Log()
    ob = Outbox(d, sinks=("a",))
    for i in range(4):
        ob.append(reading(i))
    seg = d + "/" + seg_files(d)[-1]
    size = _truncate(seg, 10**6)
    _truncate(seg, size - 7)  # record 4 lost half its body: the append never returned
    ob = Outbox(d, sinks=("a",), log=log)
    assert ob.next_seq == 4, ob.next_seq
    assert any("torn" in line for line in log.lines), log.lines
    assert ob.append(reading(40)) == 4
    assert len(seg_files(d)) == 2  # continued in a new segment, not after the damage
    assert drain(ob, "a") == [1, 2, 3, 4]
    ob = Outbox(d, sinks=("a",))
    assert ob.next_seq == 5 and ob.peek("a") is None


def case_torn_header_only(d):
    ob = Outbox(d, sinks=("a",))
    ob.append(reading(0))
    seg = d + "/" + seg_files(d)[-1]
    size = _truncate(seg, 10**6)
    with open(seg, "ab") as f:
        f.write(b"#0000000200")  # the start of a header, then power was gone
    ob = Outbox(d, sinks=("a",))
    assert ob.next_seq == 2
    ob.append(reading(1))
    assert drain(ob, "a") == [1, 2]
    assert size > 0


def case_damaged_body_is_skipped(d):
    log = Log()
    ob = Outbox(d, sinks=("a", "b"))
    for i in range(5):
        ob.append(reading(i))
    seg = d + "/" + seg_files(d)[0]
    with open(seg, "rb") as f:
        data = bytearray(f.read())
    i = data.find(b'"uptime_s":2')
    data[i + 11] = ord("7")  # a flipped digit in record 3: crc no longer matches
    with open(seg, "wb") as f:
        f.write(data)
    ob = Outbox(d, sinks=("a", "b"), log=log)
    assert drain(ob, "a") == [1, 2, 4, 5]
    assert drain(ob, "b") == [1, 2, 4, 5]
    assert ob.status()["lost"] == 1, ob.status()
    assert any("crc" in line for line in log.lines), log.lines


def case_damaged_header_loses_only_its_segment(d):
    log = Log()
    ob = Outbox(d, sinks=("a",), segment_bytes=300)
    for i in range(12):
        ob.append(reading(i))
    segs = seg_files(d)
    assert len(segs) >= 3, segs
    first = int(segs[1][:8], 16)
    with open(d + "/" + segs[1], "rb") as f:
        data = bytearray(f.read())
    data[0] = ord("?")  # the segment's first header is garbage now
    with open(d + "/" + segs[1], "wb") as f:
        f.write(data)
    ob = Outbox(d, sinks=("a",), segment_bytes=300, log=log)
    after = int(segs[2][:8], 16)
    got = drain(ob, "a")
    assert got == list(range(1, first)) + list(range(after, 13)), (got, first, after)
    assert ob.status()["lost"] == after - first and ob.pending("a") == 0
    assert any("unreadable" in line for line in log.lines), log.lines


def case_floor_ahead_of_the_segments(d):
    ob = Outbox(d, sinks=("a",))
    for i in range(3):
        ob.append(reading(i))
    with open(d + "/drop", "wb") as f:
        f.write(b"50 47")  # seqs up to 49 were handed out (the newer segments are gone)
    ob = Outbox(d, sinks=("a",))
    assert ob.pending("a") == 0 and ob.status()["queued"] == 0
    assert ob.append(reading(3)) == 50  # a seq is never handed out twice
    assert drain(ob, "a") == [50]
    ob = Outbox(d, sinks=("a",))
    assert ob.next_seq == 51


def case_damaged_last_record_does_not_block(d):
    ob = Outbox(d, sinks=("a",))
    for i in range(3):
        ob.append(reading(i))
    seg = d + "/" + seg_files(d)[0]
    with open(seg, "rb") as f:
        data = bytearray(f.read())
    data[-3] ^= 1
    with open(seg, "wb") as f:
        f.write(data)
    ob = Outbox(d, sinks=("a",), log=Log())
    assert drain(ob, "a") == [1, 2]
    assert ob.pending("a") == 0


def case_damaged_ack_file_resends(d):
    log = Log()
    ob = Outbox(d, sinks=("a",))
    for i in range(3):
        ob.append(reading(i))
    ob.ack("a", 2)
    with open(d + "/a.ack", "wb") as f:
        f.write(b"\xff\x00garbage")
    ob = Outbox(d, sinks=("a",), log=log)
    assert drain(ob, "a") == [1, 2, 3]  # at least once: duplicates, never a loss
    assert any("damaged" in line for line in log.lines)


def case_leftovers_are_ignored(d):
    ob = Outbox(d, sinks=("a",))
    ob.append(reading(0))
    for name in ("a.ack.tmp", "drop.tmp", "notes.txt", "zzzzzzzz.log", "00000001.log.bak"):
        with open(d + "/" + name, "wb") as f:
            f.write(b"junk")
    ob = Outbox(d, sinks=("a",))
    assert "a.ack.tmp" not in os.listdir(d) and "drop.tmp" not in os.listdir(d)
    assert drain(ob, "a") == [1]
    assert ob.append(reading(1)) == 2


def case_seq_kept_when_every_segment_is_gone(d):
    ob = Outbox(d, sinks=("a",))
    for i in range(4):
        ob.append(reading(i))
    drain(ob, "a")
    for n in seg_files(d):
        os.remove(d + "/" + n)
    ob = Outbox(d, sinks=("a",))
    assert ob.append(reading(9)) == 5  # from the ack file


def case_unwritable_directory_is_a_clear_error(d):
    ob = Outbox(d, sinks=("a",))
    ob.append(reading(0))
    os.remove(d + "/" + seg_files(d)[0])
    # a directory where the next segment file must go
    ob._roll = True
    os.mkdir(d + "/%08x.log" % 2)
    try:
        ob.append(reading(1))
    except OutboxError as e:
        assert "seq 2" in str(e) and d in str(e), str(e)
    else:
        raise AssertionError("no OutboxError")
    assert ob.next_seq == 2


def case_big_reading(d):
    ob = Outbox(d, sinks=("a",), segment_bytes=1000)
    ob.append(reading(0, pad=3000))
    ob.append(reading(1))
    seq, body = ob.peek("a")
    body = body.read()
    assert seq == 1 and len(body) > 6000
    assert drain(ob, "a") == [1, 2]


def _append_failing(ob, r):
    import outbox
    real = outbox.dump

    def _failing_dump(r, f):
        if isinstance(f, outbox.Sum):  # the first pass (length, CRC) goes through
            return real(r, f)
        f.write(b'{"meter":"m')  # part of the JSON reached the file
        raise MemoryError("memory allocation failed, allocating 512 bytes")

    outbox.dump = _failing_dump
    try:
        ob.append(r)
    except MemoryError:
        pass
    else:
        raise AssertionError("the append did not fail")
    finally:
        outbox.dump = real


def case_memory_error_mid_append_leaves_no_torn_record(d):
    # a small heap can fail while the JSON streams to flash: the half record
    # must not hide the readings appended after it
    ob = Outbox(d, sinks=("a", "b"))
    ob.append(reading(0))
    ob.append(reading(1))
    _append_failing(ob, reading(2))
    assert "MemoryError" in ob.status()["last_error"]
    assert ob.append(reading(3)) == 3  # the number is handed out again
    assert ob.append(reading(4)) == 4
    assert drain(ob, "a") == [1, 2, 3, 4]
    ob = Outbox(d, sinks=("a", "b"))  # after a reboot too
    assert drain(ob, "b") == [1, 2, 3, 4] and ob.status()["lost"] == 0 and ob.next_seq == 5


def case_memory_error_starting_a_segment_leaves_no_file(d):
    ob = Outbox(d, sinks=("a",), segment_bytes=200)
    ob.append(reading(0))
    _append_failing(ob, reading(1))  # would have started segment 2
    assert seg_files(d) == ["00000001.log"]
    ob.append(reading(2))
    ob = Outbox(d, sinks=("a",))
    assert drain(ob, "a") == [1, 2] and ob.status()["lost"] == 0


def case_body_read_in_pieces_is_the_record(d):
    # what a sink sends: the same bytes, read from flash piece by piece
    ob = Outbox(d, sinks=("a",), segment_bytes=4000)
    for i in range(4):
        ob.append(reading(i, pad=1500 * (i % 2)))
    while True:
        item = ob.peek("a")
        if item is None:
            break
        seq, body = item
        whole = body.read()
        for size in (100, 512):
            buf, got, pos = bytearray(size), b"", 0
            while True:
                n = body.read_into(pos, buf)
                if not n:
                    break
                got += bytes(buf[:n])
                pos += n
            assert got == whole and len(body) == len(whole), (seq, size)
        assert whole.startswith(b'{"meter":"m')  # the meter first: a sink reads only that much
        ob.ack("a", seq)


CASES = [(k[5:], v) for k, v in sorted(globals().items()) if k.startswith("case_")]


def main(root, names):
    bad = 0
    for name, fn in CASES:
        if names and name not in names:
            continue
        d = root + "/" + name
        try:
            fn(d)
            print("PASS", name)
        except Exception as e:
            bad += 1
            print("FAIL %s: %s %s" % (name, type(e).__name__, e))
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
    return bad


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1], sys.argv[2:]) else 0)
