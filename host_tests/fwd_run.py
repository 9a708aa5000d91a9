"""Start fwd_gateway.py on CPython or the MicroPython unix port (ESP32 heap)
and read its journal."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from conftest import LIB, MICROPYTHON, ROOT

FIRMWARE = os.path.join(ROOT, "firmware")
SCRIPT = os.path.join(ROOT, "host_tests", "fwd_gateway.py")
INTERPRETERS = ["micropython", "cpython"]
_MPY = []


def mpy_build():
    """lib/ and firmware/ compiled with mpy-cross once per session: "mpy" runs the .mpy files."""
    if not _MPY:
        from build_mpy import compile_one, sources

        out = tempfile.mkdtemp(prefix="fwd-mpy")
        for rel in sources():
            compile_one(rel, out)
        _MPY.append(out)
    return _MPY[0]


class Gateway:
    def __init__(self, interp, tmp_path, **cfg):
        cfg.setdefault("outbox", str(tmp_path / "outbox"))
        path = tmp_path / "gateway.json"
        path.write_text(json.dumps(cfg))
        env = dict(os.environ)
        if interp in ("micropython", "mpy"):
            cmd = [MICROPYTHON, "-X", "heapsize=112wK", SCRIPT, str(path)]
            env["MICROPYPATH"] = ".frozen:%s:%s" % (LIB, FIRMWARE)
            if interp == "mpy":
                out = mpy_build()
                env["MICROPYPATH"] = ".frozen:%s/lib:%s/firmware" % (out, out)
        else:
            cmd = [sys.executable, SCRIPT, str(path)]
            env["PYTHONPATH"] = "%s:%s" % (LIB, FIRMWARE)
        # cwd: the flash root of the board, where the gateway keeps its small files (ha/)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     cwd=str(tmp_path))
        self.lines = []
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pred, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in list(self.lines):
                if pred(line):
                    return line
            if self.proc.poll() is not None and not self._t.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError("gateway never printed the line; it said:\n" + "\n".join(self.lines[-40:]))

    def appended(self):
        return [int(line.split()[1]) for line in list(self.lines) if line.startswith("A ")]

    def finish(self, timeout=60):
        self.proc.wait(timeout)
        self._t.join(5)
        assert self.proc.returncode == 0, "\n".join(self.lines[-40:])
        return self.status()

    def status(self):
        for line in self.lines:
            if line.startswith("STATUS "):
                return json.loads(line[7:])
        raise AssertionError("no STATUS line:\n" + "\n".join(self.lines[-40:]))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log(self):
        return "\n".join(self.lines)
