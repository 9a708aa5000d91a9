"""Type-check the board's code against the MicroPython ESP32 stubs with mypy.

    python tools/typecheck.py [files...]

Default: firmware/ (with sinks/) and the modules of lib/mbus that talk to
the board's own modules (BOARD_LIB: machine.UART and select in uart.py,
socket in tcp.py, time's ticks in clock.py, asyncio in aio.py).
micropython-esp32-stubs (machine, network, time with ticks_ms, ...) and
micropython-stdlib-stubs are merged into one typeshed in build/typeshed, so
mypy sees the board's modules, not CPython's. A wrong machine.UART,
network.WLAN or machine.WDT call is an error. Where a stub lacks what the
port has, the line carries `# type: ignore[<code>]` and a comment saying
why. Exit code: mypy's.
"""
import os
import shutil
import subprocess
import sys
import sysconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUB_DIST = "micropython_esp32_stubs"
BOARD_LIB = ("aio.py", "clock.py", "tcp.py", "uart.py")  # lib/mbus modules using the port's own modules


def site_packages():
    return sysconfig.get_paths()["purelib"]


def build_typeshed(out=os.path.join(ROOT, "build", "typeshed")):
    """stdlib stubs + the ESP32 port's module stubs, in typeshed layout."""
    sp = site_packages()
    records = [d for d in os.listdir(sp) if d.startswith(STUB_DIST + "-") and d.endswith(".dist-info")]
    if not records or not os.path.isdir(os.path.join(sp, "stdlib")):
        raise SystemExit("micropython-esp32-stubs is not installed: run `make venv`")
    if os.path.isdir(out):
        shutil.rmtree(out)
    shutil.copytree(os.path.join(sp, "stdlib"), os.path.join(out, "stdlib"))
    shutil.copytree(os.path.join(sp, "stubs"), os.path.join(out, "stubs"))
    shutil.copytree(os.path.join(sp, "_mpy_shed"), os.path.join(out, "stdlib", "_mpy_shed"))
    modules = ["_mpy_shed"]
    with open(os.path.join(sp, records[0], "RECORD")) as f:
        for line in f:
            path = line.split(",")[0]
            if not path.endswith(".pyi"):
                continue
            dst = os.path.join(out, "stdlib", path)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(sp, path), dst)  # the port's stub wins over typeshed's
            modules.append(path[:-4].replace("/__init__", "").replace("/", "."))
    versions = os.path.join(out, "stdlib", "VERSIONS")
    with open(versions) as f:
        known = {line.split(":")[0] for line in f if ":" in line}
    with open(versions, "a") as f:
        for m in modules:
            if m not in known:
                f.write("%s: 3.0-\n" % m)
    return out


def default_files():
    """firmware/*.py, firmware/sinks/*.py and lib/mbus's BOARD_LIB, sorted."""
    fw = os.path.join(ROOT, "firmware")
    files = [os.path.join(fw, f) for f in os.listdir(fw) if f.endswith(".py")]
    files += [os.path.join(fw, "sinks", f) for f in os.listdir(os.path.join(fw, "sinks")) if f.endswith(".py")]
    files += [os.path.join(ROOT, "lib", "mbus", f) for f in BOARD_LIB]
    return sorted(files)


def check(files=None):
    """mypy over files (default: default_files())."""
    typeshed = build_typeshed()
    fw = os.path.join(ROOT, "firmware")
    files = files or default_files()
    # var-annotated: the firmware carries no annotations (they cost bytes on the board)
    cmd = [sys.executable, "-m", "mypy", "--custom-typeshed-dir", typeshed, "--check-untyped-defs",
           "--disable-error-code", "var-annotated",
           "--follow-imports=silent", "--no-error-summary", "--hide-error-context", "--no-incremental",
           "--cache-dir", os.path.join(ROOT, "build", "mypy-cache")] + files
    env = dict(os.environ, MYPYPATH=os.pathsep.join([fw, os.path.join(ROOT, "lib")]))
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


if __name__ == "__main__":
    r = check(sys.argv[1:])
    sys.stdout.write(r.stdout + r.stderr)
    sys.exit(r.returncode)
