"""Coverage-guided fuzzing (atheris / libFuzzer) of mbus.decode,
mbus.decode_user_data, the reply framer and the master's read step.

    python tools/fuzz/atheris_fuzz.py decode|framer CORPUS_DIR SEED_DIR -runs=N [libFuzzer flags]

Target decode: the input through decode as it is, decode_user_data, and
decode again after its link layer is fixed up (length fields, checksum,
stop byte), so mutations of a frame reach the application layer. Target
framer: the input as a reply stream, to the framer whole and in pieces
(checked against a reference framer) and to the master's read step.
Anything but an MBusError, or a result breaking the JSON contract, is a
crash: libFuzzer saves the input under -artifact_prefix.

    python tools/fuzz/atheris_fuzz.py --replay FILE_OR_DIR...

runs the inputs uninstrumented and prints the slowest (for timing and
coverage).
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "lib"), HERE]

MODULES = ("mbus", "mbus.errors", "mbus.frame", "mbus.framer", "mbus.telegram", "mbus.values",
           "mbus.tables", "mbus.daylight", "mbus.master", "mbus.requests", "mbus.clock")


def replay(paths):
    """Run every input of paths through check_all; print count and the slowest."""
    import oracle

    files = []
    for p in paths:
        if os.path.isdir(p):
            files += [os.path.join(p, f) for f in sorted(os.listdir(p))]
        else:
            files.append(p)
    worst = (0.0, None)
    oracle.check_all(b"")  # the lazy imports, outside the timing
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        t = time.perf_counter()
        oracle.check_all(data)
        dt = time.perf_counter() - t
        if dt > worst[0]:
            worst = (dt, path)
    print("replayed %d inputs; slowest %.3f ms: %s" % (len(files), worst[0] * 1e3, worst[1]))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--replay":
        replay(sys.argv[2:])
        return
    import atheris

    target = sys.argv.pop(1)
    with atheris.instrument_imports(include=["mbus"]):
        for name in MODULES:
            __import__(name)
    import oracle

    one_input = oracle.check_decoders if target == "decode" else oracle.check_reply
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
