# mbus: a memory-lean M-Bus (EN 13757-2/-3) library for MicroPython and CPython.
# Kept tiny: submodules are imported only when first used.
from mbus.errors import MBusError, FrameError, DecodeError, UnsupportedError  # noqa: F401
from mbus.errors import NoReplyError, CollisionError, TransportError  # noqa: F401

__version__ = "0.1.0"
