"""Lay out a board's filesystem: what `make deploy` uploads, what the unix
port runs in the demo, the tests and the benchmark.

    python tools/firmware_image.py --board esp32-devkitc --arch xtensawin --out build/image [--config my.json]

Layout (as on the ESP32, whose sys.path is ['', '.frozen', '/lib']):
    boot.py, main.py            source: MicroPython runs these two by name
    <firmware module>.mpy       every other firmware/*.py, compiled (without line
                                numbers unless --source-lines: less heap)
    sinks/*.mpy                 the firmware's sink package (firmware/sinks/)
    lib/mbus/*.mpy              the protocol library (no host command line)
    lib/microdot/*.mpy          the web framework, from the pinned package
    board.json                  boards/<board>.json
    config.json                 the user's config, when one is given

With --romfs (stage(..., romfs=True)) every module but boot.py and main.py
goes into a ROMFS image instead (<out>.romfs): on a board whose firmware has
a ROMFS partition (`mpremote romfs deploy`) MicroPython mounts it at /rom,
puts /rom and /rom/lib on sys.path and runs the .mpy files in place, so the
code's bytecode and constants stay in flash and out of the heap (about half
of what the gateway's heap holds; README "Memory"). The filesystem then holds
boot.py, main.py, board.json and config.json only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from build_mpy import mpy_cross  # noqa: E402

KEEP_SOURCE = ("boot.py", "main.py")
ARCH = {"esp32": "xtensawin", "esp32c3": "rv32imc", "unix": None}  # mpy-cross -march by the board's mcu
HOST_ONLY = ("__main__.py", "serialport.py")  # the PC's command line and pyserial transport
MICRODOT_FILES = ("__init__.py", "microdot.py")
PACKAGES = ("sinks",)  # firmware/<package>/ goes to <package>/ on the board
# .mpy without line numbers: about 3 KB less heap for the running gateway on
# the unix port (1.5 KB on an ESP32); a traceback still names the file and
# function (line 1). stage(..., source_lines=True) keeps them for debugging.
LEAN_OPTIONS = ("-X", "no-source-lines")


def microdot_dir():
    import importlib.util
    spec = importlib.util.find_spec("microdot")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("microdot is not installed: run `make venv`")
    return list(spec.submodule_search_locations)[0]


def board_file(board):
    path = os.path.join(ROOT, "boards", board + ".json")
    if not os.path.exists(path):
        known = sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "boards")) if f.endswith(".json"))
        raise SystemExit("unknown board %r; known: %s" % (board, ", ".join(known)))
    return path


def _put(src, dst, name_on_board, compiled, arch, source_lines=False):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if not compiled or os.path.basename(src) in KEEP_SOURCE:
        shutil.copyfile(src, dst[:-4] + ".py" if dst.endswith(".mpy") else dst)
        return
    cmd = [mpy_cross()] + (["-march=" + arch] if arch else []) + ["-s", name_on_board, "-o", dst, src]
    if not source_lines:
        cmd[1:1] = LEAN_OPTIONS
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def files(extra_modules=()):
    """(source path, path on the board without extension) for every module."""
    out = []
    fw = os.path.join(ROOT, "firmware")
    for f in sorted(os.listdir(fw)):
        if f.endswith(".py"):
            out.append((os.path.join(fw, f), f[:-3]))
    for pkg in PACKAGES:
        d = os.path.join(fw, pkg)
        for f in sorted(os.listdir(d)):
            if f.endswith(".py"):
                out.append((os.path.join(d, f), pkg + "/" + f[:-3]))
    lib = os.path.join(ROOT, "lib", "mbus")
    for f in sorted(os.listdir(lib)):
        if f.endswith(".py") and f not in HOST_ONLY:
            out.append((os.path.join(lib, f), "lib/mbus/" + f[:-3]))
    md = microdot_dir()
    for f in MICRODOT_FILES:
        out.append((os.path.join(md, f), "lib/microdot/" + f[:-3]))
    return out


def romfs_path(out):
    """Where stage(out, romfs=True) writes the ROMFS image."""
    return out.rstrip("/" + os.sep) + ".romfs"


def build_romfs(code_dir, path):
    """A ROMFS image of code_dir's files (mpremote's builder, as `mpremote
    romfs build` makes it), written to path; returns its size."""
    import contextlib
    import io

    from mpremote.romfs import make_romfs

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the whole tree
        image = make_romfs(code_dir, mpy_cross=False)  # the .mpy files are compiled already
    with open(path, "wb") as f:
        f.write(image)
    return len(image)


def stage(out, board="unix-sim", config=None, arch=None, compiled=True, source_lines=False, romfs=False):
    """Write the board's filesystem into out (created, emptied first); with
    romfs the code goes into the image romfs_path(out) instead.

    config: a path to a JSON file, a dict, or None. Returns out.
    """
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    code = out + ".romfs-files" if romfs else out
    if romfs:
        shutil.rmtree(code, ignore_errors=True)
        os.makedirs(code)
    for src, name in files():
        base = os.path.basename(src)
        keep = base in KEEP_SOURCE
        dst = os.path.join(out if keep else code, name + (".py" if keep or not compiled else ".mpy"))
        _put(src, dst, name + ".py", compiled, arch, source_lines)
    if romfs:
        build_romfs(code, romfs_path(out))
        shutil.rmtree(code)
    shutil.copyfile(board_file(board), os.path.join(out, "board.json"))
    if isinstance(config, dict):
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
    elif config:
        shutil.copyfile(config, os.path.join(out, "config.json"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", required=True)
    ap.add_argument("--arch", default=None, help="mpy-cross -march (xtensawin: ESP32; rv32imc: ESP32-C3; "
                                                  "board: the board's); host if omitted")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "image"))
    ap.add_argument("--config", default=None, help="a config.json to include")
    ap.add_argument("--source", action="store_true", help="copy .py sources instead of compiling")
    ap.add_argument("--source-lines", action="store_true", help="keep line numbers in the .mpy files (more heap)")
    ap.add_argument("--romfs", action="store_true", help="the code in a ROMFS image beside --out (<out>.romfs)")
    a = ap.parse_args()
    if a.arch == "board":
        with open(board_file(a.board)) as f:
            a.arch = ARCH.get(json.load(f)["mcu"])
    stage(a.out, a.board, a.config, a.arch, not a.source, a.source_lines, a.romfs)
    print("staged %s for %s in %s%s" % ("sources" if a.source else ".mpy files", a.board, a.out,
                                        " and %s (%d bytes)" % (romfs_path(a.out), os.path.getsize(romfs_path(a.out)))
                                        if a.romfs else ""))


if __name__ == "__main__":
    main()
