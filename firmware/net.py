# Network link and wall clock behind one small interface, chosen by
# network.kind: "wifi" and "ethernet" on a board (netlink.py, imported only
# there), "host" on the unix port (the network is simply up and the host
# keeps the clock).
#   up() -> bool     info() -> dict for /api/status     time_synced: bool
#   async run()      keeps the link up (reconnect with backoff) and NTP in sync
import asyncio


class HostNet:
    kind = "host"
    time_synced = True

    def __init__(self, cfg, board):
        pass

    def up(self):
        return True

    def info(self):
        return {"kind": self.kind, "up": True, "time_synced": True}

    async def run(self):
        while True:
            await asyncio.sleep(3600)


def open_net(cfg, time_cfg, board):
    kind = cfg["kind"]
    if kind == "host":
        return HostNet(cfg, board)
    import netlink
    return (netlink.WifiNet if kind == "wifi" else netlink.EthNet)(cfg, time_cfg, board)
