# Reply framer: finds one frame in the bytes a slave (or several) sent, fed in
# whatever pieces the transport delivers. Sans-IO: it never waits; the master
# decides when the line has gone quiet and calls finish().
from mbus.errors import FrameError
from mbus.frame import ACK, START_LONG, START_SHORT, expected_length, parse


class Framer:
    """Feed bytes; after each feed, .frame is the first valid frame or None.

    Bytes that cannot start a frame are skipped (counted in .skipped); a
    candidate whose header, checksum or stop byte is wrong is dropped one byte
    at a time so the framer resynchronises on a later start byte. Bytes that
    follow the frame are counted in .trailing: on a bus they mean that more
    than one slave answered.
    """

    def __init__(self, size=300):
        self.buf = bytearray(size)
        self.reset()

    def reset(self):
        self.n = 0  # bytes held in buf
        self.pos = 0  # start of the current candidate
        self.total = 0  # bytes fed since reset
        self.skipped = 0
        self.trailing = 0
        self.frame = None
        self.error = None  # first FrameError met at a candidate start
        self.truncated = None  # (have, want) of an unfinished candidate at finish()

    def feed(self, data, start=0):
        """Take data[start:]; returns self.frame (None while incomplete)."""
        k = len(data) - start
        if k <= 0:
            return self.frame
        self.total += k
        if self.frame is not None:
            self.trailing += k
            return self.frame
        self._room(k)
        self.buf[self.n:self.n + k] = memoryview(data)[start:] if start else data
        self.n += k
        self._scan(False)
        return self.frame

    def finish(self):
        """The line went quiet: settle what is held; returns self.frame."""
        if self.frame is None:
            self._scan(True)
        return self.frame

    def _room(self, k):
        # Compact: the bytes before pos are garbage already counted.
        if self.n + k > len(self.buf):
            keep = self.n - self.pos
            if self.pos:
                self.buf[0:keep] = self.buf[self.pos:self.n]
            self.n = keep
            self.pos = 0
            if keep + k > len(self.buf):
                grown = bytearray(keep + k + 64)
                grown[0:keep] = self.buf[0:keep]
                self.buf = grown

    def _skip(self, k, err=None):
        self.pos += k
        self.skipped += k
        if err is not None and self.error is None:
            self.error = err

    def _scan(self, final):
        buf = self.buf
        mv = memoryview(buf)
        while self.frame is None:
            i = self.pos
            n = self.n
            while i < n and buf[i] != START_LONG and buf[i] != ACK and buf[i] != START_SHORT:
                i += 1
            self._skip(i - self.pos)
            if i >= n:
                return
            have = n - i
            try:
                want = expected_length(mv[i:n], have)
            except FrameError as e:
                self._skip(1, e)
                continue
            if want == 0 or want > have:
                if not final:
                    return
                if self.truncated is None:
                    self.truncated = (have, want)
                self._skip(1)
                continue
            try:
                parse(mv[i:i + want])
            except FrameError as e:
                self._skip(1, e)
                continue
            self.frame = bytes(mv[i:i + want])
            self.trailing = n - i - want
            self.pos = n
