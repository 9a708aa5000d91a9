"""Run master operations on either interpreter against a simulator, collect results."""
import json
import os
import subprocess
import sys

from sim.process import SIM_CONFIGS, Simulator  # noqa: F401 (tests import them from here)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INTERPRETERS = ("cpython", "micropython")


class Ops:
    """run_ops.py running on one interpreter (a subprocess); result() waits."""

    def __init__(self, interpreter, sim, ops, tmp, driver="sync", options=None, heap=None, timeout=300, tag=""):
        from conftest import LIB, MICROPYTHON, ROOT as _root

        spec = {"host": sim.host, "port": sim.port, "driver": driver, "options": options or {}, "ops": ops}
        path = os.path.join(str(tmp), "ops-%s-%s%s.json" % (interpreter, driver, tag))
        with open(path, "w") as f:
            json.dump(spec, f)
        script = os.path.join(HERE, "run_ops.py")
        env = dict(os.environ)
        if interpreter == "micropython":
            cmd = [MICROPYTHON] + (["-X", "heapsize=" + heap] if heap else []) + [script, path]
            env["MICROPYPATH"] = ".frozen:" + LIB + ":" + os.path.join(_root, "firmware")
        else:
            cmd = [sys.executable, script, path]
            env["PYTHONPATH"] = LIB
        self.interpreter, self.sim, self.timeout = interpreter, sim, timeout
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=_root)

    def result(self):
        try:
            out, err = self.proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("%s run_ops hung:\n%s" % (self.interpreter, out.decode()[-3000:]))
        out = out.decode()
        if self.proc.returncode != 0:
            raise AssertionError("%s run_ops failed (rc %d):\n%s\n%s\nsimulator:\n%s" % (
                self.interpreter, self.proc.returncode, out[-3000:], err.decode()[-3000:],
                self.sim.output()[-3000:]))
        lines = [json.loads(x) for x in out.splitlines() if x.strip()]
        return lines[:-1], lines[-1]


def run_ops(interpreter, sim, ops, tmp, driver="sync", options=None, heap=None, timeout=300):
    """Run ops through host_tests/bus/run_ops.py; returns the list of results
    and the final counters line."""
    return Ops(interpreter, sim, ops, tmp, driver, options, heap, timeout).result()
