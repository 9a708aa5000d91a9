# What boot decides before the gateway's loop starts: the board file, the
# config (checked by config.py, then unloaded), the extensions, and whether
# to start in safe mode. app.prepare() imports this module and unloads it
# again, so none of this stays in the heap while the gateway runs.
import json

import compat
import fsutil
import log

BOARD_PATH = "board.json"
# Board file keys only the config check and the flashing tools read: not kept
# in RAM while the gateway runs (a config request loads the file again).
BOARD_CHECK_ONLY = ("description", "flash", "uarts", "gpios", "safe_uart_pins", "reserved_pins", "input_only_pins",
                    "defaults", "reset_cause")
SAFE_FLAG = "safe_mode"  # an empty file: boot once into safe mode (deploy uses it)
RESET_CAUSE_ENV = "MBUS_RESET_CAUSE"  # unix port: the reset cause, from whoever started the process
SAFE_RETRY_MAX_S = 86400


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


def reset_cause(board):
    """Why the board started: "power", "hard", "watchdog", "deepsleep",
    "soft" or None (unknown). Board file "reset_cause": "machine" asks
    machine.reset_cause() (ESP32: a panic and machine.reset() are both
    HARD_RESET, a brownout is PWRON_RESET); "env" reads MBUS_RESET_CAUSE,
    which tools/unix_board.py sets for each start of the unix port."""
    kind = board.get("reset_cause")
    if kind == "machine":
        import machine
        c = machine.reset_cause()
        for name, cause in (("PWRON_RESET", "power"), ("HARD_RESET", "hard"), ("WDT_RESET", "watchdog"),
                            ("DEEPSLEEP_RESET", "deepsleep"), ("SOFT_RESET", "soft")):
            if c == getattr(machine, name, None):
                return cause
        return None
    if kind == "env":
        import os
        return os.getenv(RESET_CAUSE_ENV) or "power"
    return None


def count_reset(boot, cause):
    """Count this boot's reset cause: "watchdog", or "hard" that the
    firmware did not ask for (on the ESP32 a panic reports HARD_RESET, like
    machine.reset()), is a crash; "power", "deepsleep", "soft" and None
    (unknown) are not."""
    boot.cause = cause
    crash = None
    if cause == "watchdog":
        crash = "watchdog reset"
    elif cause == "hard" and not boot.planned:
        crash = "hard reset the firmware did not ask for (a panic?)"
    if crash is not None:
        boot.crashes += 1
        boot.last_crash = crash
    if crash is not None or boot.planned:
        boot.planned = False
        boot.save()


def crash_safe_mode(boot, retry_s):
    """Crash safe mode begins: the next boot runs normally again; returns
    the seconds to wait before it (doubling per round; 0: never)."""
    boot.crashes = 0
    boot.safe_rounds += 1
    boot.save()
    if retry_s <= 0:
        return 0
    return min(retry_s << min(boot.safe_rounds - 1, 16), SAFE_RETRY_MAX_S)


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


def _load_extensions(names, config, tolerant):
    """The extension modules, registered with config. tolerant (crash safe
    mode): one that fails to load is logged and left out, so a broken
    extension cannot keep the board from reaching safe mode."""
    mods = []
    for name in names:
        try:
            mod = __import__(name)
            if hasattr(mod, "register"):
                mod.register(config)
        except Exception as e:
            if not tolerant:
                raise
            log.error("SAFE MODE: extension %s not loaded: %s: %s", name, type(e).__name__, e)
            continue
        mods.append(mod)
    return mods


def _forget_others(dispatch, table):
    """Drop the stored readings of meters no longer configured."""
    import os

    gone = []  # not removed while the folder is read
    try:
        for entry in os.ilistdir(dispatch.folder):
            name = entry[0][:-5]
            if entry[0].endswith(".json") and table.find(name) < 0 and name not in table.off:
                gone.append(entry[0])  # the file's own name: "heat.old.json" is no meter's path()
    except OSError:
        pass  # no folder (a full flash): nothing stored
    for file in gone:
        fsutil.remove(dispatch.folder + "/" + file)


def prepare(gateway, extension_names, boot):
    """The gateway (an instance of class gateway) as boot leaves it, or None
    when there is no usable board file (then only the REPL is left). boot
    is the health.BootState; an exception from here is a crash (app.main)."""
    try:
        board = load_board()
    except ValueError as e:
        log.error("SAFE MODE: %s; only the REPL is available", e)
        return None
    count_reset(boot, reset_cause(board))
    import config
    too_big = False  # a config too big to read or check: safe mode says so instead of a crash at every boot
    try:
        raw, errors = config.read()
    except MemoryError:
        raw, errors, too_big = None, [], True
    crash = None
    if boot.crashes >= config.crash_limit(raw):
        crash = "%d boots in a row crashed (last: %s)" % (boot.crashes, boot.last_crash)
    extensions = _load_extensions(extension_names, config, crash is not None)
    cfg = {}  # nothing valid when the file is missing or not JSON
    if raw is not None:
        try:
            cfg, errors = config.validate(raw, board)
        except MemoryError:
            too_big = True
    if too_big:
        import gc

        cfg, raw = {}, None
        gc.collect()
        errors = ["config.json does not fit the free heap to be checked (MemoryError): fewer meters or sinks"]
    reason = crash
    if reason is None and errors:
        reason = "config.json has %d problem(s)" % len(errors)
    elif reason is None and safe_mode_requested():
        reason = "requested with the %s flag file" % SAFE_FLAG
    retry_s = 0
    if reason is not None:
        cfg = _salvage(config, cfg, errors, board)
        if crash is None:
            boot.stable()  # a person takes over from here: the next restart runs normally
        else:
            retry_s = crash_safe_mode(boot, cfg["health"]["safe_retry_s"])  # it retries a normal boot itself
    log.setup(cfg["log"]["level"], cfg["log"]["lines"])
    for s in config.secrets(raw):
        log.add_secret(s)
    raw = None  # the file's text (its meters are in cfg's meter table now)
    del config
    compat.unload("config", "stored_config")  # validation tables are boot-time only; the API reloads them for PUT
    for key in BOARD_CHECK_ONLY:
        board.pop(key, None)
    gw = gateway(board, cfg, errors, boot, reason)
    gw.extensions = extensions
    gw.retry_s = retry_s
    if reason is None:
        _forget_others(gw.dispatch, cfg["meters"])
    if reason is not None:
        log.error("SAFE MODE: %s", reason)
        for err in errors:
            log.error("config.json: %s", err)
        if crash is None:
            log.error("SAFE MODE: fix config.json (REPL, mpremote or PUT /api/config), then restart")
        else:
            log.error("SAFE MODE: the last crash is boot.last_crash in /api/status; fix its cause, then restart")
        if retry_s:
            log.error("SAFE MODE: a normal boot is retried in %d s", retry_s)
    return gw
