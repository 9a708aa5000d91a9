"""The simulated segment served over TCP: raw line bytes, like ser2net.

Master frames arriving on any connection go to every slave; the slaves'
replies, combined on the line (wired AND) and optionally disturbed by seeded
faults, go back to every connection. In realtime mode bytes are paced at the
line rate (11 bits per byte) and slaves answer after their response delay;
in fast mode replies go out at once, so tests spend no time on the wire.
"""
import asyncio
import json
import random
import sys
import time

from mbus import frame
from mbus.errors import FrameError

from sim import telegrams as tg
from sim.line import BITS, combine

FAULT_ORDER = ("no_reply", "slow", "truncate", "bad_checksum", "noise")
# What the line carries in answer to a master frame that some slave answers
# (stats "outcomes"): every reply dropped; several talkers at once; one reply
# cut, with a broken checksum, or an E5h behind noise (nothing a master can
# trust); a long frame behind noise (its checksum vouches for it); untouched.
OUTCOMES = ("silenced", "collided", "damaged", "noisy", "intact")


class Segment:
    def __init__(self, bus, realtime=False, log=None):
        self.bus = bus
        self.realtime = realtime
        self.rng = random.Random(bus.seed)
        self.bit_s = 1.0 / bus.baudrate
        self.clients = set()
        self.rx = bytearray()
        self.rx_first = 0.0
        self.busy_until = 0.0
        self.injected = {}  # (slave name or "line", fault) -> times
        self.stats = {"master_frames": 0, "master_bytes": 0, "ignored_frames": 0, "replies": 0,
                      "reply_bytes": 0, "response_delay_bits": 0, "collisions": 0, "faults": {},
                      "outcomes": dict.fromkeys(OUTCOMES, 0), "late": 0}
        self.hits = set()  # faults injected into the replies to the current master frame
        self.log = log or (lambda msg: None)
        self.t0 = time.monotonic()

    # -- master side ---------------------------------------------------------

    def received(self, data, now):
        if not self.rx:
            self.rx_first = now
        self.rx += data
        while self.rx:
            try:
                want = frame.expected_length(self.rx, len(self.rx))
            except FrameError as e:
                self.log("line: master byte %02X dropped (%s)" % (self.rx[0], e))
                del self.rx[0]
                continue
            if want == 0 or want > len(self.rx):
                return
            f = bytes(self.rx[:want])
            del self.rx[:want]
            self.on_frame(f, self.rx_first, now)
            self.rx_first = now

    def on_frame(self, f, t_start, now):
        try:
            kind, c, a, ci, s, e = frame.parse(f)
        except FrameError as err:
            self.log("line: master frame %s dropped: %s" % (f.hex(), err))
            return
        if kind == frame.KIND_ACK or not c & 0x40:
            self.log("line: %s is not a master frame, ignored" % f.hex())
            return
        self.stats["master_frames"] += 1
        self.stats["master_bytes"] += len(f)
        t_end = t_start + len(f) * BITS * self.bit_s if self.realtime else now
        out = []
        if self.bus.echo or self._fault("line", "echo", self.bus.faults):
            out = [(t_start + (i + 1) * BITS * self.bit_s if self.realtime else now, b) for i, b in enumerate(f)]
        if now < self.busy_until:
            self.stats["ignored_frames"] += 1
            self.log("master %s ignored: the line is busy with a reply" % f.hex())
            self._send_later(out)
            return
        self.log("master %s  (%s)" % (f.hex(), describe(c, a, ci)))
        data = f[s:e]
        replies = []
        answered = long_reply = False
        self.hits = set()
        for slave in self.bus.slaves:
            if slave.baudrate and slave.baudrate != self.bus.baudrate:
                continue  # listening at another rate: hears only noise
            reply, note = slave.handle(c, a, ci, data)
            if note:
                self.log("  %s (primary %d, %s): %s" % (slave.name, slave.primary, slave.secondary, note))
            if reply is None:
                continue
            answered = True
            original = reply
            reply, delay, slow_s = self._disturb(slave, reply)
            if reply is not None:
                long_reply = original[0] == frame.START_LONG
                replies.append((delay, slow_s, reply))
                ghost = self._ghost(slave, delay, slow_s)
                if ghost is not None:
                    replies.append(ghost)
        if answered:
            self._outcome(replies, long_reply)
        if not replies:
            self._send_later(out)
            return
        first, slow_s, _ = min(replies, key=lambda r: r[0])
        line = combine([(int(round(d - first)), r) for d, _, r in replies])
        if len(replies) > 1:
            self.stats["collisions"] += 1
            self.log("  collision of %d slaves: %d bytes on the line" % (len(replies), len(line)))
        self.stats["replies"] += 1
        self.stats["reply_bytes"] += len(line)
        self.stats["response_delay_bits"] += first
        if self.realtime:
            t_reply = t_end + first * self.bit_s
            out += [(t_reply + end * self.bit_s, b) for end, b in line]
        else:
            out += [(now + slow_s, b) for _, b in line]
        self.busy_until = max(t for t, _ in out)
        self._send_later(out)

    # -- faults ----------------------------------------------------------------

    def _fault(self, who, kind, table):
        spec = table.get(kind)
        if spec is None:
            return False
        p, limit = spec
        key = (who, kind)
        if limit is not None and self.injected.get(key, 0) >= limit:
            return False
        if p <= 0 or self.rng.random() >= p:
            return False
        self.injected[key] = self.injected.get(key, 0) + 1
        self.stats["faults"][kind] = self.stats["faults"].get(kind, 0) + 1
        self.hits.add(kind)
        self.log("  fault: %s (%s)" % (kind, who))
        return True

    def _outcome(self, replies, long_reply):
        hits = self.hits
        if not replies:
            kind = "silenced"
        elif len(replies) > 1:
            kind = "collided"
        elif "truncate" in hits or "bad_checksum" in hits or ("noise" in hits and not long_reply):
            kind = "damaged"
        else:
            kind = "noisy" if "noise" in hits else "intact"
        self.stats["outcomes"][kind] += 1
        if replies and "slow" in hits:
            self.stats["late"] += 1  # delayed by slow_ms: past a master's window if that is shorter

    def _table(self, slave):
        table = dict(self.bus.faults)
        table.update(slave.faults)
        return table

    def _ghost(self, slave, delay, slow_s):
        """The collision fault: a second meter answers too, as one that
        misheard its address would: another slave's first telegram (random
        bytes on a one-slave bus), 1 to 22 bit times apart, as two meters'
        response delays always differ. (delay, slow_s, bytes) or None."""
        if not self._fault(slave.name, "collision", self._table(slave)):
            return None
        others = [s for s in self.bus.slaves if s is not slave]
        if others:
            other = others[self.rng.randrange(len(others))]
            data = tg.with_address(other.telegrams[0], other.primary)
        else:
            data = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 20)))
        apart = self.rng.randint(1, 2 * BITS)
        return (delay - apart if delay >= apart and self.rng.random() < 0.5 else delay + apart), slow_s, data

    def _disturb(self, slave, reply):
        """Apply the seeded faults to one slave's reply:
        (reply or None, response delay in bits, extra delay in seconds)."""
        delay = slave.response_delay_bits
        slow_s = 0.0
        table = self._table(slave)
        for kind in FAULT_ORDER:
            if kind in ("truncate", "bad_checksum") and len(reply) < 2:
                continue  # E5h has no checksum to break and nothing to cut
            if not self._fault(slave.name, kind, table):
                continue
            if kind == "no_reply":
                return None, delay, 0.0
            if kind == "slow":
                slow_s = table.get("slow_ms", 250) / 1000
                delay += slow_s * self.bus.baudrate
            elif kind == "truncate":
                reply = reply[:self.rng.randint(1, len(reply) - 1)]
            elif kind == "bad_checksum":
                reply = reply[:-2] + bytes(((reply[-2] + 1) & 0xFF,)) + reply[-1:]
            elif kind == "noise":
                reply = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 6))) + reply
        return reply, delay, slow_s

    # -- output ------------------------------------------------------------------

    def _send_later(self, out):
        if out:
            asyncio.get_running_loop().create_task(self._transmit(sorted(out, key=lambda x: x[0])))

    async def _transmit(self, out):
        loop = asyncio.get_running_loop()
        i = 0
        while i < len(out):
            wait = out[i][0] - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            now = loop.time()
            j = i
            while j < len(out) and out[j][0] <= now:
                j += 1
            chunk = bytes(b for _, b in out[i:j])
            for w in list(self.clients):
                try:
                    w.write(chunk)
                except (ConnectionError, RuntimeError):
                    self.clients.discard(w)
            i = j

    async def serve_client(self, reader, writer):
        peer = writer.get_extra_info("peername")
        self.log("client %s connected" % (peer,))
        self.clients.add(writer)
        self.rx = bytearray()
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                self.received(data, loop.time())
        except (ConnectionError, asyncio.CancelledError):
            pass  # a client went away, or the simulator is shutting down
        finally:
            self.clients.discard(writer)
            writer.close()
            self.log("client %s disconnected" % (peer,))


NAMES = {0x40: "SND_NKE", 0x43: "SND_UD", 0x4B: "REQ_UD2", 0x4A: "REQ_UD1"}
CI_NAMES = {0x50: "application reset", 0x51: "data send", 0x52: "select", 0x56: "deselect"}


def describe(c, a, ci):
    name = NAMES.get(c & 0x4F, "C=%02X" % c)
    text = "%s to %d" % (name, a)
    if c & 0x10:
        text += " FCB=%d" % (1 if c & 0x20 else 0)
    if ci is not None:
        text += ", " + CI_NAMES.get(ci, "baud rate switch" if 0xB8 <= ci <= 0xBF else "CI %02Xh" % ci)
    return text


async def serve(bus, host="127.0.0.1", port=0, realtime=False, quiet=False, stats=None, ready=None):
    t0 = time.monotonic()

    def log(msg):
        if not quiet:
            print("%9.3f %s" % (time.monotonic() - t0, msg))

    seg = Segment(bus, realtime, log)
    server = await asyncio.start_server(seg.serve_client, host, port)
    sock = server.sockets[0].getsockname()
    print("listening on %s:%d" % (sock[0], sock[1]))
    print("bus: %d slaves at %d baud, %s, seed %s" % (len(bus.slaves), bus.baudrate,
                                                      "realtime" if realtime else "fast", bus.seed))
    if not quiet:
        for s in bus.slaves:
            print("  %-16s primary %3d  secondary %s  %d telegram(s)  delay %.0f bits" % (
                s.name, s.primary, s.secondary, len(s.telegrams), s.response_delay_bits))
    sys.stdout.flush()
    if ready is not None:
        ready.set_result(sock)
    try:
        async with server:
            await server.serve_forever()
    finally:
        if stats:
            with open(stats, "w") as f:
                json.dump(seg.stats, f, indent=1)
