# Thin adapters for the hardware the application touches, chosen by the board
# file (board.json on flash, a copy of boards/<name>.json): the M-Bus
# transport, the watchdog and resets (their causes: startup.reset_cause).
# Board-specific imports (machine) happen only inside the adapters a board
# asks for, so the unix port never needs them.
import sys

RESTART_EXIT = 75  # unix port: "reboot me" to whoever started the process


def is_unix(board):
    return board["mcu"] == "unix"


def open_wdt(board, timeout_s):
    """machine.WDT where the board has one (and the config enables it), else None."""
    if not board.get("wdt") or timeout_s <= 0:
        return None
    from machine import WDT
    return WDT(timeout=timeout_s * 1000)


def reset(board):
    """Reboot: a hard reset on a board, an exit code asking for a restart on
    unix (also when the board file could not be read on the unix port)."""
    if board is not None and is_unix(board):
        sys.exit(RESTART_EXIT)
    try:
        import machine
        machine.reset()
    except (ImportError, AttributeError):
        pass
    sys.exit(RESTART_EXIT)


def unique_id():
    """The chip's unique id as hex (the ESP32's MAC), or "" where there is none."""
    try:
        from binascii import hexlify
        from machine import unique_id as uid
    except ImportError:  # the unix port's machine has no unique_id
        return ""
    return hexlify(uid()).decode()
