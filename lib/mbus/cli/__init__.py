"""`mbus`: the command line for USB M-Bus masters on a PC (CPython only).

    mbus decode [INPUT ...]             frames as hex, from files or stdin
    mbus request ADDRESS -d DEVICE      read a meter (primary or secondary address)
    mbus scan-primary -d DEVICE         meters by primary address
    mbus scan-secondary [MASK] -d ...   meters by secondary address (wildcard search)
    mbus select MASK -d DEVICE          select by secondary address (then: request 253)
    mbus set-address ADDRESS NEW -d ... new primary address
    mbus switch-baudrate ADDRESS RATE   make a meter talk at another rate
    mbus reset ADDRESS -d DEVICE        application reset
    mbus raw BYTES -d DEVICE            send bytes, print the reply
    mbus simulate                       simulated meters over TCP

Exit codes are in mbus.cli.errors. This package is host code: `import mbus`
never loads it, and the board build leaves lib/mbus/cli/ and
lib/mbus/__main__.py out.
"""
import argparse
import os
import sys

import mbus
from mbus.cli import errors


def build_parser():
    from mbus.cli import commands, decoding, device, output, simulate

    parser = argparse.ArgumentParser(
        prog="mbus", description="M-Bus (EN 13757-2/-3) tools for a USB M-Bus master: read, scan and "
        "configure meters, decode telegrams. Output is JSON unless --format says otherwise.",
        epilog="exit codes: 0 ok, 1 error, 2 usage, 3 no reply, 4 collision, 5 no such port, "
        "6 port busy, 7 port failed, 130 interrupted (README: Command line)")
    parser.add_argument("--version", action="version", version="mbus " + mbus.__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, run, summary, description, arguments, bus, formats in \
            decoding.COMMANDS + commands.COMMANDS + simulate.COMMANDS:
        p = sub.add_parser(name, help=summary, description=description)
        for flags, options in arguments:
            p.add_argument(*flags, **options)
        if bus:
            device.add_options(p)
        if formats:
            output.add_options(p, xml=formats == "xml")
        p.set_defaults(run=run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return errors.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, like other tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return errors.OK
    except Exception as e:
        failure = errors.from_exception(e, getattr(args, "device", None))
        sys.stderr.write("error: %s\n" % failure)
        return failure.code
