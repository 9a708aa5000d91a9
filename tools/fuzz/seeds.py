"""Seed inputs for the fuzzers, made from the libmbus corpus at run time.

    python tools/fuzz/seeds.py --corpus ../shared/corpus/libmbus --out build/fuzz/seeds [--pack FILE]

For every corpus telegram: the frame as captured, its user data from the CI
field on (what decode_user_data takes), and reply streams for the framer
(noise before, a second reply after, an ACK, a frame cut short). Nothing of
the corpus is copied into the repository.
"""
import argparse
import hashlib
import os

FOLDERS = ("test-frames", "error-frames", "unsupported-frames")
ACK = b"\xe5"
SHORT = bytes.fromhex("1008010916")


def corpus_frames(corpus):
    """(name, bytes) of every parsable .hex file of the corpus."""
    out = []
    for folder in FOLDERS:
        d = os.path.join(corpus, folder)
        for name in sorted(os.listdir(d)):
            if not name.endswith(".hex"):
                continue
            with open(os.path.join(d, name)) as f:
                digits = "".join(f.read().split())
            if len(digits) % 2:
                digits = digits[:-1]  # the corpus has a lone nibble on purpose
            try:
                out.append((folder + "/" + name, bytes.fromhex(digits)))
            except ValueError:
                pass
    return out


def seeds(corpus):
    """Distinct seed inputs (bytes), in a stable order."""
    out = []
    for _name, raw in corpus_frames(corpus):
        out.append(raw)
        if len(raw) > 9 and raw[0] == 0x68:
            out.append(raw[6:-2])  # CI onwards
            out.append(b"\x00\xff" + raw + ACK)
            out.append(raw[:len(raw) // 2])
            out.append(ACK + raw)
    out += [ACK, SHORT, SHORT + ACK]
    seen = set()
    unique = []
    for s in out:
        if s and s not in seen:
            seen.add(s)
            unique.append(s)
    return unique


def write_seeds(corpus, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    items = seeds(corpus)
    for s in items:
        with open(os.path.join(out_dir, hashlib.sha1(s).hexdigest()), "wb") as f:
            f.write(s)
    return len(items)


def write_pack(corpus, path):
    """The corpus frames in one file, each after its 2-byte little-endian
    length: what the MicroPython mutation runner reads (tools/fuzz/mutate.py)."""
    frames = [raw for _name, raw in corpus_frames(corpus)]
    with open(path, "wb") as f:
        for raw in frames:
            f.write(len(raw).to_bytes(2, "little") + raw)
    return len(frames)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", help="folder for the atheris seed inputs")
    ap.add_argument("--pack", help="file for the corpus frames packed for mutate.py")
    a = ap.parse_args()
    if a.out:
        print("%d seeds in %s" % (write_seeds(a.corpus, a.out), a.out))
    if a.pack:
        print("%d frames in %s" % (write_pack(a.corpus, a.pack), a.pack))


if __name__ == "__main__":
    main()
