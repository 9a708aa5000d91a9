# One-line progress display on stderr for long work (bus scans). Drawn only
# when stderr is a terminal, so pipes and log files get the result alone.
import os
import sys
import time

BAR = 24
MIN_INTERVAL_S = 0.05


class Progress:
    def __init__(self, enabled=None, stream=None):
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.enabled = enabled
        self.shown = False
        self.last = 0.0
        self.fraction = 0.0

    def update(self, fraction, text, force=False):
        """Redraw: a bar for fraction (0..1; it never moves back) and text."""
        if not self.enabled:
            return
        self.fraction = max(self.fraction, min(1.0, fraction))
        now = time.monotonic()
        if not force and now - self.last < MIN_INTERVAL_S:
            return
        self.last = now
        filled = int(self.fraction * BAR + 0.5)
        line = "[%s%s] %3d%%  %s" % ("#" * filled, "." * (BAR - filled), int(self.fraction * 100), text)
        width = _columns() - 1
        self.stream.write("\r" + line[:width].ljust(width))
        self.stream.flush()
        self.shown = True

    def clear(self):
        if self.shown:
            self.stream.write("\r" + " " * (_columns() - 1) + "\r")
            self.stream.flush()
            self.shown = False


def _columns():
    try:
        return max(40, os.get_terminal_size(sys.stderr.fileno()).columns or 80)
    except (OSError, ValueError):
        return 80


def mask_fraction(start, mask):
    """How far a wildcard search from start has got when it probes mask: the
    probes walk the nibbles left to right, BCD digits in the identification
    number and 0-E in the rest, as mbus.scan does."""
    fraction = 0.0
    span = 1.0
    for i in range(16):
        if start[i] != "F" or mask[i] == "F":
            continue
        digits = "0123456789" if i < 8 else "0123456789ABCDE"
        k = digits.find(mask[i])
        if k < 0:
            break
        span /= len(digits)
        fraction += k * span
    return fraction
