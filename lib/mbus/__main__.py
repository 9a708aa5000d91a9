"""Host command line: python -m mbus COMMAND ...

    python -m mbus decode FILE_OR_HEX [--user-data] [--indent N]

Runs on CPython only (argparse); `import mbus` never imports this module, so
the board never loads it. A command is a function taking the parsed
arguments and returning an exit code, registered in build_parser().
"""
import argparse
import json
import os
import sys

import mbus


def read_frame(arg):
    """Bytes of a frame given as hex on the command line or in a file.

    A file may hold hex text (the libmbus corpus format) or the raw bytes.
    """
    if not os.path.isfile(arg):
        return mbus.from_hex(arg)
    with open(arg, "rb") as f:
        data = f.read()
    try:
        text = data.decode("ascii")
    except UnicodeError:
        return data
    try:
        return mbus.from_hex(text)
    except mbus.FrameError:
        if data[:1] in (b"\x68", b"\x10", b"\xe5"):
            return data
        raise


def cmd_decode(args):
    data = read_frame(args.frame)
    telegram = mbus.decode_user_data(data) if args.user_data else mbus.decode(data)
    json.dump(telegram, sys.stdout, indent=args.indent, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m mbus", description="M-Bus (EN 13757) tools")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    p = commands.add_parser("decode", help="print the JSON of one frame",
                            description="Decode one M-Bus frame and print its JSON telegram.")
    p.add_argument("frame", metavar="FILE_OR_HEX", help="a file holding the frame (hex text or raw bytes), "
                   "or the frame as hex, e.g. '68 03 03 68 08 01 70 79 16'")
    p.add_argument("--user-data", action="store_true",
                   help="the input is application-layer user data from the CI field on, no link frame")
    p.add_argument("--indent", type=int, default=2, help="JSON indentation (default 2)")
    p.set_defaults(run=cmd_decode)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except mbus.MBusError as e:
        sys.stderr.write("error: %s\n" % e)
        return 1
    except BrokenPipeError:  # output piped into head, say
        return 0
    except OSError as e:
        sys.stderr.write("error: %s\n" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
