"""Robustness campaigns: every fuzzer and fault campaign with its count, then a summary table.

    python tools/fuzz/campaign.py [--corpus ../shared/corpus/libmbus] [--out build/fuzz]
        [--atheris-runs 1000000] [--hypothesis-examples 10000] [--mp-count 20000] [--seed 1]
        [--bus-seconds 300] [--bus-rate 0.05] [--net-seconds 300] [--campaigns decoder,bus,net]

1. atheris (libFuzzer, coverage-guided): targets "decode" and "framer"
   (atheris_fuzz.py), seeded from the corpus, in parallel, 4/5 and 1/5 of
   the runs; new inputs are kept in OUT/corpus-*, crashes in OUT/crashes/.
2. Line and branch coverage of lib/mbus by the inputs atheris kept, and the
   slowest of them on CPython (uninstrumented, best of 20).
3. hypothesis: the structure-aware properties (test_fuzz_properties.py,
   FUZZ_EXAMPLES per property) and the decoder's own property tests
   (test_properties.py, profile "long"), example counts from hypothesis's
   statistics.
4. MicroPython unix port at -X heapsize=32wK, .mpy build: mutate.py with a
   seeded PRNG; the same inputs on CPython; then the decoder alone on them
   (heap_probe.py) and the smallest heap the largest telegram decodes in.
5. The fault campaigns, side by side, through the whole firmware on the
   MicroPython unix port (host_tests/fault_bus.py: seeded bus faults at
   112wK; host_tests/fault_net.py: broker and HTTP server flapping, hanging,
   stalling, names that do not resolve), run by pytest as make test runs
   them short, with FAULT_SECONDS, FAULT_SEED and FAULT_REPORT.

Exit status 1 when any campaign found something (a crash, a finding, a
decode slower than the bound). OUT/summary.json keeps the figures.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "lib"), HERE, os.path.join(ROOT, "tools")]

import seeds as seedgen  # noqa: E402

BIN = os.path.dirname(sys.executable)
MICROPYTHON = os.path.join(BIN, "micropython")
MODULES = ("frame", "framer", "telegram", "values", "daylight", "tables", "errors")
CPY_LIMIT_MS = 50  # a decode slower than this on CPython would be a finding (they take well under 1 ms)


def log(msg):
    print("[fuzz] " + msg, flush=True)


# -- 1. atheris ---------------------------------------------------------------

def atheris_start(target, runs, out, seed, max_len):
    corpus = os.path.join(out, "corpus-" + target)
    crashes = os.path.join(out, "crashes")
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(crashes, exist_ok=True)
    logfile = open(os.path.join(out, "atheris-%s.log" % target), "w")
    cmd = [sys.executable, os.path.join(HERE, "atheris_fuzz.py"), target, corpus, os.path.join(out, "seeds"),
           "-runs=%d" % runs, "-seed=%d" % seed, "-max_len=%d" % max_len, "-timeout=10",
           "-rss_limit_mb=2048", "-dict=" + os.path.join(HERE, "mbus.dict"), "-print_final_stats=1",
           "-artifact_prefix=" + os.path.join(crashes, target + "-")]
    return subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT), logfile


def atheris_result(target, proc, logfile, out):
    rc = proc.wait()
    logfile.close()
    with open(os.path.join(out, "atheris-%s.log" % target)) as f:
        text = f.read()
    done = re.findall(r"^Done (\d+) runs in (\d+) second", text, re.M)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", text)
    crashes = re.findall(r"Test unit written to (\S+)", text)
    return {"target": target, "runs": int(done[-1][0]) if done else 0, "seconds": int(done[-1][1]) if done else None,
            "edges": int(cov[-1][0]) if cov else None, "features": int(cov[-1][1]) if cov else None,
            "crashes": crashes, "exit": rc}


# -- 2. coverage and CPython timing of the kept inputs ----------------------

def read_inputs(folders):
    out = []
    for d in folders:
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read())
    return out


def coverage_of(inputs, out):
    """Line and branch coverage of the decoder and framer modules by inputs."""
    import coverage

    files = [os.path.join(ROOT, "lib", "mbus", m + ".py") for m in MODULES]
    cov = coverage.Coverage(branch=True, include=files + [os.path.join(ROOT, "lib", "mbus", "master.py")],
                            data_file=None)
    cov.start()
    for name in list(sys.modules):
        if name == "mbus" or name.startswith("mbus.") or name == "oracle" or name == "contract":
            del sys.modules[name]
    import oracle

    for data in inputs:
        oracle.check_all(data)
    cov.stop()
    path = os.path.join(out, "coverage.json")
    cov.json_report(outfile=path)
    with open(path) as f:
        report = json.load(f)["files"]
    per = {}
    tot = [0, 0, 0, 0]
    for path, r in report.items():
        s = r["summary"]
        name = os.path.basename(path)[:-3]
        per[name] = {"lines": "%d/%d" % (s["covered_lines"], s["num_statements"]),
                     "branches": "%d/%d" % (s["covered_branches"], s["num_branches"])}
        if name in MODULES:
            tot[0] += s["covered_lines"]
            tot[1] += s["num_statements"]
            tot[2] += s["covered_branches"]
            tot[3] += s["num_branches"]
    return {"modules": per, "lines": tot[0], "lines_total": tot[1], "branches": tot[2], "branches_total": tot[3]}


def slowest_cpython(inputs, keep=8, repeats=20):
    """(ms, target, input) of the slowest decode, decode_user_data or framer
    call over inputs: one timing each, then the slowest few best of repeats."""
    import oracle

    targets = (("decode", oracle.check_decode), ("decode_user_data", oracle.check_user_data),
               ("framer", oracle.check_framer))
    timed = []
    for data in inputs:
        for name, fn in targets:
            t = time.perf_counter()
            fn(data)
            timed.append((time.perf_counter() - t, name, data))
    timed.sort(key=lambda x: -x[0])
    best = (0.0, "", b"")
    fns = dict(targets)
    for _t, name, data in timed[:keep]:
        dt = min(_timed(fns[name], data) for _ in range(repeats))
        if dt > best[0]:
            best = (dt, name, data)
    return best[0] * 1e3, best[1], best[2]


def _timed(fn, data):
    t = time.perf_counter()
    fn(data)
    return time.perf_counter() - t


# -- 3. hypothesis -------------------------------------------------------------

def hypothesis_run(files, env_extra, out, tag):
    env = dict(os.environ)
    env.update(env_extra)
    logpath = os.path.join(out, "hypothesis-%s.log" % tag)
    with open(logpath, "w") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "--hypothesis-show-statistics"] + files,
                                cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT)
    return proc, logpath


def hypothesis_result(proc, logpath):
    rc = proc.wait()
    with open(logpath) as f:
        text = f.read()
    examples = sum(int(p) + int(f) for p, f in re.findall(r"(\d+) passing(?: examples?)?, (\d+) failing", text))
    tests = re.findall(r"(\d+) passed", text)
    failed = re.findall(r"(\d+) failed", text)
    return {"examples": examples, "passed": int(tests[-1]) if tests else 0,
            "failed": int(failed[-1]) if failed else 0, "exit": rc}


# -- 4. MicroPython -------------------------------------------------------------

def build_mpy(out):
    from build_mpy import compile_one, sources

    d = os.path.join(out, "mpy")
    for rel in sources(("lib",)):
        compile_one(rel, d)
    for name in ("contract", "mutate", "heap_probe"):
        compile_one("tools/fuzz/%s.py" % name, d)
    return os.path.join(d, "lib"), os.path.join(d, "tools", "fuzz")


def run_mutate(interpreter, args, mpy=None, heap="32wK", timeout=3600):
    if interpreter == "micropython":
        env = dict(os.environ, MICROPYPATH="%s:%s" % mpy)
        cmd = [MICROPYTHON, "-X", "heapsize=" + heap, "-m", "mutate"] + args
    else:
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "lib") + os.pathsep + HERE)
        cmd = [sys.executable, os.path.join(HERE, "mutate.py")] + args
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    return parse_summary(r.stdout, "summary"), r, time.time() - t


def parse_summary(text, prefix):
    out = {}
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            _, key, value = line.split(" ", 2)
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
    return out


def probe(mpy, pack, heap, index=None):
    env = dict(os.environ, MICROPYPATH=mpy[0])
    env["MICROPYPATH"] += ":" + mpy[1]
    args = [MICROPYTHON, "-X", "heapsize=%s" % heap, "-m", "heap_probe", pack]
    if index is not None:
        args.append(str(index))
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    return parse_summary(r.stdout, "probe"), r


def smallest_heap(mpy, pack, index, lo=8, hi=128):
    """Smallest -X heapsize (in wK) in which the decoder alone decodes input index."""
    while lo < hi:
        mid = (lo + hi) // 2
        res, _ = probe(mpy, pack, "%dwK" % mid, index)
        if res.get("fits") == 1:
            hi = mid
        else:
            lo = mid + 1
    return lo


def mutation_inputs(pack, count, seed, path):
    """The inputs mutate.py makes for this seed (same PRNG), as decode gets them."""
    import mutate

    seeds = mutate.Pack(pack)
    rng = mutate.Rng(seed)
    with open(path, "wb") as f:
        for _ in range(count):
            raw, fixed = mutate.mutate(rng, seeds)
            data = raw if fixed is None else fixed
            f.write(len(data).to_bytes(2, "little") + data)


def outcomes_agree(mp, cp):
    """MicroPython and CPython gave the same inputs the same outcomes, but
    for those MicroPython could not hold in its heap: each "heap" outcome
    stands for one CPython outcome of the same target."""
    for target in set(k.split(":")[0] for k in list(mp) + list(cp)):
        missing = 0
        for key in set(list(mp) + list(cp)):
            if key.startswith(target + ":") and key != target + ":heap":
                d = cp.get(key, 0) - mp.get(key, 0)
                if d < 0:
                    return False
                missing += d
        if missing != mp.get(target + ":heap", 0):
            return False
    return True


def micropython_campaign(out, count, seed):
    mpy = build_mpy(out)
    pack = os.path.join(out, "seeds.bin")
    args = ["--count", str(count), "--seed", str(seed), pack]
    mp, r, secs = run_mutate("micropython", args, mpy)
    if r.returncode or not mp.get("inputs"):
        log("MicroPython mutation run failed (exit %d):\n%s%s" % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    cp, rc, _ = run_mutate("cpython", args)
    inputs = os.path.join(out, "mutation-inputs.bin")
    mutation_inputs(pack, count, seed, inputs)
    alone, _ = probe(mpy, inputs, "32wK")
    worst = alone.get("retained_at", 0)
    return {"micropython": mp, "cpython": cp, "agree": outcomes_agree(mp.get("outcomes", {}), cp.get("outcomes", {})),
            "exit": r.returncode, "cpython_exit": rc.returncode, "seconds": secs,
            "findings_text": [line for line in r.stdout.splitlines() if line.startswith("FINDING")][:20],
            "decoder_alone_32wK": alone, "largest_telegram_min_heap_wK": smallest_heap(mpy, inputs, worst)}


# -- 5. fault campaigns through the firmware ------------------------------------------

FAULT_TESTS = {"bus": "host_tests/test_fault_bus.py", "net": "host_tests/test_fault_net.py"}


def fault_start(kind, seconds, seed, rate, out):
    report = os.path.join(out, "faults-%s.json" % kind)
    if os.path.exists(report):
        os.remove(report)
    env = {"FAULT_SECONDS": str(seconds), "FAULT_SEED": str(seed), "FAULT_RATE": str(rate), "FAULT_REPORT": report}
    proc, logpath = hypothesis_run([FAULT_TESTS[kind]], env, out, "faults-" + kind)
    return kind, proc, logpath, report, time.time()


def fault_result(kind, proc, logpath, report, t0):
    rc = proc.wait()
    r = {"problems": ["no report: see %s" % logpath]}
    if os.path.exists(report):
        with open(report) as f:
            r = json.load(f)
    r["exit"] = rc
    r["wall_s"] = round(time.time() - t0)
    return r


def fault_row(kind, r):
    found = len(r.get("problems", [])) + (1 if r["exit"] and not r.get("problems") else 0)
    if kind == "bus":
        name = "bus faults: firmware at %s, %d s, rate %s per reply and kind" % (r.get("heap"), r.get("seconds", 0),
                                                                               r.get("rate"))
        tried = "{:,} polls".format(r.get("polls", 0))
    else:
        name = "network faults: firmware at %s, %d s" % (r.get("heap"), r.get("seconds", 0))
        tried = "{:,} phases".format(r.get("phases", 0))
    return (name, tried, "{:,}".format(r.get("faults_injected", 0)), "{:,}".format(r.get("readings_checked", 0)),
            found, "—")


def fault_lines(kind, r):
    faults = ", ".join("%s %d" % kv for kv in r.get("faults", {}).items())
    if kind == "bus":
        return ["bus faults injected: %s" % faults,
                "  the line per answered frame: %s; late %s" % (json.dumps(r.get("line")), r.get("late")),
                "  firmware counters (/api/status bus): %s" % json.dumps(r.get("counters")),
                "  readings checked against the meters' telegrams: %s; at the shared address %s"
                % (r.get("readings_checked"), json.dumps(r.get("shared_address"))),
                "  API answered %s; MemoryError lines %s; lowest free heap %s"
                % (json.dumps(r.get("api")), r.get("memory_errors"), r.get("heap_free_low"))]
    return ["network faults injected (phases per kind): %s" % faults,
            "  readings %s, delivered %s, repeats %s; API answered %s; most descriptors over boot %s"
            % (r.get("readings"), json.dumps(r.get("delivered")), json.dumps(r.get("repeats")),
               json.dumps(r.get("api")), r.get("fd_max_over_boot"))]


# -- summary ----------------------------------------------------------------------

def table(rows):
    head = ("campaign", "inputs tried", "faults injected", "readings checked", "found in this run", "slowest input")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def decoder_campaigns(a, out):
    """The decoder fuzzers (1-4): (rows, summary part, report lines, something found)."""
    t0 = time.time()
    n = seedgen.write_seeds(a.corpus, os.path.join(out, "seeds"))
    seedgen.write_pack(a.corpus, os.path.join(out, "seeds.bin"))
    log("%d seeds from %s" % (n, a.corpus))

    # Both cores: the two atheris targets, then the two hypothesis suites
    # beside the MicroPython campaign and the coverage replay.
    decode_runs = a.atheris_runs * 4 // 5
    log("atheris: %d runs (decode %d, framer %d)" % (a.atheris_runs, decode_runs, a.atheris_runs - decode_runs))
    procs = [("decode",) + atheris_start("decode", decode_runs, out, a.seed, 300),
             ("framer",) + atheris_start("framer", a.atheris_runs - decode_runs, out, a.seed, 400)]
    ath = [atheris_result(t, p, f, out) for t, p, f in procs]
    t_atheris = time.time() - t0

    log("hypothesis: %d examples per structure-aware property, decoder properties at profile long"
        % a.hypothesis_examples)
    report = os.path.join(out, "hypothesis-stats.json")
    hyp_procs = [hypothesis_run(["host_tests/test_fuzz_properties.py"],
                                {"FUZZ_EXAMPLES": str(a.hypothesis_examples), "FUZZ_REPORT": report}, out, "structured"),
                 hypothesis_run(["host_tests/test_properties.py"], {"HYPOTHESIS_PROFILE": "long"}, out, "decoder")]
    log("MicroPython: %d mutated inputs at 32wK" % a.mp_count)
    mp = micropython_campaign(out, a.mp_count, a.seed)
    log("coverage and CPython timing of the inputs atheris kept")
    kept = read_inputs([os.path.join(out, "seeds"), os.path.join(out, "corpus-decode"),
                        os.path.join(out, "corpus-framer")])
    cov = coverage_of(kept, out)
    slow_ms, slow_target, slow_data = slowest_cpython(kept)
    hyp = [hypothesis_result(p, path) for p, path in hyp_procs]
    hstats = {}
    if os.path.exists(report):
        with open(report) as f:
            hstats = json.load(f)
    # The structure-aware campaign's slowest input, timed again (best of 20).
    import oracle

    h_slow = max(((min(_timed(oracle.check_framer if k == "framer" else oracle.check_decode,
                              bytes.fromhex(s["slowest_hex"])) for _ in range(20)) * 1e3, k)
                  for k, s in hstats.items()), default=(0.0, ""))
    total = time.time() - t0

    crashes = sum(len(r["crashes"]) for r in ath)
    ath_ok = all(r["exit"] == 0 for r in ath) and not crashes
    mpm, mpc = mp["micropython"], mp["cpython"]
    alone = mp["decoder_alone_32wK"]
    rows = [
        ("decoder: atheris, coverage-guided (decode, decode_user_data, framer, read step)",
         "{:,}".format(sum(r["runs"] for r in ath)), "—", "—", crashes,
         "%.2f ms CPython (%s, %d bytes)" % (slow_ms, slow_target, len(slow_data))),
        ("decoder: hypothesis, structure-aware + decoder properties",
         "{:,}".format(sum(h["examples"] for h in hyp)), "—", "—", sum(h["failed"] for h in hyp),
         "%.2f ms CPython (%s)" % h_slow),
        ("decoder: MicroPython mutation, 32wK heap, .mpy",
         "{:,}".format(mpm.get("inputs", 0)), "—", "—", mpm.get("findings", "run failed"),
         "%.2f ms MicroPython, %.2f ms CPython (%s)" % (mpm.get("slowest_us", 0) / 1e3, mpc.get("slowest_us", 0) / 1e3,
                                                         mpm.get("slowest_target", ""))),
    ]
    summary = {"atheris": ath, "coverage": cov, "cpython_slowest": {"ms": slow_ms, "target": slow_target,
                                                                     "hex": slow_data.hex()},
               "hypothesis": hyp, "hypothesis_stats": hstats, "micropython": mp,
               "decoder_seconds": {"total": round(total), "atheris": round(t_atheris)}}
    lines = [
        "atheris: %s" % ", ".join("%s %s runs in %ss, %s edges, %s features, exit %s"
                                  % (r["target"], "{:,}".format(r["runs"]), r["seconds"], r["edges"], r["features"],
                                     r["exit"]) for r in ath),
        "coverage of lib/mbus (%s) by the atheris corpus: lines %d/%d (%.1f%%), branches %d/%d (%.1f%%)"
        % (", ".join(MODULES), cov["lines"], cov["lines_total"], 100.0 * cov["lines"] / cov["lines_total"],
           cov["branches"], cov["branches_total"], 100.0 * cov["branches"] / cov["branches_total"]),
        "  per module: " + ", ".join("%s %s lines %s branches" % (k, v["lines"], v["branches"])
                                     for k, v in sorted(cov["modules"].items())),
        "hypothesis: %s" % ", ".join("%d examples, %d tests passed, %d failed" % (h["examples"], h["passed"],
                                                                                 h["failed"]) for h in hyp),
        "MicroPython 32wK: outcomes %s" % json.dumps(mpm.get("outcomes")),
        "  heap: %d of %d bytes in use before the first input (decoder and fuzzing code), largest decoded "
        "telegram holds %d bytes" % (mpm.get("heap_base", 0), mpm.get("heap_total") or 0, mpm.get("peak_retained", 0)),
        "  decoder alone at 32wK: %s of %s inputs fit (%s free before the first), %s did not fit the free heap; "
        "largest telegram holds %s bytes and decodes in a heap of %d wK"
        % (alone.get("fits"), alone.get("inputs"), alone.get("free"), alone.get("heap"), alone.get("retained"),
           mp["largest_telegram_min_heap_wK"]),
        "  slowest MicroPython input (%s): %s" % (mpm.get("slowest_target"), mpm.get("slowest_hex")),
        "CPython outcomes of the same inputs: %s" % json.dumps(mpc.get("outcomes")),
    ] + ["  " + line for line in mp["findings_text"]] + [
        "decoder campaigns took %d s (atheris %d s)" % (total, t_atheris),
        "  same outcomes as CPython (but for heap): %s" % mp["agree"]]
    bad = (not ath_ok or any(h["exit"] for h in hyp) or mp["exit"] or mp["cpython_exit"] or not mp["agree"]
           or slow_ms > CPY_LIMIT_MS)
    return rows, summary, lines, bad


def fault_campaigns(a, out, kinds):
    """The fault campaigns (5), side by side (one core each)."""
    log("fault campaigns through the firmware: %s" % ", ".join(
        "%s %d s" % (k, a.bus_seconds if k == "bus" else a.net_seconds) for k in kinds))
    started = [fault_start(k, a.bus_seconds if k == "bus" else a.net_seconds, a.seed, a.bus_rate, out)
               for k in kinds]
    results = {k[0]: fault_result(*k) for k in started}
    rows, lines = [], []
    for k in kinds:
        r = results[k]
        rows.append(fault_row(k, r))
        lines += fault_lines(k, r) + ["  found: " + x for x in r.get("problems", [])[:20]]
        lines.append("  %s campaign took %d s" % (k, r["wall_s"]))
    bad = any(r["exit"] or r.get("problems") for r in results.values())
    return rows, {"faults": results}, lines, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "libmbus"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "fuzz"))
    ap.add_argument("--atheris-runs", type=int, default=1000000)
    ap.add_argument("--hypothesis-examples", type=int, default=10000)
    ap.add_argument("--mp-count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bus-seconds", type=int, default=300, help="length of the bus fault campaign")
    ap.add_argument("--bus-rate", type=float, default=0.05, help="probability of each bus fault per reply")
    ap.add_argument("--net-seconds", type=int, default=300, help="length of the network fault campaign")
    ap.add_argument("--campaigns", default="decoder,bus,net", help="which to run, comma-separated")
    a = ap.parse_args()
    chosen = a.campaigns.split(",")
    unknown = set(chosen) - {"decoder", "bus", "net"}
    if unknown:
        ap.error("unknown campaign(s): %s" % ", ".join(sorted(unknown)))
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    t0 = time.time()
    rows, summary, lines, bad = [], {}, [], False
    parts = []
    if "decoder" in chosen:
        parts.append(decoder_campaigns(a, out))
    kinds = [k for k in ("bus", "net") if k in chosen]
    if kinds:
        parts.append(fault_campaigns(a, out, kinds))
    for r, s_, l_, b in parts:
        rows += r
        summary.update(s_)
        lines += l_
        bad = bad or b
    total = time.time() - t0
    summary.update({"campaigns": chosen, "seconds": {"total": round(total)}, "rows": rows})
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)

    print()
    print(table(rows))
    print()
    for line in lines:
        print(line)
    print("make fuzz took %d s" % total)
    print("RESULT: %s" % ("something was found: see above and %s" % out if bad else "nothing found"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
