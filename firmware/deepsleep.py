# Deep sleep and the memory that survives it, chosen by the board file's
# "sleep" entry:
#   {"kind": "machine", "rtc_memory": 2048}  an ESP32: machine.deepsleep(ms);
#       the wake state lives in RTC slow memory (kept through deep sleep and
#       resets, lost at power-off: the next start is then a cold boot)
#   {"kind": "exit"}  the unix port: print "DEEPSLEEP <ms>" and exit with
#       SLEEP_EXIT; tools/unix_board.py starts the process again after that
#       time in the same flash directory, where the state is a file
# State that does not fit the RTC memory goes to the flash file too.
import json
import sys

import fsutil

SLEEP_EXIT = 76
STATE_FILE = "wake_state.json"
_IN_FILE = b"F"  # in RTC memory: "the state is in the flash file"


def kind(board):
    return (board.get("sleep") or {}).get("kind")


def _rtc_size(board):
    return (board.get("sleep") or {}).get("rtc_memory", 0)


def load(board):
    """The state saved before the last sleep (a dict), or None."""
    try:
        if _rtc_size(board):
            from machine import RTC

            raw = RTC().memory()
            if raw != _IN_FILE:
                return json.loads(raw) if raw else None
        fsutil.recover(STATE_FILE)
        with open(STATE_FILE) as f:
            return json.load(f)  # parsed as it is read: no copy of the text (hundreds of meters)
    except (OSError, ValueError):
        return None  # never saved, or damaged: a cold start


def save(board, state):
    size = _rtc_size(board)
    if size:
        from machine import RTC

        try:
            text = json.dumps(state)
        except MemoryError:  # the state of hundreds of meters: no block for its text
            text = ""
        if 0 < len(text) <= size:
            RTC().memory(text.encode())
            return
        text = ""
        RTC().memory(_IN_FILE)
    fsutil.write_atomic(STATE_FILE, state, json.dump)  # written as it is made: no copy of the text


def sleep(board, ms):
    """Deep sleep for ms; the board then starts afresh (boot.py, main.py)."""
    if kind(board) == "machine":
        import machine

        machine.deepsleep(ms)
    print("DEEPSLEEP %d" % ms)
    sys.exit(SLEEP_EXIT)
