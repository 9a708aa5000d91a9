"""The gateway on the MicroPython unix port, as the demo, the tests and the
benchmark run it: a staged image directory is the board's flash (its cwd),
sys.path is the ESP32's ('', '.frozen', 'lib'), and boot.py then main.py run
as at power-up. Exit code 75 means "reset me" (hw.reset on the unix port):
with reboot=True the board is started again, like a board after a reset.
Exit code 76 after a console line "DEEPSLEEP <ms>" is deep sleep (battery
mode, firmware/deepsleep.py): with wake=True the board is started again
after that many milliseconds, with the same flash directory.

The unix port has no reset cause of its own: each start gets one in the
environment (MBUS_RESET_CAUSE, read by firmware/hw.py as an ESP32 reads
machine.reset_cause()): "power" for start() (also after kill(), a power
cut), "hard" after exit code 75 (machine.reset() on a board), "deepsleep"
after a deep sleep, and "watchdog" for watchdog_reset(), which kills the
process as a board's watchdog would reset the chip.

rom: a ROMFS image with the code (firmware_image.stage(..., romfs=True)),
mounted at /rom with /rom and /rom/lib on sys.path before boot.py runs, as
MicroPython does on a board with a ROMFS partition. A board maps the
partition from flash; here the image has to sit in the heap, so the heap is
made larger by the image's size: the gateway sees the heap it was given.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESET_EXIT = 75
SLEEP_EXIT = 76


def micropython():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    return here if os.path.exists(here) else "micropython"


ROM_BOOT = """import vfs, sys
with open(%r, "rb") as f:
    _rom = f.read()
vfs.mount(vfs.VfsRom(_rom), "/rom")
sys.path.append("/rom")
sys.path.append("/rom/lib")
del f
"""


def heap_bytes(spec):
    """-X heapsize in bytes on this 64-bit port: "112wK" is 112 K words of
    32 bits, each doubled to the port's 64-bit word (224 KiB)."""
    m = re.match(r"^(\d+)(w?)([KM]?)$", spec)
    if not m:
        raise ValueError("heap %r: expected a number with optional w and K/M, like 112wK" % spec)
    n = int(m.group(1)) * (2 if m.group(2) else 1)
    return n * {"": 1, "K": 1024, "M": 1024 * 1024}[m.group(3)]


# of -X heapsize bytes, the share the collector gives out (the rest are its
# tables: 3 bits per 16-byte block); measured: 112wK = 229,376 -> 226,688
_POOL = 226688 / 229376


def with_rom(heap, rom_bytes):
    """The heapsize whose pool holds a ROM image of rom_bytes beside the pool
    of heap: the gateway is given the same heap as without the image."""
    return str(int((heap_bytes(heap) * _POOL + (rom_bytes + 15) // 16 * 16) / _POOL) + 16)


class UnixBoard:
    def __init__(self, flash, heap="112wK", echo=None, reboot=False, wake=False, argv=None, rom=None):
        self.flash = flash
        self.rom = rom
        self.heap = with_rom(heap, os.path.getsize(rom)) if rom else heap
        self.echo = echo  # a callable getting every console line, or None
        self.reboot = reboot
        self.wake = wake
        self.argv = argv or ["-c", (ROM_BOOT % os.path.abspath(rom) if rom else "") + "import boot, main"]
        self.lines = []
        self.boots = 0
        self.boot_lines = []  # index into lines where each boot's output starts
        self.boot_times = []  # time.monotonic() of each boot
        self.runs = []  # per finished run: {"rc", "wall_ms", "sleep_ms" (deep sleep asked for, or None)}
        self.proc = None
        self.stopping = False
        self.asleep = threading.Event()  # set while the board deep-sleeps
        self._stop = threading.Event()
        self.cond = threading.Condition()
        self.thread = None

    def _spawn(self, cause):
        env = dict(os.environ, MICROPYPATH=":.frozen:lib", MBUS_RESET_CAUSE=cause)
        self.boots += 1
        self.boot_lines.append(len(self.lines))
        self._t0 = time.monotonic()
        self.boot_times.append(self._t0)
        # own session: a terminal's Ctrl-C reaches the runner, which stops the board cleanly
        return subprocess.Popen([micropython(), "-X", "heapsize=" + self.heap] + self.argv,
                                cwd=self.flash, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def _pump(self):
        while True:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()
                if self.echo:
                    self.echo(line)
            rc = self.proc.wait()
            run = {"rc": rc, "wall_ms": round((time.monotonic() - self._t0) * 1000), "sleep_ms": None}
            with self.cond:
                if rc == SLEEP_EXIT:
                    asked = [x for x in self.lines[self.boot_lines[-1]:] if x.startswith("DEEPSLEEP ")]
                    run["sleep_ms"] = int(asked[-1].split()[1]) if asked else None
                self.runs.append(run)
                self.cond.notify_all()
            if self.reboot and rc == RESET_EXIT and not self.stopping:
                time.sleep(0.2)
                self.proc = self._spawn("hard")
                continue
            if self.wake and rc == SLEEP_EXIT and run["sleep_ms"] is not None and not self.stopping:
                self.asleep.set()
                self._stop.wait(run["sleep_ms"] / 1000)  # the RTC timer; stop() cuts it short
                self.asleep.clear()
                if not self.stopping:
                    self.proc = self._spawn("deepsleep")
                    continue
            with self.cond:
                self.cond.notify_all()
            return

    def start(self, cause="power"):
        self._stop.clear()
        self.stopping = False
        self.proc = self._spawn(cause)
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_for(self, pattern, timeout=30, start=0):
        """The first console line (from index start) matching the regex; raises on timeout."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    if rx.search(self.lines[i]):
                        return self.lines[i]
                    i += 1
                left = deadline - time.time()
                if left <= 0 or (not self.running() and not self.thread.is_alive()):
                    raise TimeoutError("no console line matching %r within %ss; last lines:\n%s"
                                       % (pattern, timeout, "\n".join(self.lines[-20:])))
                self.cond.wait(min(left, 0.5))

    def readings(self):
        """The readings printed so far (the console's JSON lines; a line the
        firmware marked as cut, out of heap while printing it, is left out)."""
        with self.cond:
            return [json.loads(x) for x in self.lines if x.startswith("{") and not x.endswith("[cut: out of memory]")]

    def kill(self):
        """SIGKILL: a power cut for the unix port (no restart follows)."""
        self.stopping = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.thread:
            self.thread.join(5)
        self.stopping = False

    def watchdog_reset(self):
        """The watchdog fires: the process ends at once and the board starts
        again with the reset cause "watchdog"."""
        self.kill()
        return self.start("watchdog")

    def stop(self, timeout=10):
        """Ctrl-C (KeyboardInterrupt) first, then SIGKILL; returns the exit code."""
        self.stopping = True
        self._stop.set()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.thread:
            self.thread.join(5)
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Simulator:
    """tools/simulator.py on a free port (the busmaster's virtual M-Bus segment)."""

    def __init__(self, config_path, extra=()):
        self.config_path = config_path
        self.extra = list(extra)
        self.proc = None
        self.host = self.port = None

    def start(self, timeout=20):
        cmd = [sys.executable, os.path.join(ROOT, "tools", "simulator.py"), "--config", self.config_path,
               "--port", "0", "--quiet"] + self.extra
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        first = self.proc.stdout.readline().decode()
        m = re.match(r"listening on (\S+):(\d+)", first)
        if not m or time.time() > deadline:
            rest = self.proc.stdout.read().decode() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError("simulator did not start: %r %s" % (first, rest))
        self.host, self.port = m.group(1), int(m.group(2))
        # keep draining its output so it never blocks on a full pipe
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
