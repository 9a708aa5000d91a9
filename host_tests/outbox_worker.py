"""Appends and delivers readings at random, forever, journaling to stdout
what has returned, for test_outbox_crash.py to kill with SIGKILL.
MicroPython unix port:

    micropython outbox_worker.py posix DIR SEED        # outbox in DIR
    micropython outbox_worker.py lfs IMAGE SEED        # LittleFS on an image file
    ... drain                                          # instead of SEED: deliver all, exit

Journal lines: "BOOT <next_seq>", "T <uid>" (append starts), "A <seq> <uid>"
(append returned), "D <sink> <seq> <uid>" (peeked), "K <sink> <seq>" (ack
returned), "END <next_seq>".
"""
import json
import random
import sys

from outbox import Outbox

SINKS = ("a", "b")


def open_outbox(kind, where):
    if kind == "lfs":
        from flashsim import Flash, mount

        mount(Flash(128, image=where), "/flash")
        where = "/flash/outbox"
    return Outbox(where, capacity=100000, sinks=SINKS, segment_bytes=2048, log=lambda m: print("LOG", m))


def deliver(ob, sink):
    item = ob.peek(sink)
    if item is None:
        return False
    seq, body = item
    print("D %s %d %s" % (sink, seq, json.loads(body.read())["uid"]))
    ob.ack(sink, seq)
    print("K %s %d" % (sink, seq))
    return True


def main(kind, where, mode):
    ob = open_outbox(kind, where)
    print("BOOT %d" % ob.next_seq)
    if mode == "drain":
        for s in SINKS:
            while deliver(ob, s):
                pass
        print("END %d" % ob.next_seq)
        return
    random.seed(int(mode))
    n = 0
    while True:
        op = random.getrandbits(8) % 3
        if op == 0:
            uid = "%s-%d" % (mode, n)
            n += 1
            print("T %s" % uid)
            seq = ob.append({"uid": uid, "meter": "m", "raw": ["68" + "5a" * random.getrandbits(7)]})
            print("A %d %s" % (seq, uid))
        else:
            deliver(ob, SINKS[op - 1])


main(sys.argv[1], sys.argv[2], sys.argv[3])
