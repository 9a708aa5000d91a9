# What boot decides before the gateway's loop starts: the board file, the
# config (checked by config.py, then unloaded), the extensions, and whether
# to start in safe mode. app.prepare() imports this module and unloads it
# again, so none of this stays in the heap while the gateway runs.
import json

import compat
import fsutil
import health
import log

BOARD_PATH = "board.json"
# Board file keys only the config check and the flashing tools read: not kept
# in RAM while the gateway runs (a config request loads the file again).
BOARD_CHECK_ONLY = ("description", "flash", "uarts", "safe_uart_pins", "reserved_pins", "input_only_pins", "defaults")
SAFE_FLAG = "safe_mode"  # an empty file: boot once into safe mode (deploy uses it)


def load_board(path=BOARD_PATH):
    """The board description; raises ValueError naming what is wrong."""
    try:
        text = fsutil.read_text(path)
    except OSError:
        raise ValueError("%s not found: deploy with BOARD=<name> (see boards/)" % path)
    try:
        board = json.loads(text)
    except ValueError as e:
        raise ValueError("%s is not valid JSON: %s" % (path, e))
    for key in ("board", "mcu", "network", "defaults"):
        if key not in board:
            raise ValueError("%s: missing key %s" % (path, key))
    return board


def safe_mode_requested():
    """True (once) when the SAFE_FLAG file is present; the flag is consumed."""
    if fsutil.exists(SAFE_FLAG):
        fsutil.remove(SAFE_FLAG)
        return True
    return False


def _salvage(config, cfg, errors, board):
    """The sections safe mode can still use: valid ones, else the defaults."""
    fallback, _ = config.validate({}, board)
    out = {}
    for key in ("name", "network", "api", "time", "log", "health", "bus", "meters", "sinks", "power"):
        broken = any(e.startswith(key + ".") or e.startswith(key + ":") or e.startswith(key + "[") for e in errors)
        out[key] = cfg[key] if cfg and key in cfg and not broken else fallback.get(key)
    return out


def _load_extensions(names, config):
    mods = []
    for name in names:
        mod = __import__(name)
        if hasattr(mod, "register"):
            mod.register(config)
        mods.append(mod)
    return mods


def _forget_others(dispatch, names):
    """Drop the stored readings of meters no longer configured."""
    for name in list(dispatch.latest):
        if name not in names:
            fsutil.remove(dispatch.latest.pop(name))


def prepare(gateway, extension_names):
    """The gateway (an instance of class gateway) as boot leaves it."""
    boot = health.BootState()
    boot.begin()
    board = load_board()  # no board file: nothing to run, the REPL is all there is
    import config
    extensions = _load_extensions(extension_names, config)
    try:
        cfg, raw, errors = config.load(board)
    except MemoryError:  # a config too big to check: safe mode says so instead of a crash at every boot
        import gc
        cfg = raw = None
        gc.collect()
        errors = ["config.json does not fit the free heap to be checked (MemoryError): fewer meters or sinks"]
    reason = None
    if errors:
        reason = "config.json has %d problem(s)" % len(errors)
    elif safe_mode_requested():
        reason = "requested with the %s flag file" % SAFE_FLAG
    elif boot.unstable - 1 >= cfg["health"]["max_boot_crashes"]:
        reason = "%d boots in a row crashed (last: %s)" % (boot.unstable - 1, boot.last_crash)
    if reason is not None:
        cfg = _salvage(config, cfg, errors, board)
        boot.stable()  # a person takes over from here: the next restart runs normally
    log.setup(cfg["log"]["level"], cfg["log"]["lines"])
    for s in config.secrets(raw):
        log.add_secret(s)
    del config
    compat.unload("config", "stored_config")  # validation tables are boot-time only; the API reloads them for PUT
    for key in BOARD_CHECK_ONLY:
        board.pop(key, None)
    gw = gateway(board, cfg, errors, boot, reason)
    gw.extensions = extensions
    if reason is None:
        _forget_others(gw.dispatch, [m["name"] for m in cfg["meters"]])
    if reason is not None:
        log.error("SAFE MODE: %s", reason)
        for e in errors:
            log.error("config.json: %s", e)
        log.error("SAFE MODE: fix config.json (REPL, mpremote or PUT /api/config), then restart")
    return gw
