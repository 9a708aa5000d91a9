# The bus master's frame count bits (mbus.master.Protocol.fcb: primary or
# secondary address -> FCB of the next FCV=1 frame) without a dict: a byte
# per primary address, and 8 bytes + 1 per secondary address the master has
# met. The dict took about 50 bytes a meter on the unix port (12.8 KB for
# 250 meters, half of them by secondary address), this about 5 and 2.4 KB
# of code and table: bus.py gives the master one from 48 meters on. The
# dict's methods the master and its rare commands use are here.
from binascii import hexlify, unhexlify

_REC = 9  # a secondary address's 8 bytes, then its FCB + 1 (0: not known)


class Bits:
    def __init__(self):
        self.primary = bytearray(256)  # FCB + 1 per address; 0: not known
        self.secondary = bytearray()

    def _at(self, key):
        """Where the FCB of key is kept, or -1."""
        if isinstance(key, int):
            return key
        if not isinstance(key, str):  # None: a selection that failed before its address was known
            return -1
        k = unhexlify(key)
        at = self.secondary.find(k)
        while at >= 0 and at % _REC:  # found across two records
            at = self.secondary.find(k, at + 1)
        return -1 if at < 0 else 256 + at + 8

    def _get(self, at):
        return self.primary[at] if at < 256 else self.secondary[at - 256]

    def _set(self, at, v):
        if at < 256:
            self.primary[at] = v
        else:
            self.secondary[at - 256] = v

    def get(self, key, default=None):
        at = self._at(key)
        v = self._get(at) if at >= 0 else 0
        return v - 1 if v else default

    def __setitem__(self, key, fcb):
        at = self._at(key)
        if at < 0:
            self.secondary += unhexlify(key) + b"\0"
            at = 256 + len(self.secondary) - 1
        self._set(at, fcb + 1)

    def __contains__(self, key):
        return self.get(key) is not None

    def pop(self, key, default=None):
        v = self.get(key)
        if v is None:
            return default
        self._set(self._at(key), 0)
        return v

    def __delitem__(self, key):
        if self.pop(key) is None:
            raise KeyError(key)

    def clear(self):
        self.primary = bytearray(256)
        self.secondary = bytearray()

    def __iter__(self):
        for a in range(256):
            if self.primary[a]:
                yield a
        for at in range(0, len(self.secondary), _REC):
            if self.secondary[at + 8]:
                yield hexlify(self.secondary[at:at + 8]).decode().upper()  # type: ignore[arg-type]  # any buffer will do
