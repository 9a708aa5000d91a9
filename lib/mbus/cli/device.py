# Opening the M-Bus master for a command: device, line settings, timeouts,
# and the meter addresses given on the command line.
import os

from mbus.cli.errors import USAGE, CliError, port_error

PARITIES = {"E": "E", "N": "N", "O": "O", "even": "E", "none": "N", "odd": "O"}
DEFAULT_DEVICE = os.environ.get("MBUS_DEVICE")


def add_options(parser):
    """The options every bus command takes."""
    g = parser.add_argument_group("device and line")
    g.add_argument("-d", "--device", default=DEFAULT_DEVICE, required=DEFAULT_DEVICE is None,
                   help="serial port (/dev/ttyUSB0, COM3), rfc2217://host:port, socket://host:port or "
                   "tcp://host:port (default: $MBUS_DEVICE)")
    g.add_argument("-b", "--baudrate", type=int, default=2400, metavar="BAUD",
                   help="line rate (default 2400; meters also use 300, 9600 ...)")
    g.add_argument("--parity", choices=sorted(PARITIES), default="E",
                   help="parity of the 8-bit characters (default E: even, as EN 13757-2 wants)")
    g.add_argument("--timeout", type=int, metavar="MS",
                   help="reply window after a request (default 330 bit times + 50 ms: 188 ms at 2400 baud)")
    g.add_argument("--char-timeout", type=int, metavar="MS",
                   help="silence that ends a reply (default 5 characters + 20 ms)")
    g.add_argument("--retries", type=int, metavar="N",
                   help="extra attempts after a failed exchange (default 2; 0 for scans)")


def open_transport(device, baudrate, parity="E"):
    """A blocking transport, or CliError naming why the port cannot be used."""
    from mbus.transport import open_url

    try:
        if device.startswith("tcp://"):
            return open_url(device, baudrate)
        from mbus.serialport import SerialTransport

        # exclusive: a second program on the same port is refused at once
        # (flock), rather than both reading half of every reply.
        transport = SerialTransport(device, baudrate, parity=PARITIES[parity], exclusive=True)
    except Exception as e:  # whatever pyserial raises, named by port_error
        raise port_error(e, device)
    return transport


def retries(args, scan=False):
    """--retries, defaulting to 2 for commands and 0 for scans (a silent
    address is the rule there, and each retry costs a whole reply window)."""
    n = args.retries
    if n is None:
        return 0 if scan else 2
    if n < 0:
        raise CliError("--retries must be 0 or more", USAGE)
    return n


def open_master(args):
    """Master on the device named by args (see add_options)."""
    from mbus.master import Master

    if args.baudrate <= 0:
        raise CliError("--baudrate must be a positive number", USAGE)
    options = {"baudrate": args.baudrate, "retries": retries(args)}
    if args.timeout is not None:
        options["reply_timeout_ms"] = args.timeout
    if args.char_timeout is not None:
        options["char_timeout_ms"] = args.char_timeout
    return Master(open_transport(args.device, args.baudrate, args.parity), **options)


def address(text, allow_network=False):
    """A primary address (0..250, also 253..255 where allow_network) or a
    16-digit secondary address, possibly with F wildcards."""
    from mbus import requests as rq

    t = text.strip()
    if t.isdigit():
        a = int(t)
        if 0 <= a <= rq.MAX_PRIMARY or (allow_network and 253 <= a <= 255):
            return a
        raise CliError("primary address must be 0..250%s, got %s"
                       % (" or 253..255" if allow_network else "", t), USAGE)
    try:
        return rq.normalize_secondary(t)
    except ValueError:
        raise CliError("%r is neither a primary address (0..250) nor a secondary address "
                       "(16 hex digits such as 14839120FFFFFFFF)" % text, USAGE)


def secondary(text):
    """A secondary address or mask (16 hex digits, F = any)."""
    a = address(text)
    if isinstance(a, int):
        raise CliError("expected a 16-digit secondary address or mask, got %s" % text, USAGE)
    return a
