"""Write a stock MicroPython image to a board with esptool (not run in CI).

    python tools/flash.py --port /dev/ttyUSB0 --board esp32-devkitc --firmware ESP32_GENERIC-v1.29.0.bin

Erases the flash, then writes the image at the offset the board's chip
needs (boards/<board>.json "flash"). Get the image for the board named there
("micropython_board") from the MicroPython download page. esptool is
installed into .venv from tools/requirements-flash.txt on first use.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def esptool():
    here = os.path.join(os.path.dirname(sys.executable), "esptool")
    if not os.path.exists(here):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r",
                        os.path.join(ROOT, "tools", "requirements-flash.txt")], check=True)
    return here


def commands(port, board, firmware, baud=460800):
    with open(os.path.join(ROOT, "boards", board + ".json")) as f:
        spec = json.load(f).get("flash")
    if not spec:
        raise SystemExit("board %s is not flashed with esptool" % board)
    base = ["--chip", spec["chip"], "--port", port, "--baud", str(baud)]
    return [base + ["erase-flash"], base + ["write-flash", "--compress", spec["offset"], firmware]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True)
    ap.add_argument("--board", required=True)
    ap.add_argument("--firmware", required=True, help="the MicroPython .bin for the board")
    ap.add_argument("--baud", type=int, default=460800)
    a = ap.parse_args()
    if not os.path.exists(a.firmware):
        raise SystemExit("no such firmware image: %s" % a.firmware)
    tool = esptool()
    for args in commands(a.port, a.board, a.firmware, a.baud):
        print("esptool " + " ".join(args))
        subprocess.run([tool] + args, check=True)


if __name__ == "__main__":
    main()
