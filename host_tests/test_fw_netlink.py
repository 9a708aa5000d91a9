"""firmware/netlink.py (Wi-Fi and NTP on a board) on the MicroPython unix
port, against fake `network` and `ntptime` modules put first on the path:
a connect that times out, reconnects with a doubling backoff up to its cap,
NTP at once when the link comes up, a failed sync retried, resyncs, a lost
link brought back. And the whole gateway with network.kind "wifi" on the
same fakes: /api/status shows the link and the synced clock."""
import json
import os

from conftest import LIB, ROOT, micropython_json
from fw_helpers import flash_dir, free_port, http
from unix_board import UnixBoard

FAKE_NETWORK = r'''
# A fake of MicroPython's network module for the unix port: WLAN.plan[i] is
# how many ms after the i-th connect() the link comes up (None: never).
from time import ticks_add, ticks_diff, ticks_ms

STA_IF = 0
host = None
events = []


def hostname(name=None):
    global host
    if name is not None:
        host = name
    return host


class WLAN:
    plan = [0]
    last = None

    def __init__(self, iface):
        self.on = False
        self.up_at = None
        self.connects = 0
        WLAN.last = self

    def active(self, on=None):
        if on is not None:
            self.on = on
        return self.on

    def connect(self, ssid, key):
        i = self.connects
        self.connects += 1
        events.append(("connect", ticks_ms(), ssid, key))
        delay = WLAN.plan[i] if i < len(WLAN.plan) else 0
        self.up_at = None if delay is None else ticks_add(ticks_ms(), delay)

    def isconnected(self):
        return self.on and self.up_at is not None and ticks_diff(ticks_ms(), self.up_at) >= 0

    def ifconfig(self):
        return ("10.0.0.7" if self.isconnected() else "0.0.0.0", "255.255.255.0", "10.0.0.1", "10.0.0.1")

    def status(self, what=None):
        return -61 if what == "rssi" else 1010

    def drop(self):  # for the test: the access point goes away
        events.append(("drop", ticks_ms()))
        self.up_at = None
'''

FAKE_NTPTIME = r'''
# A fake of micropython-lib's ntptime: settime() fails while fail > 0.
from time import ticks_ms

host = "pool.ntp.org"
timeout = 1
fail = 0
calls = []


def settime():
    global fail
    calls.append((host, ticks_ms()))
    if fail > 0:
        fail -= 1
        raise OSError(110)
'''

LINK = r"""
import asyncio, json, log, network, ntptime, netlink
from time import ticks_ms, ticks_diff

netlink.BACKOFF_FIRST_S = 0.2
netlink.BACKOFF_MAX_S = 0.5
netlink.NTP_RETRY_S = 1  # an int: it goes through ticks_add
network.WLAN.plan = [None, None, None, 100, 0]  # three connects time out, the 4th comes up
ntptime.fail = 1  # the first sync fails
t0 = ticks_ms()
net = netlink.WifiNet({"ssid": "home", "password": "wifi-secret", "hostname": "gw-cellar", "timeout_s": 0.3},
                      {"ntp_server": "ntp.test", "resync_h": 1, "tz_offset_min": 0}, None)
net.resync_ms = 1500
seen = {}

async def main():
    task = asyncio.create_task(net.run())
    await asyncio.sleep_ms(1900)
    seen["down"] = net.info()
    while not net.connects:
        await asyncio.sleep_ms(20)
    seen["up"] = net.info()
    await asyncio.sleep_ms(7300 - ticks_diff(ticks_ms(), t0))
    seen["synced"] = net.info()
    network.WLAN.last.drop()
    await asyncio.sleep_ms(2200)
    seen["back"] = net.info()
    task.cancel()

asyncio.run(main())
print(json.dumps({"events": [[e[0], ticks_diff(e[1], t0)] + list(e[2:]) for e in network.events],
                  "ntp": [[h, ticks_diff(t, t0)] for h, t in ntptime.calls], "hostname": network.host,
                  "seen": seen, "lines": log.lines()}))
"""


def fakes(tmp_path):
    d = tmp_path / "fakes"
    d.mkdir()
    (d / "network.py").write_text(FAKE_NETWORK)
    (d / "ntptime.py").write_text(FAKE_NTPTIME)
    return str(d)


def test_wifi_connect_timeout_backoff_reconnect_and_ntp(tmp_path):
    path = ":".join([fakes(tmp_path), ".frozen", LIB, os.path.join(ROOT, "firmware")])
    got = micropython_json(LINK, tmp_path, env={"MICROPYPATH": path})
    text = "\n".join(got["lines"])
    assert got["hostname"] == "gw-cellar"
    connects = [e[1] for e in got["events"] if e[0] == "connect"]
    assert all(e[2:] == ["home", "wifi-secret"] for e in got["events"] if e[0] == "connect")
    # each try waits timeout_s (0.3 s, looked at every 250 ms: 0.5 s), then the
    # backoff: 0.2, 0.4, then its cap 0.5 s
    gaps = [b - a for a, b in zip(connects, connects[1:])]
    assert len(connects) == 5, got["events"]
    for gap, want in zip(gaps[:3], (700, 900, 1000)):
        assert want - 50 <= gap <= want + 150, gaps
    down = got["seen"]["down"]
    assert down["up"] is False and down["ip"] is None and down["connects"] == 0
    assert down["last_error"] == "no connection after 0 s" and down["time_synced"] is False
    assert text.count("WARNING wifi: no connection after 0 s, next try in 0 s") == 3
    up = got["seen"]["up"]
    assert up == {"kind": "wifi", "up": True, "ip": "10.0.0.7", "connects": 1, "last_error": None,
                  "time_synced": False, "ssid": "home", "rssi": -61}
    assert "INFO wifi: up, address 10.0.0.7" in text
    # NTP as soon as the link is up (fails), again after NTP_RETRY_S (synced),
    # again after resync_ms, and at once after a reconnect; the loop looks every 2 s
    ntp = got["ntp"]
    assert all(h == "ntp.test" for h, _t in ntp)
    times = [t for _h, t in ntp]
    assert len(times) == 4, ntp
    assert 0 <= times[0] - connects[3] <= 600
    assert 1900 <= times[1] - times[0] <= 2300  # retry due after 1 s, seen at the next look
    assert 1900 <= times[2] - times[1] <= 2300  # resync due after 1.5 s
    assert "WARNING ntp: no time from ntp.test: [Errno 110] ETIMEDOUT" in text
    assert text.count("INFO ntp: clock set from ntp.test") == 3
    assert got["seen"]["synced"]["time_synced"] is True
    # the access point went away: noticed at the next look, reconnected, synced again
    drop = [e[1] for e in got["events"] if e[0] == "drop"][0]
    assert 0 < connects[4] - drop <= 2100 and 0 <= times[3] - connects[4] <= 100
    back = got["seen"]["back"]
    assert back["up"] is True and back["connects"] == 2 and back["last_error"] is None
    assert "wifi-secret" not in text


def test_the_gateway_on_wifi_shows_the_link_and_the_synced_clock(tmp_path):
    port = free_port()
    board = json.load(open(os.path.join(ROOT, "boards", "unix-sim.json")))
    board["network"] = ["host", "wifi"]  # the unix port with the fake network module
    cfg = {"bus": {"port": 9}, "api": {"port": port, "token": "tok-123"},
           "network": {"kind": "wifi", "ssid": "home", "password": "wifi-secret", "hostname": "gw-cellar"},
           "time": {"ntp_server": "ntp.test"}}
    flash = flash_dir(tmp_path, cfg, files={"board.json": json.dumps(board), "network.py": FAKE_NETWORK,
                                             "ntptime.py": FAKE_NTPTIME})
    b = UnixBoard(flash, heap="112wK").start()
    try:
        b.wait_for("ntp: clock set from ntp.test", 15)
        b.wait_for("api: listening", 15)
        status, s = http(port, "GET", "/api/status")
        assert s["network"] == {"kind": "wifi", "up": True, "ip": "10.0.0.7", "connects": 1, "last_error": None,
                                "time_synced": True, "ssid": "home", "rssi": -61}
        assert s["time_synced"] is True
        assert "wifi-secret" not in json.dumps(s) and "wifi-secret" not in "\n".join(b.lines)
    finally:
        b.stop()
