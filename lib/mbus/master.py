# M-Bus master (EN 13757-2/-3). The protocol exists once, in Protocol, as
# generator "steps" that yield I/O requests (READ, WRITE, BAUD) and receive
# their results; Master runs steps blocking, AsyncMaster under asyncio. So
# retries, FCB, echo handling, framing and scans never touch a UART or socket.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from mbus import requests as rq
from mbus.clock import ticks_diff, ticks_ms
from mbus.errors import CollisionError, FrameError, MBusError, NoReplyError
from mbus.frame import ACK, ADDR_BROADCAST, ADDR_BROADCAST_REPLY, ADDR_NETWORK, START_LONG
from mbus.framer import Framer

# What a step asks of its driver; the driver sends back the result.
READ = const(1)  # (READ, ms) -> bytes: wait up to ms for a first byte, return what arrived (b"" = silence)
WRITE = const(2)  # (WRITE, frame) -> None
BAUD = const(3)  # (BAUD, rate) -> None: the transport switches its baud rate

# The reply an exchange waits for.
EXPECT_NOTHING = const(0)  # broadcast to FFh: no slave answers
EXPECT_ACK = const(1)  # E5h
EXPECT_RSP_UD = const(2)  # a long frame from the slave (C = 08h plus ACD/DFC bits)

BITS_PER_CHAR = const(11)  # start, 8 data, even parity, stop
MAX_TRAILING = const(512)

# What exchanges met on the line, counted in Protocol.counts at these
# indexes: the three ways an exchange fails, and two disturbances it survives.
N_NO_REPLY = const(0)  # silence: NoReplyError
N_GARBLED = const(1)  # bytes but no single valid frame (collision, noise, checksum): CollisionError
N_BAD_FRAME = const(2)  # a valid frame of the wrong kind or address, or one cut short: FrameError
N_ECHO = const(3)  # a converter's echo of the request, dropped
N_NOISE = const(4)  # garbage before a valid long frame, skipped
COUNT_NAMES = ("no_reply", "garbled", "bad_frame", "echoes", "noise_skipped")


def _who(x):
    if isinstance(x, str):
        return "secondary address " + x
    if x == ADDR_NETWORK:
        return "the selected slave (FDh)"
    if x == ADDR_BROADCAST_REPLY:
        return "broadcast FEh"
    return "primary address %d" % x


class Protocol:
    """The sans-IO master: request building, reply framing, timing, retries,
    FCB per address, multi-telegram reads and scans.

    Every public method returns a generator (a "step") for a driver to run;
    Master and AsyncMaster below are the two drivers. Options:
      baudrate          line rate, for timeouts (default 2400)
      retries           extra attempts after a failed exchange (default 2, as libmbus)
      reply_timeout_ms  reply window after the request left the line
                        (default 330 bit times + 50 ms, EN 13757-2)
      char_timeout_ms   silence that ends a reply once it started (default 5 characters + 20 ms)
      settle_ms         time listened after a complete frame for more bytes,
                        which mean a collision (default 2 characters + 2 ms)
      sync_fcb          send SND_NKE before the first FCV=1 frame to an
                        address, so its frame count bit is known (default True)
      check_address     a reply by primary address must carry that address (default True)
    """

    def __init__(self, baudrate=2400, retries=2, reply_timeout_ms=None, char_timeout_ms=None, settle_ms=None,
                 sync_fcb=True, check_address=True):
        if retries < 0:
            raise ValueError("retries must be >= 0, got %r" % (retries,))
        self.retries = retries
        self.sync_fcb = sync_fcb
        self.check_address = check_address
        self._timeouts = (reply_timeout_ms, char_timeout_ms, settle_ms)
        self.set_baudrate(baudrate)
        self.fcb = {}  # primary address or secondary address -> FCB of the next FCV=1 frame
        self.framer = Framer()
        self.sent = 0  # frames written
        self.failed = 0  # exchanges that failed (each one retried or reported)
        self.counts = [0] * len(COUNT_NAMES)  # indexes N_NO_REPLY ... N_NOISE

    def set_baudrate(self, baudrate):
        if not isinstance(baudrate, int) or baudrate <= 0:
            raise ValueError("baud rate must be a positive int, got %r" % (baudrate,))
        self.baudrate = baudrate
        reply, char, settle = self._timeouts
        self.reply_ms = reply if reply is not None else self.bits_ms(330) + 50
        self.char_timeout_ms = char if char is not None else self.bits_ms(5 * BITS_PER_CHAR) + 20
        self.settle_ms = settle if settle is not None else self.bits_ms(2 * BITS_PER_CHAR) + 2

    def _fail(self, kind, err):
        """err, counted as a failed exchange of its kind (N_NO_REPLY, ...)."""
        self.failed += 1
        self.counts[kind] += 1
        return err

    def bits_ms(self, bits):
        """Time of bits on the line, in whole milliseconds (rounded up)."""
        return (bits * 1000 + self.baudrate - 1) // self.baudrate

    # -- one exchange -----------------------------------------------------

    def exchange(self, request, expect, who=None):
        """Send request once; return the reply frame (None for EXPECT_NOTHING).

        Raises NoReplyError (silence), CollisionError (bytes without one
        valid frame, or stray bytes around it) or FrameError (a valid frame
        of the wrong kind, or one cut short).
        """
        # Bytes already waiting (a late reply, noise) must not pass for this reply.
        while (yield (READ, 0)):
            pass
        yield (WRITE, request)
        self.sent += 1
        on_line = self.bits_ms(BITS_PER_CHAR * len(request))
        t0 = ticks_ms()
        if expect == EXPECT_NOTHING:
            # Nobody answers a broadcast; wait until it has left the line.
            while True:
                left = on_line + self.settle_ms - ticks_diff(ticks_ms(), t0)
                if left <= 0:
                    return None
                yield (READ, left)
        f = self.framer
        f.reset()
        window = on_line + self.reply_ms
        echo = 0  # bytes of our own request seen so far (converters that echo)
        while True:
            if f.frame is not None:
                wait = self.settle_ms
            elif f.total:
                wait = self.char_timeout_ms
            else:
                wait = window - ticks_diff(ticks_ms(), t0)
            data = b""
            if wait > 0:
                data = yield (READ, wait)
            if not data or f.trailing > MAX_TRAILING:
                break
            i = 0
            if echo >= 0 and not f.total:
                n = len(request)
                while i < len(data) and echo < n and data[i] == request[echo]:
                    i += 1
                    echo += 1
                if echo == n:
                    # The whole request came back: the reply window starts now.
                    echo = -1
                    self.counts[N_ECHO] += 1
                    t0 = ticks_ms()
                    window = self.reply_ms
                elif i < len(data):
                    f.feed(request[:echo])  # not an echo after all: those bytes are reply
                    echo = -1
            f.feed(data, i)
        f.finish()
        if f.frame is None:
            if not f.total:
                raise self._fail(N_NO_REPLY, NoReplyError("no reply from %s within %d ms" % (_who(who), window)))
            if f.truncated is not None and f.skipped == f.total:
                have, want = f.truncated
                if want and f.total == have:
                    raise self._fail(N_BAD_FRAME, FrameError("reply from %s truncated: %d of %d bytes"
                                                             % (_who(who), have, want)))
            raise self._fail(N_GARBLED, CollisionError("garbled reply from %s: %d bytes, no valid frame (%s)"
                                                       % (_who(who), f.total, f.error or "no frame start")))
        frame = f.frame
        if f.trailing or (f.skipped and frame[0] != START_LONG):
            raise self._fail(N_GARBLED, CollisionError(
                "garbled reply from %s: %d stray bytes around a valid frame (collision?)"
                % (_who(who), f.trailing + f.skipped)))
        if expect == EXPECT_ACK:
            if frame[0] != ACK:
                raise self._fail(N_BAD_FRAME, FrameError("%s answered a %d-byte frame where E5h was expected"
                                                         % (_who(who), len(frame))))
        elif frame[0] != START_LONG or (frame[4] & 0x4F) != 0x08:
            raise self._fail(N_BAD_FRAME, FrameError("%s answered %s where an RSP_UD long frame was expected" % (
                _who(who), "E5h" if frame[0] == ACK else "a %d-byte frame" % len(frame))))
        if f.skipped:
            self.counts[N_NOISE] += 1  # tolerated: the long frame's checksum vouches for it
        return frame

    def transact(self, request, expect, who=None, key=None):
        """exchange() with retries; an RSP_UD must come from the address asked
        (primary) or match the selected secondary address (key)."""
        err = None
        for _ in range(self.retries + 1):
            try:
                frame = yield from self.exchange(request, expect, who)
                if expect == EXPECT_RSP_UD:
                    self._check_origin(frame, who, key)
                return frame
            except (NoReplyError, CollisionError, FrameError) as e:
                err = e
        raise err.__class__("%s (%d attempts)" % (err, self.retries + 1))

    def _check_origin(self, frame, who, key):
        if isinstance(key, str):
            sec = rq.reply_secondary(frame)
            if sec is not None and not rq.matches(key, sec):
                raise self._fail(N_BAD_FRAME, FrameError("reply from secondary address %s, which does not match %s"
                                                         % (sec, key)))
        elif self.check_address and isinstance(who, int) and who <= rq.MAX_PRIMARY and frame[5] != who:
            raise self._fail(N_BAD_FRAME, FrameError("reply from primary address %d where %d was asked"
                                                     % (frame[5], who)))

    # -- addressing and the frame count bit ---------------------------------

    def _address(self, address):
        """(link address, FCB key) for an int or a secondary address; a
        secondary address is selected first."""
        if isinstance(address, str):
            key = rq.normalize_secondary(address)
            yield from self.transact(rq.select(key), EXPECT_ACK, key)
            return ADDR_NETWORK, key
        return rq.check_primary(address), address

    def _next_fcb(self, a, key):
        fcb = self.fcb.get(key)
        if fcb is None:
            # At FDh by number (a slave selected beforehand, address unknown
            # here) a link reset would end the selection for good: no sync.
            if self.sync_fcb and not (a == ADDR_NETWORK and key == a):
                # SND_NKE resets the slave's link: its next FCV=1 frame has FCB=1.
                yield from self.transact(rq.snd_nke(a), EXPECT_ACK, key)
                if a == ADDR_NETWORK:
                    # ... and at FDh it also ends the selection: select again.
                    yield from self.transact(rq.select(key), EXPECT_ACK, key)
            fcb = 1
        return fcb

    # -- public steps ---------------------------------------------------------

    def read(self, address, multi=True, max_frames=16):
        """REQ_UD2 until the slave has no more records (or max_frames).

        Returns {"address", "frames": [bytes], "telegram": mbus.merge(...),
        "complete": False when the slave still had records (multi=False or
        max_frames reached); the next read then starts its sequence afresh}.
        """
        from mbus import decode, merge

        if max_frames < 1:
            raise ValueError("max_frames must be >= 1, got %r" % (max_frames,))
        if address == ADDR_BROADCAST:
            raise ValueError("no slave answers at the broadcast address 255: nothing to read")
        frames = []
        telegrams = []
        complete = True
        key = None
        try:
            a, key = yield from self._address(address)
            who = a if key == a else key
            while True:
                fcb = yield from self._next_fcb(a, key)
                frame = yield from self.transact(rq.req_ud2(a, fcb), EXPECT_RSP_UD, who, key)
                self.fcb[key] = fcb ^ 1
                frames.append(frame)
                telegrams.append(decode(frame))
                if not telegrams[-1].get("more_records_follow"):
                    break
                if not multi or len(frames) >= max_frames:
                    # The slave is mid-sequence: resynchronise before the next read.
                    complete = False
                    self.fcb.pop(key, None)
                    break
        except MBusError:
            self.fcb.pop(key, None)
            # A reply given up on may still come: dropped during one more
            # reply window, it cannot pass for the next exchange's. (A late
            # E5h names no sender; taken for the next meter's link reset, it
            # started that meter's multi-telegram read mid-sequence.)
            t0 = ticks_ms()
            while (yield (READ, max(0, self.reply_ms - ticks_diff(ticks_ms(), t0)))):
                pass
            raise
        return {"address": address, "frames": frames, "telegram": merge(telegrams), "complete": complete}

    def __getattr__(self, name):
        # The other steps live in the module COMMANDS names, imported on
        # first use: a gateway that only reads never loads them.
        home = COMMANDS.get(name)
        if home is None:
            raise AttributeError("Protocol has no attribute %r" % name)
        step = getattr(__import__(home, None, None, (name,)), name)
        return lambda *args, **kw: step(self, *args, **kw)


# Step name -> module defining it as a function of the Protocol.
COMMANDS = {"ping": "mbus.commands", "read_class1": "mbus.commands", "select": "mbus.commands",
            "deselect": "mbus.commands", "set_primary_address": "mbus.commands",
            "application_reset": "mbus.commands", "send_user_data": "mbus.commands",
            "switch_baudrate": "mbus.commands", "scan_primary": "mbus.scan", "scan_secondary": "mbus.scan"}
STEPS = ("read",) + tuple(COMMANDS)


class Master:
    """Blocking driver: Master(transport, **Protocol options).

    transport: write(bytes), read(timeout_ms) -> bytes (b"" on silence),
    optional set_baudrate(rate), close(); see mbus.transport.
    Methods (same arguments as Protocol's): read, and the COMMANDS: ping,
    read_class1, select, deselect, set_primary_address, application_reset,
    send_user_data, switch_baudrate, scan_primary, scan_secondary.
    """

    def __init__(self, transport, **options):
        if "baudrate" not in options:
            options["baudrate"] = getattr(transport, "baudrate", 2400)
        self.transport = transport
        self.core = Protocol(**options)

    def run(self, steps):
        value = None
        while True:
            try:
                op, arg = steps.send(value)
            except StopIteration as e:
                return e.value
            value = self._io(op, arg)

    def _io(self, op, arg):
        """Carry out one I/O request of a step (a coroutine for async transports)."""
        t = self.transport
        if op == READ:
            return t.read(arg)
        if op == WRITE:
            return t.write(arg)
        if hasattr(t, "set_baudrate"):
            t.set_baudrate(arg)

    def read(self, address, multi=True, max_frames=16):
        return self.run(self.core.read(address, multi, max_frames))

    def __getattr__(self, name):
        if name not in COMMANDS:
            raise AttributeError("%s has no attribute %r" % (type(self).__name__, name))
        step = getattr(self.core, name)
        return lambda *args, **kw: self.run(step(*args, **kw))  # AsyncMaster: a coroutine

    def close(self):
        self.transport.close()


class AsyncMaster(Master):
    """asyncio driver: AsyncMaster(transport, **Protocol options); the
    transport's write/read are coroutines. Same methods as Master, awaited.
    Calls from several tasks take turns: one exchange sequence owns the bus."""

    def __init__(self, transport, **options):
        import asyncio

        super().__init__(transport, **options)
        self.lock = asyncio.Lock()

    async def run(self, steps):
        async with self.lock:
            return await self._run(steps)

    async def _run(self, steps):
        value = None
        while True:
            try:
                op, arg = steps.send(value)
            except StopIteration as e:
                return e.value
            value = self._io(op, arg)
            if op != BAUD:
                value = await value

    async def close(self):
        await self.transport.close()

