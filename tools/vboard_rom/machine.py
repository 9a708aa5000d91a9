# The virtual board's "hardware": the resets mpremote and the firmware call.
# tools/virtual_board.py powers the unix port up again on exit code 75.
import sys


def reset():
    sys.exit(75)


def soft_reset():
    sys.exit(75)
