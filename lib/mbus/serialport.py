# pyserial transport for a PC: a USB M-Bus master (/dev/ttyUSB0, COM3) or a
# networked one (rfc2217://host:port, socket://host:port). CPython only.
import time

import serial

try:
    from termios import error as _TermiosError  # a port that refuses its settings (POSIX)
except ImportError:  # Windows
    _TermiosError = OSError

from mbus.errors import TransportError


class SerialTransport:
    """Blocking transport on serial.serial_for_url(port), 8E1."""

    def __init__(self, port="/dev/ttyUSB0", baudrate=2400, **options):
        """options go to pyserial and override the 8E1 line defaults
        (parity="N" for a converter that strips parity, say)."""
        self.baudrate = baudrate
        self.port = port
        line = {"bytesize": serial.EIGHTBITS, "parity": serial.PARITY_EVEN, "stopbits": serial.STOPBITS_ONE}
        line.update(options)
        try:
            self.ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0, **line)
        except (serial.SerialException, ValueError, OSError, _TermiosError) as e:
            raise TransportError("cannot open %s: %s" % (port, e))

    def write(self, data):
        try:
            self.ser.write(data)
        except serial.SerialException as e:
            raise TransportError("write to %s failed: %s" % (self.port, e))

    def read(self, timeout_ms):
        # Polling in_waiting works for every pyserial URL handler; changing
        # .timeout would renegotiate the port settings on rfc2217:// each time.
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        try:
            while True:
                n = self.ser.in_waiting
                if n:
                    return self.ser.read(n)
                if time.monotonic() >= deadline:
                    return b""
                time.sleep(0.001)
        except serial.SerialException as e:
            raise TransportError("read from %s failed: %s" % (self.port, e))

    def set_baudrate(self, baudrate):
        self.baudrate = baudrate
        self.ser.baudrate = baudrate

    def close(self):
        self.ser.close()
