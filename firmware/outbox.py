# The on-flash outbox: a bounded, crash-safe queue of readings with one
# delivery cursor per sink (at-least-once, in order, per sink).
#
# Layout of the outbox directory:
#   0000002a.log   segment files, named by the seq of their first record (hex);
#                  records are appended and never rewritten
#   <sink>.ack     last seq that sink acknowledged (decimal, a few bytes)
#   drop           "<floor> <dropped>": seqs below floor were dropped when the
#                  queue was full; dropped counts them since the outbox was made
#
# A record is a 24-byte header line "#" seq(8 hex) length(6 hex) crc32(8 hex)
# "\n", then the reading's JSON, then "\n". Why this shape on LittleFS: an
# append costs one block program plus a copy of the file's partial last block
# (LittleFS never programs a block twice), so records go into a few large
# files rather than one file per reading (a whole 4 KiB block each) and small
# state lives in tiny files LittleFS keeps inline in its metadata. Appends are
# committed at close: after a power cut a segment ends at its last complete
# record; a torn tail is detected (header, length, newline, crc) and the next
# append starts a new segment instead of writing after the damage.
import binascii
import io
import json
import os

from compat import MICROPYTHON, const


def _crc32(data, value=0):
    crc = value ^ 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


crc32 = getattr(binascii, "crc32", _crc32)  # ports built without deflate lack it

_HDR = const(24)
_PIECE = const(512)  # a record read in pieces is never one big block of heap
_ENOSPC = const(28)  # not in MicroPython's errno module
_MAX_BODY = const(0xFFFFFF)
_EXT = ".log"

try:
    _dumps_kw = {"separators": (",", ":")}
    json.dumps({}, **_dumps_kw)
except TypeError:  # older MicroPython: already compact
    _dumps_kw = {}


class _Sum(io.IOBase):
    """Length and CRC-32 of what json.dump streams into it, keeping nothing:
    a reading is stored without ever being one big string in the heap."""

    def __init__(self):
        self.n = 0
        self.crc = 0

    def write(self, b):
        if isinstance(b, str):  # CPython's json writes str pieces
            b = b.encode()
        self.n += len(b)
        self.crc = crc32(b, self.crc)
        return len(b)


def _dump(reading, f):
    if MICROPYTHON:
        json.dump(reading, f, **_dumps_kw)  # streamed in small pieces
    else:
        f.write(json.dumps(reading, **_dumps_kw).encode())


class Record:
    """A stored reading's JSON on flash, for a sink that sends it in pieces
    (peek(sink, whole=False)): its CRC-32 was checked when peeked. Send it
    as: f = r.open(); for piece in r.pieces(f, buf): ...; f.close().
    pieces() checks the CRC again before it yields the last piece, so a
    record that changed meanwhile (its segment dropped) never goes out whole."""

    def __init__(self, path, off, n, crc):
        self.path = path
        self.off = off
        self.n = n
        self.crc = crc

    def __len__(self):
        return self.n

    def open(self):
        f = open(self.path, "rb")
        f.seek(self.off)
        return f

    def pieces(self, f, buf):
        mv = memoryview(buf)
        left = self.n
        crc = 0
        while left:
            k = f.readinto(mv[: min(left, len(mv))])
            if not k:
                raise OutboxError("outbox: %s ends within the record at %d" % (self.path, self.off))
            crc = crc32(mv[:k], crc)
            left -= k
            if not left and crc & 0xFFFFFFFF != self.crc:
                raise OutboxError("outbox: the record at %s:%d changed on flash" % (self.path, self.off))
            yield mv[:k]


class OutboxError(Exception):
    """A reading could not be stored or a state file not written; the
    message names the file and the cause. errno is the OSError's, if any."""

    def __init__(self, msg, errno=None):
        super().__init__(msg)
        self.errno = errno


def _errno(e):
    return e.args[0] if e.args and isinstance(e.args[0], int) else None


def _makedirs(path):
    part = "/" if path.startswith("/") else ""
    for name in path.split("/"):
        if name:
            part += name
            try:
                os.mkdir(part)
            except OSError:
                pass  # exists (anything else shows up at the first write)
            part += "/"


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def _read_small(path):
    try:
        with open(path, "rb") as f:
            return f.read(64)
    except OSError:
        return None


def _write_small(path, text):
    # new file then rename: atomic on LittleFS, FAT and POSIX alike
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(text.encode())
    os.rename(tmp, path)


class Outbox:
    """Readings queued on flash until every sink acknowledged them.

    Outbox(path, capacity=200, sinks=(), segment_bytes=16384, log=print)
    path: directory (created); capacity: readings kept at most (the oldest
    are dropped, counted and logged); sinks: names of the sinks with their
    own delivery cursor (a new name starts with the next reading).
    """

    def __init__(self, path, capacity=200, sinks=(), segment_bytes=16384, log=print):
        if capacity < 1:
            raise ValueError("outbox capacity must be at least 1")
        self.path = path.rstrip("/") or "/"
        self.capacity = capacity
        self.segment_bytes = segment_bytes
        self.log = log
        self.on_append = None  # the forwarder's wake-up call
        self.lost = 0  # records found damaged on flash and skipped
        self._lost_hi = 0
        self._drop_streak = 0
        self.last_error = None
        self._ack = {}
        self._pos = {}  # sink -> (seq, segment, offset) of its next record
        _makedirs(self.path)
        try:  # a reading bigger than a quarter of the filesystem is refused
            st = os.statvfs(self.path)
            self._max_body = min(_MAX_BODY, st[0] * st[2] // 4)
        except (OSError, AttributeError):
            self._max_body = _MAX_BODY
        segs = []
        for name in os.listdir(self.path):
            if name.endswith(".tmp"):
                self._remove(name)
            elif name.endswith(_EXT) and len(name) == 8 + len(_EXT):
                try:
                    segs.append(int(name[:8], 16))
                except ValueError:
                    pass
        segs.sort()
        self._segs = segs
        raw = _read_small(self._file("drop"))
        try:
            floor, dropped = [int(x) for x in raw.split()]
        except (AttributeError, ValueError):
            floor, dropped = 1, 0
        self._floor, self.dropped = floor, dropped
        acks = {}  # type: dict[str, int | None]
        for name in sinks:
            raw = _read_small(self._file(name + ".ack"))
            if raw is None:
                acks[name] = None
            else:
                try:
                    acks[name] = int(raw)
                except ValueError:
                    self.log("outbox: %s.ack is damaged; resending what is queued to %s" % (name, name))
                    acks[name] = 0
        self._roll = False
        if segs:
            first = segs[-1]
            end, nxt = self._walk(first, -1)
            self._end = end
            self._roll = end != _size(self._seg_path(first))
            if self._roll:
                self.log("outbox: segment %08x ends in a torn record (power cut?); continuing in a new one" % first)
        else:
            known = [a for a in acks.values() if a]
            nxt = max([floor] + [a + 1 for a in known])
            self._end = 0
        if nxt < floor:  # seqs below floor were handed out before: never again
            nxt, self._roll = floor, True
        self._next = nxt
        for name, a in acks.items():
            if a is None:
                a = nxt - 1
                self._write_ack(name, a)
            self._ack[name] = min(a, nxt - 1)
        if segs and self._head() < segs[0]:
            # segments vanished without the floor being written (cut between
            # the two while making room): count what they held as dropped
            self._set_floor(segs[0], self.dropped + segs[0] - self._head())
        self._collect()

    # -- public API ---------------------------------------------------------

    def append(self, reading):
        """Store reading (a dict; its "seq" is set here) durably; return seq.

        Raises OutboxError when the flash is full even after dropping the
        oldest readings, or fails; what was stored before stays intact."""
        seq = self._next
        reading["seq"] = seq
        total = _Sum()
        json.dump(reading, total, **_dumps_kw)
        size = total.n
        if size > self._max_body:
            # refused before anything older is dropped to make room for it
            raise OutboxError("outbox: reading seq %d of %d bytes is too large to store (limit %d)"
                              % (seq, size, self._max_body))
        head = b"#%08x%06x%08x\n" % (seq, size, total.crc & 0xFFFFFFFF)
        dropped = self.dropped
        while True:
            try:
                self._write_record(seq, head, reading, size)
                break
            except OSError as e:
                if not self._segs or _size(self._seg_path(self._segs[-1])) != self._end:
                    self._roll = True  # never append after a possibly torn record
                err = _errno(e)
                if err == _ENOSPC and self._make_room():
                    continue
                self.last_error = "append seq %d: %s" % (seq, e)
                if err == _ENOSPC:
                    raise OutboxError(
                        "outbox: flash full (ENOSPC) storing seq %d (%d bytes) in %s; "
                        "nothing older can be dropped" % (seq, size, self.path),
                        err,
                    )
                raise OutboxError("outbox: storing seq %d in %s failed: %s" % (seq, self.path, e), err)
        self._next = seq + 1
        over = self._next - self._head() - self.capacity
        if over > 0:
            self._drop(self._head() + over, "queue full (capacity %d)" % self.capacity)
        if self.dropped == dropped:
            self._drop_streak = 0
        if self.on_append:
            self.on_append()
        return seq

    def peek(self, sink, whole=True):
        """(seq, body) of the next reading for sink, or None. body: the
        reading's JSON bytes, or with whole=False a Record to read in pieces."""
        seq = self._cursor(sink) + 1
        pos = self._pos.get(sink)
        skipped = False
        while seq < self._next:
            walked = False
            if pos is None or pos[0] != seq or pos[1] != self._seg_of(seq):
                pos = self._find(seq)
                if pos is None:
                    seq = self._next
                    break
                seq, walked = pos[0], True
            body, nxt = self._read(pos, whole)
            if body is not None:
                self._pos[sink] = (seq + 1, pos[1], nxt)
                return seq, body
            if nxt < 0 and not walked:  # a stale position: walk the segment again
                pos = None
                continue
            if nxt < 0:  # no header to step over it by: on to the next segment
                i = self._segs.index(pos[1]) + 1
                after = self._segs[i] if i < len(self._segs) else self._next
                self._damaged(seq, after - 1, "unreadable record")
                seq, pos, skipped = after, None, True
                continue
            self._damaged(seq, seq, "crc mismatch")
            seq, pos, skipped = seq + 1, (seq + 1, pos[1], nxt), True
        if skipped or seq - 1 > self._cursor(sink):  # all that was left is damaged
            self.ack(sink, seq - 1)
        return None

    def ack(self, sink, seq):
        """sink delivered every reading up to seq; made durable before return
        (raises OutboxError if that write failed: the cursor still advances
        in RAM and the next ack writes it)."""
        if seq <= self._ack[sink]:
            return
        self._ack[sink] = seq
        try:
            self._write_ack(sink, seq)
        finally:
            self._collect()

    def pending(self, sink):
        return self._next - 1 - self._cursor(sink)

    def status(self):
        return {
            "queued": self._next - self._head(),
            "capacity": self.capacity,
            "dropped": self.dropped,
            "lost": self.lost,
            "next_seq": self._next,
            "segments": len(self._segs),
            "last_error": self.last_error,
            "sinks": {s: {"acked": self._cursor(s), "pending": self.pending(s)} for s in self._ack},
        }

    @property
    def next_seq(self):
        return self._next

    # -- internals ----------------------------------------------------------

    def _file(self, name):
        return self.path + "/" + name

    def _seg_path(self, first):
        return self._file("%08x%s" % (first, _EXT))

    def _remove(self, name):
        try:
            os.remove(self._file(name))
        except OSError:
            pass

    def _cursor(self, sink):
        a = self._ack[sink]
        return a if a >= self._floor else self._floor - 1

    def _head(self):
        """Oldest seq some sink still needs (next_seq when none does)."""
        h = self._next
        for s in self._ack:
            c = self._cursor(s) + 1
            if c < h:
                h = c
        return h

    def _seg_of(self, seq):
        first = None
        for f in self._segs:
            if f > seq:
                break
            first = f
        return first

    def _write_ack(self, sink, seq):
        try:
            _write_small(self._file(sink + ".ack"), str(seq))
        except OSError as e:
            self.last_error = "ack %s seq %d: %s" % (sink, seq, e)
            raise OutboxError("outbox: writing %s.ack failed: %s" % (sink, e), _errno(e))

    def _set_floor(self, floor, dropped):
        self._floor, self.dropped = floor, dropped
        try:
            _write_small(self._file("drop"), "%d %d" % (floor, dropped))
        except OSError as e:
            # not fatal: on boot, missing segments are counted as dropped
            self.last_error = "drop file: %s" % e

    def _drop(self, floor, why):
        head = self._head()
        if floor <= head:
            return
        n = floor - head
        self._set_floor(floor, self.dropped + n)
        if self._drop_streak % 100 == 0:  # first of a streak, then every 100th
            self.log("outbox: %s: dropped %d oldest reading(s) (seq %d..%d), %d dropped in all"
                     % (why, n, head, floor - 1, self.dropped))
        self._drop_streak += 1
        self._collect()

    def _make_room(self):
        """Free flash for an append that hit ENOSPC: drop the oldest segment."""
        segs = self._segs
        if len(segs) > 1:
            n = len(segs)
            self._drop(segs[1], "flash full")
            if len(segs) == n:
                self._delete_oldest()
            return True
        if segs and self._head() >= self._next:  # only the active one, all delivered
            self._delete_oldest()
            return True
        return False

    def _delete_oldest(self):
        first = self._segs.pop(0)
        self._remove("%08x%s" % (first, _EXT))
        for s in list(self._pos):
            if self._pos[s][1] == first:
                del self._pos[s]
        if not self._segs:
            self._end = 0

    def _collect(self):
        """Delete segments (never the active one) every sink is past."""
        head = self._head()
        segs = self._segs
        while len(segs) > 1 and segs[1] <= head:
            self._delete_oldest()

    def _write_record(self, seq, head, reading, size):
        segs = self._segs
        if not segs or self._roll or self._end and self._end + len(head) + size + 1 > self.segment_bytes:
            old = segs[-1] if segs else None
            with open(self._seg_path(seq), "wb") as f:
                f.write(head)
                _dump(reading, f)
                f.write(b"\n")
            if not segs or segs[-1] != seq:  # same name when the torn one was empty
                segs.append(seq)
            self._end = _HDR + size + 1
            self._roll = False
            if old is not None and self._head() >= seq:
                self._collect()
            return
        with open(self._seg_path(segs[-1]), "ab") as f:
            f.write(head)
            _dump(reading, f)
            f.write(b"\n")
        self._end += _HDR + size + 1

    def _parse(self, hdr, seq):
        """Body length if hdr is a valid header for seq, else -1."""
        if len(hdr) != _HDR or hdr[0] != 35 or hdr[23] != 10:  # '#', '\n'
            return -1
        try:
            if int(hdr[1:9], 16) != seq:
                return -1
            int(hdr[15:23], 16)
            return int(hdr[9:15], 16)
        except ValueError:
            return -1

    def _walk(self, first, target):
        """(offset, seq) of record target in segment first, or of the end of
        its valid records when target is not there (target -1: the end)."""
        path = self._seg_path(first)
        size = _size(path)
        off, seq = 0, first
        try:
            f = open(path, "rb")
        except OSError:
            return 0, first
        with f:
            while seq != target and off + _HDR <= size:
                f.seek(off)
                n = self._parse(f.read(_HDR), seq)
                end = off + _HDR + n
                if n < 0 or end + 1 > size:
                    break
                f.seek(end)
                if f.read(1) != b"\n":
                    break
                off, seq = end + 1, seq + 1
        return off, seq

    def _find(self, seq):
        """(seq, segment, offset) of seq, or of the first readable record
        after it when seq is damaged; None when nothing readable is left."""
        while seq < self._next and self._segs:
            first = self._seg_of(seq)
            if first is None:  # below the oldest segment: gone with a drop
                seq = self._segs[0]
                continue
            off, got = self._walk(first, seq)
            if got == seq:
                return seq, first, off
            i = self._segs.index(first)
            nxt = self._segs[i + 1] if i + 1 < len(self._segs) else self._next
            self._damaged(seq, nxt - 1, "unreadable record")
            seq = nxt
        return None

    def _read(self, pos, whole=True):
        """(body, offset after it): body bytes (or a Record), None if the crc
        fails; offset -1 if there is no valid record at pos."""
        seq, first, off = pos
        path = self._seg_path(first)
        with open(path, "rb") as f:
            f.seek(off)
            hdr = f.read(_HDR)
            n = self._parse(hdr, seq)
            if n < 0:
                return None, -1
            want = int(hdr[15:23], 16)
            if whole:
                body = f.read(n)
                got, crc = len(body), crc32(body)
            else:  # the crc in pieces: no block of n bytes
                body = Record(path, off + _HDR, n, want)
                got = crc = 0
                mv = memoryview(bytearray(_PIECE))
                while got < n:
                    k = f.readinto(mv[: min(n - got, _PIECE)])
                    if not k:
                        break
                    crc = crc32(mv[:k], crc)
                    got += k
            if got != n or f.read(1) != b"\n":
                return None, -1
            if crc & 0xFFFFFFFF != want:
                body = None
            return body, off + _HDR + n + 1

    def _damaged(self, lo, hi, why):
        lo = max(lo, self._lost_hi + 1)  # counted once, whichever sink hits it
        if lo <= hi:
            self._lost_hi = hi
            self.lost += hi - lo + 1
            self.last_error = "seq %d..%d: %s" % (lo, hi, why)
            self.log("outbox: %s at seq %d..%d on flash; skipped" % (why, lo, hi))
