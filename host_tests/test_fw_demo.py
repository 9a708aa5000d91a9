"""`make demo` (tools/gateway_demo.py) for a few seconds: the simulator and
the firmware on the unix port come up, readings print as JSON lines, the
API answers on its port, and Ctrl-C (SIGINT to the demo, as a terminal sends
it) stops everything: exit code 0, no simulator or firmware process left."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

from conftest import ROOT
from fw_helpers import free_port, http


def processes_under(path):
    """pids of processes whose command line or working directory is under path."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().decode(errors="replace")
            cwd = os.readlink("/proc/%s/cwd" % pid)
        except OSError:
            continue
        if path in cmd or cwd.startswith(path):
            out.append((int(pid), cmd.replace("\0", " ")))
    return out


def test_make_demo_prints_readings_serves_the_api_and_stops_on_ctrl_c(tmp_path, corpus):
    port = free_port()
    build = str(tmp_path / "build")
    # the corpus from the environment, as `MBUS_CORPUS=... make demo` passes it
    env = dict(os.environ, MBUS_CORPUS=corpus, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "gateway_demo.py"), "--api-port", str(port),
                             "--build", build], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: [lines.append(x.decode().rstrip("\n")) for x in proc.stdout], daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 40
        while True:
            readings = [json.loads(x) for x in list(lines) if x.startswith("{")]
            if {r["meter"] for r in readings} >= {"heat", "water", "gas", "power"}:
                break
            assert proc.poll() is None and time.monotonic() < deadline, "\n".join(lines[-30:])
            time.sleep(0.2)
        assert any(x.startswith("simulator: 4 meters on 127.0.0.1:") for x in lines)
        assert all(r["telegram"]["records"] and r["time_synced"] for r in readings)
        status, s = http(port, "GET", "/api/status")
        assert status == 200 and s["name"] == "demo-gateway" and sorted(s["meters"]) == ["gas", "heat", "power",
                                                                                          "water"]
        assert processes_under(build), "the firmware and the simulator should be running now"
        proc.send_signal(signal.SIGINT)  # Ctrl-C in the terminal
        assert proc.wait(30) == 0
        reader.join(5)
        assert lines[-1] == "demo stopped", lines[-10:]
        assert not any(x.startswith("Traceback") for x in lines), "\n".join(lines)
        time.sleep(0.5)
        assert processes_under(build) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid, _cmd in processes_under(build):
            os.kill(pid, signal.SIGKILL)
