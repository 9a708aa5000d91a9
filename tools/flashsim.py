"""A NOR-flash block device for vfs.VfsLfs2 on the MicroPython unix port:
real LittleFS (the ESP32's filesystem) on RAM or on an image file, with
counters for what an ESP32's flash would see, and failure injection.

    from flashsim import Flash, mount
    flash = Flash(blocks=64)                  # RAM, 4 KiB blocks
    flash = Flash(blocks=64, image="fs.img")  # kept in a file (survives kill -9)
    mount(flash, "/flash")                    # formats a blank device first

flash.programmed / flash.erased count bytes programmed and blocks erased.
flash.cut_after(n): the n-th program or erase from now is torn (half of
it lands) and nothing after it reaches the flash, as when power goes; every
write then fails with EIO until flash.restore() (the next "boot").
flash.fail_writes(True): every program/erase fails with EIO (a dying chip).
"""
import os

try:
    import vfs
except ImportError:  # CPython: only the counters are of use there
    vfs = None

_EIO = -5
_PIECE = 256  # programs and erases go in pieces of this size through small scratch buffers


class Flash:
    def __init__(self, blocks, block_size=4096, image=None):
        self.block_size = block_size
        self.blocks = blocks
        self.programmed = 0
        self.erased = 0
        self._cut = -1
        self._dead = False
        self._failing = False
        self.ops = 0
        # scratch buffers made once: a flash chip takes no heap to program or
        # erase, so neither may the simulation (it shares the firmware's heap)
        self._blank = b"\xff" * _PIECE
        self._old = bytearray(_PIECE)
        if image is None:
            self._ram = bytearray(b"\xff" * (blocks * block_size))
            self._f = None
        else:
            self._ram = None
            fresh = False
            try:
                fresh = os.stat(image)[6] != blocks * block_size
            except OSError:
                fresh = True
            if fresh:
                with open(image, "wb") as f:
                    blank = b"\xff" * block_size
                    for _ in range(blocks):
                        f.write(blank)
            self._f = open(image, "r+b")

    # -- block device protocol (extended interface, as LittleFS needs) --------

    def readblocks(self, block, buf, off=0):
        a = block * self.block_size + off
        if self._f is None:
            buf[:] = memoryview(self._ram)[a : a + len(buf)]
        else:
            self._f.seek(a)
            self._f.readinto(buf)

    def writeblocks(self, block, buf, off=None):
        if off is None:  # simple interface: erase, then program the block
            r = self._erase(block)
            if r:
                return r
            off = 0
        return self._program(block * self.block_size + off, buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.block_size
        if op == 6:
            return self._erase(arg)
        return 0

    # -- what a flash chip does -------------------------------------------------

    def _tick(self):
        """0 to go ahead, 1 for the torn last write, -5 once power is gone."""
        if self._failing or self._dead:
            return _EIO
        self.ops += 1
        if self._cut > 0:
            self._cut -= 1
            if self._cut == 0:
                self._dead = True
                return 1
        return 0

    def _store(self, a, data):
        if self._f is None:
            self._ram[a : a + len(data)] = data
        else:
            self._f.seek(a)
            self._f.write(data)

    def _program(self, a, buf):
        t = self._tick()
        if t < 0:
            return t
        n = len(buf) // 2 if t else len(buf)
        src = memoryview(buf)
        for i in range(0, n, _PIECE):
            k = min(_PIECE, n - i)
            # NOR flash only clears bits: programming ANDs with what is there
            old = memoryview(self._old)[:k]
            self._read_at(a + i, old)
            if old == memoryview(self._blank)[:k]:
                self._store(a + i, src[i : i + k])
            else:
                for j in range(k):
                    old[j] &= src[i + j]
                self._store(a + i, old)
        self.programmed += n
        return _EIO if t else 0

    def _read_at(self, a, out):
        if self._f is None:
            out[:] = memoryview(self._ram)[a : a + len(out)]
        else:
            self._f.seek(a)
            self._f.readinto(out)

    def _erase(self, block):
        t = self._tick()
        if t < 0:
            return t
        a = block * self.block_size
        n = self.block_size // 2 if t else self.block_size
        for i in range(0, n, _PIECE):
            self._store(a + i, memoryview(self._blank)[: min(_PIECE, n - i)])
        self.erased += 1
        return _EIO if t else 0

    # -- test control -------------------------------------------------------------

    def cut_after(self, n):
        self._cut = n

    def restore(self):
        """Power is back: writes work again (the next boot)."""
        self._cut = -1
        self._dead = False

    def fail_writes(self, on):
        self._failing = on

    def close(self):
        if self._f is not None:
            self._f.close()


def mount(flash, path, readsize=32, progsize=32, lookahead=32):
    """Mount flash at path with MicroPython's ESP32 LittleFS settings,
    formatting it if it holds no filesystem."""
    try:
        fs = vfs.VfsLfs2(flash, readsize=readsize, progsize=progsize, lookahead=lookahead)
    except OSError:
        vfs.VfsLfs2.mkfs(flash, readsize=readsize, progsize=progsize, lookahead=lookahead)
        fs = vfs.VfsLfs2(flash, readsize=readsize, progsize=progsize, lookahead=lookahead)
    vfs.mount(fs, path)
    return fs


def umount(path):
    try:
        vfs.umount(path)
    except OSError:
        pass


def copy_tree(src, dst):
    """Copy the directory src into dst (created already), e.g. a staged image
    from the host's filesystem onto a mounted LittleFS."""
    for name in os.listdir(src):
        s, d = src + "/" + name, dst + "/" + name
        if os.stat(s)[0] & 0x4000:
            os.mkdir(d)
            copy_tree(s, d)
        else:
            with open(s, "rb") as fi, open(d, "wb") as fo:
                fo.write(fi.read())
