"""Transports: pyserial (the host CLI's path), raw TCP, URL parsing, clear
errors, and the ESP32 UART adapter's line settings."""
import socket
import sys
import types

import pytest

from bus.harness import Simulator
from conftest import run_micropython
from mbus import TransportError
from mbus import transport
from mbus.master import Master


def test_pyserial_socket_url_reads_a_meter(tmp_path, corpus):
    sim = Simulator("one.json", tmp_path)
    try:
        t = transport.open_url("socket://%s:%d" % (sim.host, sim.port))
        assert type(t).__name__ == "SerialTransport" and t.ser.parity == "E"
        m = Master(t, reply_timeout_ms=100)
        r = m.read("148391202D2C0102")
        assert r["telegram"]["header"]["id"] == "14839120"
        m.close()
    finally:
        sim.stop()


def test_pyserial_line_options_override_8e1(tmp_path, corpus):
    # A converter that strips parity wants 8N1: the option replaces the default.
    sim = Simulator("one.json", tmp_path)
    try:
        from mbus.serialport import SerialTransport

        t = SerialTransport("socket://%s:%d" % (sim.host, sim.port), 2400, parity="N")
        assert t.ser.parity == "N" and t.ser.bytesize == 8 and t.ser.stopbits == 1
        t.close()
    finally:
        sim.stop()


def test_tcp_url_and_closed_connection(tmp_path, corpus):
    sim = Simulator("one.json", tmp_path)
    t = transport.open_url("tcp://%s:%d" % (sim.host, sim.port), baudrate=9600)
    assert type(t).__name__ == "TcpTransport" and t.baudrate == 9600
    assert t.read(0) == b""
    sim.stop()
    with pytest.raises(TransportError) as e:
        t.write(b"\x10\x40\x01\x41\x16")
        t.read(2000)
    assert "closed" in str(e.value) or "failed" in str(e.value)


def test_connect_errors_are_transport_errors():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(TransportError) as e:
        transport.TcpTransport("127.0.0.1", port)
    assert "cannot connect to 127.0.0.1:%d" % port in str(e.value)
    with pytest.raises(TransportError):
        transport.SerialTransport("/dev/does-not-exist")


@pytest.mark.parametrize("url, kw", [("tcp://nohost", {}), ("tcp://:80", {}),
                                     ("/dev/ttyUSB0", {"asynchronous": True})])
def test_bad_urls(url, kw):
    with pytest.raises(ValueError):
        transport.open_url(url, **kw)


def test_unknown_adapter_name():
    with pytest.raises(AttributeError):
        transport.NoSuchTransport


class RecordingUART:
    """Stands in for machine.UART to check the settings the adapter asks for."""

    INV_RX = 4

    def __init__(self, uart_id):
        self.id = uart_id
        self.settings = None

    def init(self, **kw):
        self.settings = kw

    def any(self):
        return 0

    def read(self):
        return None

    def write(self, data):
        return len(data)

    def deinit(self):
        pass


def test_uart_adapter_line_settings(monkeypatch):
    monkeypatch.setitem(sys.modules, "machine", types.SimpleNamespace(UART=RecordingUART))
    monkeypatch.delitem(sys.modules, "mbus.uart", raising=False)
    import select

    monkeypatch.setattr(select, "poll", lambda: types.SimpleNamespace(register=lambda *a: None,
                                                                      poll=lambda ms: []))
    t = transport.UartTransport(2, tx=17, rx=16, rxbuf=256, invert=RecordingUART.INV_RX)
    s = t.uart.settings
    assert t.uart.id == 2
    assert (s["baudrate"], s["bits"], s["parity"], s["stop"]) == (2400, 8, 0, 1)  # 8E1: parity 0 is even
    assert s["rxbuf"] >= 512 and (s["tx"], s["rx"]) == (17, 16) and s["invert"] == 4
    assert s["timeout"] == 0
    assert t.read(0) == b""
    t.set_baudrate(9600)
    assert t.uart.settings["baudrate"] == 9600 and t.uart.settings["parity"] == 0
    monkeypatch.delitem(sys.modules, "mbus.uart", raising=False)


def test_unix_port_never_loads_hardware_adapters():
    p = run_micropython(["-c", "import sys, mbus.transport, mbus.master, mbus.tcp\n"
                               "print('machine' in sys.modules, 'mbus.uart' in sys.modules)"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [b"False", b"False"]
