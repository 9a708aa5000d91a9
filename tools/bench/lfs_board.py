"""The firmware on real LittleFS (MicroPython unix port): the board's flash
is tools/flashsim.py's simulated 2 MiB ESP32 partition, kept in an image
file so it survives the process (deep sleep, a kill), and every byte
programmed and block erased is counted.

    micropython lfs_board.py IMAGE STAGED_DIR COUNTS_FILE [RTC_FILE]

A blank IMAGE is formatted and gets STAGED_DIR's files (not counted). Then
boot.py and main.py run with /flash as the current directory and sys.path
as on the ESP32. At exit (deep sleep, Ctrl-C) one line of JSON is appended
to COUNTS_FILE: {"programmed": bytes, "erased": blocks, "rc": exit code}.
With RTC_FILE, `machine` is an ESP32 stand-in for a board file whose sleep
kind is "machine": RTC().memory() keeps its bytes in RTC_FILE (off the
flash, as the ESP32's RTC slow memory is) and deepsleep(ms) exits as
firmware/deepsleep.py does on the unix port.
"""
import json
import os
import sys

sys.path.append(sys.argv[0].rsplit("/", 2)[0])  # tools/
from flashsim import Flash, copy_tree, mount  # noqa: E402

BLOCKS = 512  # 2 MiB: the filesystem partition of a 4 MiB ESP32


class _RTC:
    def __init__(self, path):
        self.path = path

    def memory(self, data=None):
        if data is None:
            try:
                with open(self.path, "rb") as f:
                    return f.read()
            except OSError:
                return b""
        with open(self.path, "wb") as f:
            f.write(data)


class _Machine:
    """The two calls of the ESP32's machine module that deep sleep uses."""

    def __init__(self, rtc_file):
        self.rtc_file = rtc_file

    def RTC(self):
        return _RTC(self.rtc_file)

    def deepsleep(self, ms):
        print("DEEPSLEEP %d" % ms)
        sys.exit(76)


def main(image, staged, counts, rtc_file=None):
    if rtc_file:
        sys.modules["machine"] = _Machine(rtc_file)
    flash = Flash(BLOCKS, image=image)
    mount(flash, "/flash")
    if "boot.py" not in os.listdir("/flash"):
        copy_tree(staged, "/flash")
    flash.programmed = flash.erased = 0
    os.chdir("/flash")
    sys.path[:] = ["", ".frozen", "lib"]
    rc = 0
    try:
        import boot  # noqa: F401
        import main  # noqa: F401
    except SystemExit as e:
        rc = e.args[0] if e.args else 0
        raise
    finally:
        with open(counts, "a") as f:
            f.write(json.dumps({"programmed": flash.programmed, "erased": flash.erased, "rc": rc}) + "\n")
        flash.close()


main(*sys.argv[1:5])
