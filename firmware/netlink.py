# Wi-Fi and Ethernet links on a board: connect with a timeout, reconnect
# with backoff, keep the clock set by NTP (see net.py for the interface).
import asyncio

import log
from compat import ticks_add, ticks_diff, ticks_ms

BACKOFF_FIRST_S = 5
BACKOFF_MAX_S = 300
NTP_RETRY_S = 60


class _Link:
    """What Wi-Fi and Ethernet share: the reconnect loop and NTP."""
    kind = ""

    def __init__(self, cfg, time_cfg, nic):
        self.cfg = cfg
        self.nic = nic
        self.ntp_server = time_cfg["ntp_server"]
        self.resync_ms = time_cfg["resync_h"] * 3600000
        self.time_synced = False
        self.connects = 0
        self.last_error = None

    def _ip(self):
        return self.nic.ifconfig()[0]

    def up(self):
        return self.nic.isconnected() and self._ip() != "0.0.0.0"

    def info(self):
        up = self.up()
        return {"kind": self.kind, "up": up, "ip": self._ip() if up else None, "connects": self.connects,
                "last_error": self.last_error, "time_synced": self.time_synced}

    def _begin(self):
        pass

    async def _connect(self):
        self._begin()
        t0 = ticks_ms()
        while ticks_diff(ticks_ms(), t0) < self.cfg["timeout_s"] * 1000:
            if self.up():
                return True
            await asyncio.sleep_ms(250)
        return False

    def _sync_clock(self):
        import ntptime
        ntptime.host = self.ntp_server
        try:
            ntptime.settime()  # blocks for at most ntptime.timeout (1 s)
        except (OSError, OverflowError) as e:
            log.warning("ntp: no time from %s: %s", self.ntp_server, e)
            return False
        self.time_synced = True
        log.info("ntp: clock set from %s", self.ntp_server)
        return True

    async def run(self):
        backoff = BACKOFF_FIRST_S
        next_ntp = ticks_ms()
        while True:
            if not self.up():
                log.info("%s: connecting", self.kind)
                if await self._connect():
                    self.connects += 1
                    self.last_error = None
                    backoff = BACKOFF_FIRST_S
                    log.info("%s: up, address %s", self.kind, self._ip())
                    next_ntp = ticks_ms()
                else:
                    self.last_error = "no connection after %d s" % self.cfg["timeout_s"]
                    log.warning("%s: %s, next try in %d s", self.kind, self.last_error, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            if self.ntp_server and ticks_diff(ticks_ms(), next_ntp) >= 0:
                ok = self._sync_clock()
                next_ntp = ticks_add(ticks_ms(), self.resync_ms if ok else NTP_RETRY_S * 1000)
            await asyncio.sleep(2)


class WifiNet(_Link):
    kind = "wifi"

    def __init__(self, cfg, time_cfg, board):
        import network
        network.hostname(cfg["hostname"])
        super().__init__(cfg, time_cfg, network.WLAN(network.STA_IF))
        self.nic.active(True)

    def _begin(self):
        self.nic.connect(self.cfg["ssid"], self.cfg["password"])

    def info(self):
        d = super().info()
        d["ssid"] = self.cfg["ssid"]
        if d["up"]:
            d["rssi"] = self.nic.status("rssi")
        return d


class EthNet(_Link):
    kind = "ethernet"

    def __init__(self, cfg, time_cfg, board):
        import network
        from machine import Pin
        eth = board["ethernet"]
        network.hostname(cfg["hostname"])
        # the PHY wiring comes from the board file
        super().__init__(cfg, time_cfg, network.LAN(0, **{
            "mdc": Pin(eth["mdc"]), "mdio": Pin(eth["mdio"]),
            "power": Pin(eth["power"]) if eth.get("power") is not None else None,
            "phy_type": getattr(network, "PHY_" + eth["phy_type"]), "phy_addr": eth["phy_addr"],
            "ref_clk": Pin(eth["ref_clk"]), "ref_clk_mode": Pin.OUT if eth["ref_clk_mode"] == "out" else Pin.IN,
        }))
        self.nic.active(True)
