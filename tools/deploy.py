"""Upload the gateway to a board with mpremote and restart it.

    python tools/deploy.py --port /dev/ttyUSB0 --board esp32-devkitc [--config my-config.json] [--romfs]

1. stages the board's filesystem (tools/firmware_image.py): firmware and
   lib/mbus compiled with mpy-cross for the board's architecture, microdot
   as .mpy, boots.py/main.py as source, board.json, and config.json if given;
2. restarts the board into safe mode (a one-shot flag file), so neither the
   gateway nor its watchdog runs while files are copied;
3. removes firmware files an earlier deploy left that this one does not
   bring (a stale x.py would shadow the new x.mpy), never config.json or
   data files;
4. copies the image, removes the flag and resets the board.

With --romfs the code goes into the board's ROMFS partition instead
(`mpremote romfs deploy`, between steps 2 and 3; the firmware must have one,
README "Deploy, flash, mip, freeze"), and the filesystem keeps only boot.py,
main.py, board.json and config.json: step 3 removes any code file there, as
it would shadow the one in ROM.

mpremote always runs with `resume`: it interrupts a running program with
Ctrl-C without a soft reset, which works on boards and on the virtual board
(tools/virtual_board.py) alike.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import firmware_image  # noqa: E402

ARCH = firmware_image.ARCH
RESET = "import time, machine; time.sleep_ms(100); machine.reset()"
# Runs on the board: delete code files of ours that the new image lacks.
CLEAN = """
import os
keep = set(%r)
for d in ("", "sinks", "lib/mbus", "lib/microdot"):
    try:
        names = os.listdir(d or ".")
    except OSError:
        continue
    for n in names:
        p = d + "/" + n if d else n
        if (n.endswith(".py") or n.endswith(".mpy")) and p not in keep:
            os.remove(p)
            print("removed stale", p)
"""


def mpremote():
    here = os.path.join(os.path.dirname(sys.executable), "mpremote")
    return here if os.path.exists(here) else "mpremote"


def run_mpremote(port, *args, cwd=None):
    cmd = [mpremote(), "connect", port, "resume"] + list(args)
    r = subprocess.run(cmd, cwd=cwd, timeout=300)
    if r.returncode != 0:
        raise SystemExit("mpremote failed (exit %d): %s" % (r.returncode, " ".join(cmd)))


def has_romfs(port):
    """True when the board's firmware has a ROMFS partition to deploy to."""
    cmd = [mpremote(), "connect", port, "resume", "romfs", "query"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return r.returncode == 0 and "not enabled" not in r.stdout + r.stderr


def image_files(image):
    out = []
    for d, _dirs, files in os.walk(image):
        for f in files:
            out.append(os.path.relpath(os.path.join(d, f), image).replace(os.sep, "/"))
    return sorted(out)


def deploy(port, board, config=None, arch="board", reboot_wait=3.0, out=None, romfs=False):
    with open(firmware_image.board_file(board)) as f:
        mcu = json.load(f)["mcu"]
    if arch == "board":
        arch = ARCH.get(mcu)
    if romfs and not has_romfs(port):  # before anything on the board changes
        run_mpremote(port, "exec", "--no-follow", RESET)  # mpremote's Ctrl-C stopped the gateway: start it again
        raise SystemExit("deploy: the firmware on %s has no ROMFS partition (mpremote romfs query): flash a build "
                         "with one (README, \"Deploy, flash, mip, freeze\") or deploy without ROMFS=1" % port)
    image = out or tempfile.mkdtemp(prefix="mbus-image-")
    firmware_image.stage(image, board, config, arch, romfs=romfs)
    files = image_files(image)
    print("deploy: %d files for %s (%s), config %s" % (len(files), board, arch or "host bytecode",
                                                       config or "kept as it is on the board"))
    run_mpremote(port, "exec", "open('safe_mode', 'w').close()", "+", "exec", "--no-follow", RESET)
    time.sleep(reboot_wait)
    if romfs:
        rom = firmware_image.romfs_path(image)
        print("deploy: ROMFS image of %d bytes" % os.path.getsize(rom))
        run_mpremote(port, "romfs", "deploy", rom)
    code = [f for f in files if f.endswith(".py") or f.endswith(".mpy")]
    run_mpremote(port, "exec", CLEAN % (code,), "+", "fs", "cp", "-r", ".", ":", cwd=image)
    run_mpremote(port, "exec", "import os\ntry:\n    os.remove('safe_mode')\nexcept OSError:\n    pass",
                 "+", "exec", "--no-follow", RESET)
    print("deploy: done; the board restarts with the new files")
    return image


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="serial port of the board (or a virtual board's pty)")
    ap.add_argument("--board", required=True, help="a name from boards/")
    ap.add_argument("--config", default=None, help="config.json to upload (default: keep the board's)")
    ap.add_argument("--arch", default="board", help="mpy-cross -march (default: the board's; 'host' for none)")
    ap.add_argument("--romfs", action="store_true", help="the code into the board's ROMFS partition (README)")
    a = ap.parse_args()
    deploy(a.port, a.board, a.config or None, None if a.arch == "host" else a.arch, romfs=a.romfs)


if __name__ == "__main__":
    main()
