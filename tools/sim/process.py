"""Start tools/simulator.py as a subprocess and wait until it listens."""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIMULATOR = os.path.join(os.path.dirname(HERE), "simulator.py")
SIM_CONFIGS = HERE


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
            [sys.executable, SIMULATOR, "--config", config,
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
