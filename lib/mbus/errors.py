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
