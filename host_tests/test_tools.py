"""The decoder's helper scripts run: demo and benchmark (figures not judged)."""
import json
import os
import subprocess
import sys

from conftest import CORPUS, ROOT


def run(*args):
    return subprocess.run([sys.executable] + list(args), capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_demo_prints_every_sample_telegram():
    r = run("tools/demo.py", "--corpus", CORPUS)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == 76 and all("telegram" in line for line in lines)
    r = run("tools/demo.py", "--corpus", CORPUS, "--all")
    rejected = [out for out in map(json.loads, r.stdout.splitlines()) if "telegram" not in out]
    assert len(rejected) == 16  # 10 malformed error frames, 6 unsupported frames


def test_bench_reports_heap_and_speed():
    r = run("tools/bench/decode_bench.py", "--corpus", CORPUS, "--rounds", "1")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for words in ("import footprint", "peak heap per frame", "mbus.decode", "pymeterbus", "pymbusparser"):
        assert words in out
    assert "(76/76 frames decoded)" in out.split("mbus.decode", 2)[2]


def test_tablegen_check_passes():
    r = run("tools/tablegen.py", "--check")
    assert r.returncode == 0, r.stdout


def test_python_m_mbus_from_repo_root():
    r = subprocess.run([sys.executable, "-m", "mbus", "decode", "68 03 03 68 08 01 70 79 16"], capture_output=True,
                       text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "lib")))
    assert r.returncode == 0 and json.loads(r.stdout)["frame"]["ci"] == 0x70
