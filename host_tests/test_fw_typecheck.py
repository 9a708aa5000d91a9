"""firmware/ type-checks against the MicroPython ESP32 stubs (tools/typecheck.py),
and the check is live: wrong machine/network calls are caught."""
import typecheck

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
