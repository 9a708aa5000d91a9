"""Decode the libmbus sample telegrams and print their JSON.

    python tools/demo.py --corpus ../shared/corpus/libmbus [--all] [--pretty]

One JSON object per line, {"file": ..., "telegram": {...}} (pipe it into jq),
or {"file": ..., "error": "..."} for a frame the decoder rejects. --all adds
the corpus's error and unsupported frames; --pretty indents.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))

import mbus  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.environ.get("MBUS_CORPUS") or os.path.join(ROOT, "..", "shared", "corpus",
                                                                                       "libmbus"))
    ap.add_argument("--all", action="store_true", help="also the error and unsupported frames")
    ap.add_argument("--pretty", action="store_true", help="indent the JSON")
    a = ap.parse_args()
    folders = ["test-frames"] + (["error-frames", "unsupported-frames"] if a.all else [])
    for folder in folders:
        path = os.path.join(a.corpus, folder)
        for name in sorted(os.listdir(path)):
            if not name.endswith(".hex"):
                continue
            with open(os.path.join(path, name)) as f:
                text = f.read()
            try:
                out = {"file": folder + "/" + name, "telegram": mbus.decode(mbus.from_hex(text))}
            except mbus.MBusError as e:
                out = {"file": folder + "/" + name, "error": "%s: %s" % (type(e).__name__, e)}
            print(json.dumps(out, indent=2 if a.pretty else None, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
