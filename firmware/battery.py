# Battery mode in the gateway (an app.EXTENSIONS module): "power": {"mode":
# "battery", ...} replaces the mains loops (scheduler, network, API) with one
# wake cycle (wake.py) that ends in deep sleep. Kept tiny: in mains mode only
# this module's config hooks are loaded.


def _power_fields(config):
    INT, STR = config.INT, config.STR
    return [
        ("awake_max_s", INT, 60, (10, 600)),  # hard bound from wake to sleep
        ("forward_s", INT, 30, (5, 300)),  # bound for connecting and forwarding
        ("forward_every", INT, 1, (1, 10000)),  # forward on every n-th wake ...
        ("forward_at", STR, "", (0, 8)),  # ... or once a day at this local time
        ("ntp_every", INT, 96, (1, 100000)),  # clock sync on a forwarding wake this many wakes apart
    ]


MAX_METERS = 150  # the wake state keeps each meter's due time by name (README, "Battery mode")


def _check(cfg, board, errors):
    p = cfg.get("power") or {}
    if p.get("mode") != "battery":
        return
    import deepsleep

    n = getattr(cfg.get("meters"), "n", 0)
    if n > MAX_METERS:
        errors.append("power.mode: battery mode reads at most %d meters (its wake state keeps a due time for "
                      "each by name), got %d enabled" % (MAX_METERS, n))

    if deepsleep.kind(board) is None:
        errors.append("power.mode: board %s has no deep sleep (no \"sleep\" entry in its board file)" % board.get("board"))
    if not cfg.get("sinks"):
        errors.append("power.mode: battery mode needs a sink: its readings are not kept for an API")
    at = p.get("forward_at")
    if isinstance(at, str) and at:
        import wakeplan

        try:
            wakeplan.parse_at(at)
        except ValueError as e:
            errors.append("power.forward_at: %s" % e)
    awake = p.get("awake_max_s")
    if not isinstance(awake, int):
        return
    if isinstance(p.get("forward_s"), int) and p["forward_s"] >= awake:
        errors.append("power.forward_s: must be less than power.awake_max_s (%d)" % awake)
    # a wake makes scheduler progress only per read: the health task would
    # stop feeding the watchdog in the middle of a long wake
    h = cfg.get("health") or {}
    stall = h.get("stall_s")
    if isinstance(stall, int) and isinstance(h.get("wdt_s"), int) and h["wdt_s"] > 0 and stall <= awake:
        errors.append("health.stall_s: must be more than power.awake_max_s (%d) in battery mode, or the watchdog "
                      "resets the board in the middle of a wake" % awake)


def register(config):
    if "battery" not in config.POWER_MODES:
        config.POWER_MODES.append("battery")
        config.POWER.extend(_power_fields(config))
    config.register_check(_check)


def start(gw):
    if gw.cfg["power"]["mode"] != "battery":
        return {}
    import wake

    gw.dispatch.folder = None  # no API to serve the latest readings from
    gw.dispatch.echo = False  # a long console line costs awake time on a board's UART
    for s in gw.forwarder.sinks if gw.forwarder else ():
        s.offline_on_stop = False  # asleep is not offline for Home Assistant
    cycle = wake.Wake(gw)
    # no mains loops: the wake cycle reads, forwards and sleeps; nothing
    # serves an API from a board that is asleep most of the time
    return {"scheduler": None, "network": None, "api": None, "wake": cycle.run}
