"""firmware/ and the board-facing modules of lib/mbus type-check against the
MicroPython ESP32 stubs (tools/typecheck.py), and the check is live: wrong
machine/network calls are caught, also in lib/mbus/uart.py, the only place
that opens the bus UART."""
import os

import typecheck

UART_PY = os.path.join(typecheck.ROOT, "lib", "mbus", "uart.py")

WRONG = """
import machine, network
uart = machine.UART(2, baudrate=2400, parity="even", tx=17, rx=16)
wlan = network.WLAN(network.STA_IF)
wlan.connect(ssid="home", pw="secret")
machine.WDT(timeout=5000).kick()
"""


def test_firmware_matches_the_esp32_stubs():
    r = typecheck.check()
    assert r.returncode == 0, r.stdout + r.stderr


def test_wrong_hardware_calls_are_caught(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(WRONG)
    r = typecheck.check([str(bad)])
    assert r.returncode == 1
    out = r.stdout
    assert 'bad.py:3: error: No overload variant of "UART"' in out
    assert 'bad.py:5: error: Unexpected keyword argument "ssid" for "connect" of "WLAN"' in out
    assert 'bad.py:6: error: "WDT" has no attribute "kick"' in out


def test_the_uart_transport_is_checked():
    assert UART_PY in typecheck.default_files()


def test_a_wrong_uart_call_in_the_uart_transport_is_caught(tmp_path):
    src = open(UART_PY).read()
    # parity as pyserial spells it (MicroPython wants 0 for even), and a
    # pyserial attribute MicroPython's UART does not have
    good_init = "parity=0, stop=1"
    good_any = "if not self.uart.any() and"
    assert good_init in src and good_any in src
    bad = tmp_path / "uart.py"
    bad.write_text(src.replace(good_init, 'parity="E", stop=1').replace(good_any, "if not self.uart.in_waiting and"))
    lines = bad.read_text().splitlines()
    r = typecheck.check([str(bad)])
    assert r.returncode == 1, r.stdout + r.stderr
    init_line = 1 + next(i for i, x in enumerate(lines) if 'parity="E"' in x)
    any_line = 1 + next(i for i, x in enumerate(lines) if "in_waiting" in x)
    assert 'uart.py:%d: error: No overload variant of "init" of "UART" matches argument types' % init_line in r.stdout, \
        r.stdout
    assert 'uart.py:%d: error: "UART" has no attribute "in_waiting"' % any_line in r.stdout, r.stdout
