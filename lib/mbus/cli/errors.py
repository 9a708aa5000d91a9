# Exit codes of the `mbus` command and the mapping of failures onto them.
# Scripts branch on these, so they never change meaning (README "Command line").
import errno
import socket

from mbus.errors import CollisionError, MBusError, NoReplyError, TransportError

OK = 0
ERROR = 1  # a frame or telegram that cannot be decoded, a refused or odd answer
USAGE = 2  # bad arguments (argparse's own code)
NO_REPLY = 3  # the meter stayed silent after every retry
COLLISION = 4  # several meters answered at once, or the line is garbled
NO_PORT = 5  # the serial port does not exist, nothing listens at the network address
PORT_BUSY = 6  # another program holds the serial port
PORT_FAILED = 7  # the port could not be used: permission, I/O error, connection lost
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), after printing what was found so far

MISSING = (errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH,
           errno.ETIMEDOUT)
BUSY = (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK)
DENIED = (errno.EACCES, errno.EPERM)


class CliError(Exception):
    """A failure to report on stderr with its exit code."""

    def __init__(self, message, code=ERROR):
        super().__init__(message)
        self.code = code


def _causes(exc):
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def port_error(exc, device):
    """CliError for a transport that failed to open or broke, by its cause."""
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return CliError("no such host in %s: %s" % (device, cause.strerror), NO_PORT)
        if isinstance(cause, ValueError) and not isinstance(cause, MBusError):
            return CliError("bad device %r: %s" % (device, cause), USAGE)
        code = getattr(cause, "errno", None)
        if code is None and cause.args and isinstance(cause.args[0], int):
            code = cause.args[0]  # termios.error carries (errno, text) without .errno
        if code in BUSY:
            return CliError("%s is busy: another program holds it (close it, or stop the service using it)"
                            % device, PORT_BUSY)
        if code in MISSING:
            if "://" in device:
                return CliError("nothing answers at %s (%s)" % (device, _reason(cause)), NO_PORT)
            return CliError("no serial port %s%s" % (device, _ports_hint()), NO_PORT)
        if code in DENIED:
            return CliError("permission denied on %s: join the group that owns it (often dialout) "
                            "and log in again" % device, PORT_FAILED)
    return CliError("cannot use %s: %s" % (device, _reason(exc)) if device not in str(exc) else str(exc), PORT_FAILED)


def _reason(exc):
    if getattr(exc, "strerror", None):
        return exc.strerror
    if len(exc.args) == 2 and isinstance(exc.args[1], str):
        return exc.args[1]
    return str(exc)


def _ports_hint():
    try:
        from serial.tools import list_ports

        ports = sorted(p.device for p in list_ports.comports())
    except Exception:  # listing is a courtesy; never mask the real error
        return ""
    if not ports:
        return " (no serial ports found: is the USB M-Bus master plugged in?)"
    return " (serial ports here: %s)" % ", ".join(ports)


def from_exception(exc, device=None):
    """CliError for any failure a command can meet."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, NoReplyError):
        return CliError(str(exc), NO_REPLY)
    if isinstance(exc, CollisionError):
        return CliError("%s: several meters answered at once, or the line is disturbed" % exc, COLLISION)
    if isinstance(exc, TransportError):
        return port_error(exc, device or "the port")
    if isinstance(exc, MBusError):
        return CliError(str(exc), ERROR)
    if isinstance(exc, OSError):
        return port_error(exc, device or "the port")
    raise exc
