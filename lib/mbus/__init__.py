# mbus: a memory-lean M-Bus (EN 13757-2/-3) library for MicroPython and CPython.
# Kept tiny: the public functions live in submodules that are imported the
# first time one of them is used (module __getattr__, PEP 562).
from mbus.errors import MBusError, FrameError, DecodeError, UnsupportedError  # noqa: F401
from mbus.errors import NoReplyError, CollisionError, TransportError  # noqa: F401

__version__ = "0.1.0"

# Public name -> submodule that defines it:
#   decode(data) -> dict               one whole frame (bytes, bytearray, memoryview)
#   decode_user_data(data) -> dict     application layer from the CI field on
#   merge(telegrams) -> dict           consecutive telegrams of one meter as one
#   from_hex(text) -> bytes            "68 1F 1F 68 ..." to bytes
_LAZY = {"decode": "telegram", "decode_user_data": "telegram", "merge": "telegram",
         "from_hex": "hextext"}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(__import__("mbus." + module, None, None, (name,)), name)
    elif name[0] == "_":
        raise AttributeError(name)
    else:
        # A submodule: MicroPython asks here first on "from mbus import frame".
        try:
            value = __import__("mbus." + name, None, None, (name,))
        except ImportError:
            raise AttributeError("module 'mbus' has no attribute '%s'" % name)
    globals()[name] = value
    return value
