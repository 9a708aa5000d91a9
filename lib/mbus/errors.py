# Every failure the library reports is an MBusError; callers catch one class.
# The message names the problem and, where it has one, the byte offset in
# the frame (also kept as .offset for programs).


class MBusError(Exception):
    def __init__(self, msg, offset=None):
        if offset is not None:
            msg = "%s (at byte %d)" % (msg, offset)
        super().__init__(msg)
        self.offset = offset


class FrameError(MBusError):
    """Link layer (EN 13757-2): start, length, checksum or stop byte wrong."""


class DecodeError(MBusError):
    """Application layer (EN 13757-3): the user data cannot be decoded."""


class UnsupportedError(DecodeError):
    """Well-formed but outside what is decoded (an unknown CI field, say)."""


# The bus master's errors (mbus.master): what went wrong on the wire.
class NoReplyError(MBusError):
    """Silence: no byte came back within the reply window, after every retry."""


class CollisionError(MBusError):
    """Bytes came back but formed no single valid frame: several slaves
    answered at once, or the line is garbled."""


class TransportError(MBusError):
    """The transport (UART, serial port, TCP socket) failed or closed."""
