# The bus master on the board's transport (bus.kind): machine.UART on a
# board, raw TCP to the simulator or a ser2net-style gateway. The transport
# is opened on first use and reopened after it failed, so a bus that is away
# at boot or drops its connection costs failed reads, never a crash. What
# the exchanges met on the line is counted since boot, across reopenings.
from mbus.errors import TransportError

import log
from compat import const


_FCB_BITS_FROM = const(48)  # meters: from here on fcb.Bits takes less heap than the master's dict


class Bus:
    def __init__(self, cfg, meters=0):
        self.cfg = cfg
        self.meters = meters  # how many are read: the master's frame count bits are kept to suit
        self.master = None
        self.opens = 0
        self.last_error = None
        self.core = None  # the Protocol of the master dropped last: its counters carry over

    def where(self):
        c = self.cfg
        if c["kind"] == "tcp":
            return "tcp://%s:%d" % (c["host"], c["port"])
        return "UART%d (TX GPIO%d, RX GPIO%d)" % (c["uart"], c["tx"], c["rx"])

    def _transport(self):
        c = self.cfg
        if c["kind"] == "tcp":
            from mbus.tcp import AsyncTcpTransport
            return AsyncTcpTransport(c["host"], c["port"], c["baudrate"])
        from mbus.uart import AsyncUartTransport
        return AsyncUartTransport(c["uart"], tx=c["tx"], rx=c["rx"], baudrate=c["baudrate"])

    def _open(self):
        from mbus.master import AsyncMaster
        c = self.cfg
        transport = self._transport()
        options = {"retries": c["retries"]}
        if c["timeout_ms"] is not None:
            options["reply_timeout_ms"] = c["timeout_ms"]
        self.opens += 1
        log.info("bus: %s open at %d baud", self.where(), c["baudrate"])
        m = AsyncMaster(transport, **options)
        old = self.core
        if old is not None:  # counted since boot, not since the last reopening
            p = m.core
            p.sent, p.failed, p.counts = old.sent, old.failed, old.counts
        if self.meters >= _FCB_BITS_FROM:
            import fcb
            m.core.fcb = fcb.Bits()  # type: ignore[assignment]  # the dict's methods the master uses, no entry per meter
        return m

    def failed(self):
        """Exchanges failed since boot (each one retried or reported)."""
        p = self.master.core if self.master is not None else self.core
        return p.failed if p is not None else 0

    async def _drop(self, e):
        self.last_error = str(e)
        log.warning("bus: %s failed: %s; reopening on the next read", self.where(), e)
        master, self.master = self.master, None
        try:
            if master is not None:
                self.core = master.core
                await master.close()
        except Exception:
            pass  # already broken; the next read opens a fresh transport

    async def read(self, address, multi=True, max_frames=16):
        """master.read() through a transport that is (re)opened as needed."""
        master = self.master
        if master is None:
            try:
                master = self.master = self._open()
            except (OSError, TransportError) as e:
                self.last_error = str(e)
                raise TransportError("bus %s not reachable: %s" % (self.where(), e))
        try:
            return await master.read(address, multi=multi, max_frames=max_frames)
        except TransportError as e:
            await self._drop(e)
            raise

