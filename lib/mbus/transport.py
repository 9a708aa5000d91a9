# Transports carry the master's bytes to the bus. A transport is any object with
#   baudrate           the line rate (the master derives its timeouts from it)
#   write(data)        send bytes
#   read(timeout_ms)   wait up to timeout_ms for a first byte, then return every
#                      byte that has arrived; b"" means silence; 0 only polls
#   set_baudrate(rate) optional: follow a baud rate switch
#   close()
# An async transport (for AsyncMaster) has the same names, with write, read
# and close as coroutines.
#
# The adapters live in their own modules, imported only when named here, so
# the unix port never loads machine.UART code and the ESP32 never loads pyserial:
#   TcpTransport, AsyncTcpTransport     mbus.tcp_blocking, mbus.tcp   raw TCP (simulator, ser2net); both interpreters
#   UartTransport, AsyncUartTransport   mbus.uart        machine.UART on the ESP32, 8E1
#   SerialTransport                     mbus.serialport  pyserial on a PC: /dev/ttyUSB0, COM3, rfc2217://, socket://

_HOME = {
    "TcpTransport": "mbus.tcp_blocking",
    "AsyncTcpTransport": "mbus.tcp",
    "UartTransport": "mbus.uart",
    "AsyncUartTransport": "mbus.uart",
    "SerialTransport": "mbus.serialport",
}


def __getattr__(name):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError("mbus.transport has no %r" % name)
    return getattr(__import__(home, None, None, [name]), name)


def open_url(url, baudrate=2400, asynchronous=False):
    """A transport from a URL: tcp://host:port (raw TCP, both interpreters),
    anything else (a device path, rfc2217://, socket://) through pyserial."""
    if url.startswith("tcp://"):
        host, _, port = url[6:].rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("expected tcp://host:port, got %r" % url)
        cls = __getattr__("AsyncTcpTransport" if asynchronous else "TcpTransport")
        return cls(host, int(port), baudrate)
    if asynchronous:
        raise ValueError("no asyncio transport for %r: use tcp://host:port or AsyncUartTransport" % url)
    return __getattr__("SerialTransport")(url, baudrate)
