# machine.UART transport for the ESP32: M-Bus line at 2400 baud, 8 data
# bits, even parity, 1 stop bit (8E1). Pins and UART id come from the board
# config. Imported only on a board (the unix port has no machine.UART).
import machine
from select import POLLIN, poll


_MIN_RXBUF = 512  # a 261-byte long frame plus an echo of the request fits twice


class UartTransport:
    """Blocking transport on machine.UART(uart_id, tx=..., rx=...)."""

    def __init__(self, uart_id=1, tx=None, rx=None, baudrate=2400, rxbuf=1024, txbuf=512, **extra):
        self.baudrate = baudrate
        # extra: e.g. invert=UART.INV_RX for converters with an inverted line
        extra["rxbuf"] = max(rxbuf, _MIN_RXBUF)
        extra["txbuf"] = txbuf
        if tx is not None:
            extra["tx"] = tx
        if rx is not None:
            extra["rx"] = rx
        self._settings = extra
        self.uart = machine.UART(uart_id)
        self._init(baudrate)
        self.poller = poll()
        self.poller.register(self.uart, POLLIN)

    def _init(self, baudrate):
        # timeout=0: read() never blocks; waiting is done by poll with our timeouts.
        self.uart.init(baudrate=baudrate, bits=8, parity=0, stop=1, timeout=0, timeout_char=0, **self._settings)

    def write(self, data):
        self.uart.write(data)

    def read(self, timeout_ms):
        if not self.uart.any() and (timeout_ms <= 0 or not self.poller.poll(timeout_ms)):
            return b""
        return self.uart.read() or b""

    def set_baudrate(self, baudrate):
        self.baudrate = baudrate
        self._init(baudrate)

    def close(self):
        self.uart.deinit()


class AsyncUartTransport(UartTransport):
    """asyncio transport on machine.UART: waits through asyncio streams."""

    def __init__(self, *args, **kw):
        import asyncio

        super().__init__(*args, **kw)
        self._stream = asyncio.StreamReader(self.uart)

    async def write(self, data):
        # MicroPython's asyncio.StreamReader is its Stream class, with write()
        # and drain(); micropython-esp32-stubs declare only the reading half
        self._stream.write(data)  # type: ignore[attr-defined]
        await self._stream.drain()  # type: ignore[attr-defined]

    async def read(self, timeout_ms):
        from mbus.aio import poll_within

        if self.uart.any() or timeout_ms <= 0:
            return self._read_now()
        return await poll_within(self.uart.any, self._read_now, timeout_ms)

    def _read_now(self):
        return self.uart.read() or b""

    async def close(self):
        self.uart.deinit()
