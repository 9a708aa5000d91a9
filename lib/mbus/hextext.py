# Hex text to bytes, the way frames are written in logs, the libmbus corpus
# and on the command line ("68 1F 1F 68 08 ..."): whitespace is ignored.
from binascii import unhexlify

from mbus.errors import FrameError

_DIGITS = "0123456789abcdefABCDEF"


def from_hex(text):
    """Bytes from hex text; a stray character or a lone nibble is a FrameError."""
    if not isinstance(text, str):
        raise FrameError("hex text must be a str, not %s" % type(text).__name__)
    # replace() rather than split(): one string per step, not one per byte.
    for ws in " \n\r\t\x0b\x0c":
        if ws in text:
            text = text.replace(ws, "")
    if len(text) % 2 == 0:
        try:
            return unhexlify(text)
        except ValueError:
            pass
    for k, ch in enumerate(text):
        if ch not in _DIGITS:
            raise FrameError("%r is not a hex digit" % ch, k // 2)
    raise FrameError("odd number of hex digits (%d): a nibble is missing" % len(text), len(text) // 2)
