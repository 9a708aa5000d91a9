# `mbus decode`: frames from the command line, files or stdin, decoded and
# printed in any output format. Also the rendering of received frames that
# request and raw share.
import os
import sys

import mbus
from mbus import frame as fr
from mbus.cli import output
from mbus.cli.errors import USAGE, CliError


def read_input(arg):
    """Bytes of one input: '-' is stdin, an existing file is read, anything
    else is hex text. Files and stdin may hold hex text or raw bytes."""
    if arg == "-":
        return _bytes_or_hex(sys.stdin.buffer.read(), "stdin")
    if os.path.isfile(arg):
        with open(arg, "rb") as f:
            return _bytes_or_hex(f.read(), arg)
    try:
        return mbus.from_hex(arg)
    except mbus.FrameError as e:
        raise CliError("%r is neither a file nor hex bytes: %s" % (arg, e), USAGE)


def _bytes_or_hex(data, where):
    try:
        text = data.decode("ascii")
    except UnicodeError:
        return data
    try:
        return mbus.from_hex(text)
    except mbus.FrameError as e:
        if data[:1] in (b"\x68", b"\x10", b"\xe5"):
            return data  # raw bytes that happen to be ASCII
        raise CliError("%s holds neither hex text nor a frame: %s" % (where, e))


def split_frames(data, where="input"):
    """The consecutive frames in data (a capture, a multi-telegram read)."""
    frames = []
    pos = 0
    while pos < len(data):
        rest = memoryview(data)[pos:]
        try:
            want = fr.expected_length(rest, len(rest))
        except mbus.FrameError as e:
            raise mbus.FrameError("%s%s" % (_without_offset(e), _which(frames, where)), pos + (e.offset or 0))
        if want == 0 or want > len(rest):
            try:
                fr.parse(bytes(rest))  # names how much is missing
            except mbus.FrameError as e:
                raise mbus.FrameError("%s%s" % (_without_offset(e), _which(frames, where)), pos + (e.offset or 0))
        frames.append(bytes(rest[:want]))
        pos += want
    if not frames:
        raise CliError("%s holds no bytes" % where, USAGE)
    return frames


def _which(frames, where):
    return " in frame %d of %s" % (len(frames) + 1, where) if frames else " in %s" % where


def _without_offset(e):
    text = str(e)
    at = text.rfind(" (at byte ")
    return text[:at] if at >= 0 else text


def describe(f):
    """The JSON object of one frame: the decoded telegram for RSP_UD, the
    frame fields for E5h and the master's requests."""
    kind, c, a, ci, start, end = fr.parse(f)
    if kind in (fr.KIND_LONG, fr.KIND_CONTROL) and not c & 0x40:
        return mbus.decode(f)
    out = {"type": kind}
    if kind != fr.KIND_ACK:
        out["c"] = c
        out["a"] = a
        if ci is not None:
            out["ci"] = ci
            out["data"] = bytes(f[start:end]).hex().upper()
    return {"frame": out}


def render(frames, args, merge=False, timestamp=None):
    """Print frames in args.format; merge: as one telegram (one meter's
    consecutive frames), libmbus's multi-telegram XML."""
    if args.format == "xml":
        from mbus.cli.libmbus_xml import frames_xml

        groups = [frames] if merge else [[f] for f in frames]
        output.emit_text("".join(frames_xml(g, timestamp) for g in groups))
        return
    items = [describe(f) for f in frames]
    if merge:
        items = [mbus.merge(items)] if len(items) > 1 else items
    if args.format == "json":
        output.emit_json(items[0] if len(items) == 1 else items, args)
        return
    blocks = [output.telegram_table(t) if "header" in t else output.frame_table(t) for t in items]
    output.emit_text("\n\n".join(blocks))


def cmd_decode(args):
    if args.user_data:
        datas = [read_input(a) for a in args.input or ["-"]]
        if args.format == "xml":
            # libmbus prints whole frames: wrap the user data in an RSP_UD.
            render([fr.long_frame(fr.C_RSP_UD, 0, d[0], d[1:]) for d in datas if d], args, args.merge)
            return 0
        items = [mbus.decode_user_data(d) for d in datas]
        if args.merge and len(items) > 1:
            items = [mbus.merge(items)]
        if args.format == "json":
            output.emit_json(items[0] if len(items) == 1 else items, args)
        else:
            output.emit_text("\n\n".join(output.telegram_table(t) for t in items))
        return 0
    frames = []
    for a in args.input or ["-"]:
        frames += split_frames(read_input(a), "stdin" if a == "-" else a if os.path.isfile(a) else "the hex argument")
    render(frames, args, args.merge)
    return 0


COMMANDS = (
    ("decode", cmd_decode, "decode frames given as hex, in files or on stdin",
     "Decode M-Bus frames and print their telegrams. Each INPUT is a file (hex text as in the libmbus "
     "corpus, or raw bytes), '-' for stdin, or hex bytes; an input may hold several frames one after "
     "another. Without INPUT, stdin is read.",
     ((("input",), {"nargs": "*", "metavar": "INPUT",
                    "help": "file, '-' or hex such as '68 03 03 68 08 01 70 79 16'"}),
      (("--merge",), {"action": "store_true", "help": "the frames are one meter's multi-telegram answer: "
                      "print one telegram (libmbus's multi-frame XML with --format xml)"}),
      (("--user-data",), {"action": "store_true", "help": "each input is application-layer user data from "
                          "the CI field on, no link frame"})), False, "xml"),
)
