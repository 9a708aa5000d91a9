"""Start the simulator, run operations on either interpreter, collect results."""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SIM_CONFIGS = os.path.join(ROOT, "tools", "sim")
INTERPRETERS = ("cpython", "micropython")


class Simulator:
    """tools/simulator.py as a subprocess; its log goes to a file in tmp."""

    def __init__(self, config, tmp, *extra):
        if isinstance(config, dict):
            path = os.path.join(str(tmp), "bus.json")
            with open(path, "w") as f:
                json.dump(config, f)
            config = path
        elif not os.path.isabs(config):
            config = os.path.join(SIM_CONFIGS, config)
        self.log_path = os.path.join(str(tmp), "simulator.log")
        self.stats_path = os.path.join(str(tmp), "simulator-stats.json")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tools", "simulator.py"), "--config", config,
             "--stats", self.stats_path] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            with open(self.log_path) as f:
                first = f.readline()
            if first.startswith("listening on ") and first.endswith("\n"):
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("simulator did not start:\n" + self.output())
            time.sleep(0.02)
        host, port = first.split()[-1].rsplit(":", 1)
        self.host, self.port = host, int(port)

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def stats(self):
        self.stop()
        with open(self.stats_path) as f:
            return json.load(f)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


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
