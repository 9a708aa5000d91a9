"""The firmware on a small real LittleFS (MicroPython unix port), whose free
space a test takes away and gives back while the gateway runs:

    micropython lfs_gateway.py IMAGE STAGED_DIR BLOCKS CONTROL   # boot
    micropython lfs_gateway.py IMAGE - BLOCKS --dump             # after: files as JSON

IMAGE holds a flashsim.Flash of BLOCKS 4 KiB blocks; a blank one is
formatted and gets STAGED_DIR's files. The gateway runs from /flash as on
the ESP32, with one more extension, "flashfill": every 100 ms it reads the
host file CONTROL; "fill" (or "fill<anything>", to fill again) writes the file /flash/filler until the
filesystem refuses (ENOSPC), then small files /flash/filler<n> until those
are refused too; "free" removes them; each done step is written
back to CONTROL + ".done" ("filled <bytes>" / "freed").
"""
import json
import os
import sys

sys.path.append(sys.argv[0].rsplit("/", 2)[0] + "/tools")
from flashsim import Flash, copy_tree, mount  # noqa: E402

FILLER = "/flash/filler"


def fill():
    """Take every free byte: whole blocks into one file, then small files
    (LittleFS keeps those inline in its metadata blocks) until even those
    are refused."""
    n = 0
    block = b"\0" * 1024
    for i in range(100):  # a file whose append fails may leave blocks another file can take
        got = 0
        try:
            with open("%sb%d" % (FILLER, i), "ab") as f:
                while True:
                    f.write(block)
                    f.flush()
                    got += len(block)
        except OSError:
            pass  # full: what was flushed stays
        n += got
        if not got:
            break
    for i in range(1000):
        try:
            with open("%s%d" % (FILLER, i), "wb") as f:
                f.write(block[:128])
            n += 128
        except OSError:
            break
    return n


def free():
    for name in os.listdir("/flash"):
        if name.startswith("filler"):
            os.remove("/flash/" + name)


class FlashFill:
    """An app.EXTENSIONS module: the supervised task that obeys CONTROL."""

    def __init__(self, control):
        self.control = control
        self.done = None

    def start(self, gw):
        return {"flashfill": self.run}

    async def run(self):
        import asyncio
        while True:
            try:
                with open(self.control) as f:
                    cmd = f.read().strip()
            except OSError:
                cmd = ""
            if cmd and cmd != self.done:
                if cmd.startswith("fill"):
                    out = "filled %d" % fill()
                else:
                    free()
                    out = "freed"
                self.done = cmd
                with open(self.control + ".done", "w") as f:
                    f.write(out)
            await asyncio.sleep_ms(100)


def dump(path, out):
    for name in os.listdir(path):
        p = path + "/" + name
        if os.stat(p)[0] & 0x4000:
            dump(p, out)
        else:
            out[p[len("/flash/"):]] = os.stat(p)[6]
    return out


def main(image, staged, blocks, control):
    flash = Flash(int(blocks), image=image)
    mount(flash, "/flash")
    if control == "--dump":
        files = dump("/flash", {})
        with open("/flash/config.json") as f:
            print(json.dumps({"files": files, "config": f.read(), "free": os.statvfs("/flash")[0] * os.statvfs("/flash")[3]}))
        return
    if "boot.py" not in os.listdir("/flash"):
        copy_tree(staged, "/flash")
    os.chdir("/flash")
    sys.path[:] = ["", ".frozen", "lib"]
    sys.modules["flashfill"] = FlashFill(control)
    import app
    app.EXTENSIONS.append("flashfill")
    try:
        import boot  # noqa: F401
        import main  # noqa: F401
    finally:
        flash.close()


main(*sys.argv[1:5])
