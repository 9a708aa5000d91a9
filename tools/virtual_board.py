"""A virtual MicroPython board: the unix port behind a pseudo-terminal, with
its current directory as the board's flash. mpremote drives it like a board
on a USB serial port (always with `resume`: a soft reset ends the unix port).

    python tools/virtual_board.py --flash DIR --link DEV [--console FILE] [--heap 112wK]

DEV becomes a pty link (socat). Like an ESP32, the board runs boot.py and
main.py from its flash at power-up and then offers the REPL; machine.reset()
(mpremote's `reset`) powers it up again. Ctrl-C or SIGTERM powers it off.
Like a UART, the console drops output while nobody reads the port; --console
keeps a copy of everything the board printed.
"""
import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROM = os.path.join(ROOT, "tools", "vboard_rom")
RESET_EXIT = 75

# What the ESP32 does at power-up before its REPL: boot.py, then main.py.
BOOT = """
import os, sys
for _f in ("boot.py", "main.py"):
    try:
        os.stat(_f)
    except OSError:
        continue
    try:
        exec(open(_f).read(), {"__name__": "__main__"})
    except KeyboardInterrupt:
        break
    except Exception as _e:
        sys.print_exception(_e)
"""


def micropython():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    return here if os.path.exists(here) else "micropython"


def _console(proc, console):
    """Copy the board's output to the port (dropped when nobody reads) and the log."""
    port = os.open(os.ttyname(0), os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    log = open(console, "ab") if console else None
    while True:
        data = os.read(proc.stdout.fileno(), 4096)
        if not data:
            break
        try:
            os.write(port, data)
        except BlockingIOError:
            pass  # nobody listening: a UART's bytes are gone too
        if log:
            log.write(data)
            log.flush()
    os.close(port)
    if log:
        log.close()


def _run(cmd, flash, env, console):
    proc = subprocess.Popen(cmd, cwd=flash, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t = threading.Thread(target=_console, args=(proc, console), daemon=True)
    t.start()
    rc = proc.wait()
    t.join(2)
    return rc


def power(flash, heap, console):
    """Run inside the pty: boot, then the REPL; again after every machine.reset().

    The pty is the session's terminal and not raw: like a board's UART
    driver, its Ctrl-C interrupts a running program (SIGINT), and the unix
    port's REPL switches the terminal to raw mode itself. Ctrl-C is for the
    board, not for this supervisor.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import termios
    import tty
    tty.setraw(0)
    attrs = termios.tcgetattr(0)
    attrs[3] |= termios.ISIG  # lflag: Ctrl-C -> SIGINT, all else raw
    termios.tcsetattr(0, termios.TCSANOW, attrs)
    env = dict(os.environ, MICROPYPATH=":.frozen:lib:" + ROM)
    mp = [micropython(), "-X", "heapsize=" + heap]
    while True:
        # two processes: a SystemExit (reset) in -c code would not end "-i -c"
        if _run(mp + ["-c", BOOT], flash, env, console) != RESET_EXIT:
            rc = _run(mp, flash, env, console)  # the REPL
            if rc != RESET_EXIT:
                return rc
        time.sleep(0.2)


def start(flash, link, heap="112wK", console=None):
    """Start socat serving the board on the pty link; return the Popen (own session)."""
    args = [sys.executable, os.path.abspath(__file__), "--power", "--flash", os.path.abspath(flash), "--heap", heap]
    if console:
        args += ["--console", os.path.abspath(console)]
    inner = " ".join(shlex.quote(x) for x in args)
    cmd = ["socat", "PTY,link=%s,raw,echo=0" % link, "EXEC:%s,pty,setsid,ctty,stderr" % shlex.quote(inner).replace(",", "\\,")]
    proc = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL)
    t0 = time.time()
    while not os.path.exists(link):
        if proc.poll() is not None or time.time() - t0 > 10:
            raise RuntimeError("socat did not create %s" % link)
        time.sleep(0.05)
    return proc


def stop(proc):
    """Power off: end socat and the unix port under it (one process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flash", required=True, help="directory that is the board's flash")
    ap.add_argument("--link", help="pty link to create (e.g. /tmp/vboard)")
    ap.add_argument("--heap", default="112wK")
    ap.add_argument("--console", default=None, help="append everything the board prints to this file")
    ap.add_argument("--power", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.makedirs(a.flash, exist_ok=True)
    if a.power:
        sys.exit(power(a.flash, a.heap, a.console))
    if not a.link:
        ap.error("--link is required")
    proc = start(a.flash, a.link, a.heap, a.console)
    print("virtual board on %s (flash: %s); Ctrl-C powers it off" % (a.link, a.flash), flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
