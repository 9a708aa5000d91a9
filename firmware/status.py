# What GET /api/status (and the status page) shows: rendered from the
# counters the gateway's parts keep, the meters' entries one by one as the
# answer is written. Loaded with the API (api.py), not per request.
import gc

import compat
import fsutil
import log
from mbus.master import COUNT_NAMES


def gateway(gw, version):
    gc.collect()
    free, alloc = compat.heap()
    net = gw.net
    s = {
        "name": gw.cfg["name"], "version": version, "board": gw.board["board"],
        "uptime_s": compat.uptime_ms() // 1000,
        "time": compat.iso_utc() if compat.clock_is_set() else None,
        "time_synced": bool(net and net.time_synced),
        "safe_mode": None if gw.safe_reason is None else {"reason": gw.safe_reason, "errors": gw.config_errors,
                                                          "retry_in_s": _retry_in(gw)},
        "heap_free": free, "heap_alloc": alloc, "heap_free_low": gw.health.heap_low if gw.health else None,
        "flash_free": flash_free(), "flash_error": fsutil.last_error,
        "network": net.info() if net else {"kind": gw.cfg["network"]["kind"], "up": False},
        "bus": None, "meters": {}, "readings": gw.dispatch.count,
        "task_restarts": gw.restarts,
        "log": {"warnings": log.counts[2], "errors": log.counts[3]},
        "boot": {"reset_cause": gw.boot.cause, "crashes": gw.boot.crashes, "last_crash": gw.boot.last_crash},
    }
    sch = gw.scheduler
    if sch is not None and gw.bus is not None:
        s["bus"] = bus(gw.bus)
        polls = errors = 0
        for i in range(sch.meters.n):
            r = sch.row(i)
            polls += r[1]
            errors += r[3]
        s["bus"].update({"polls": polls, "errors": errors, "busy": sch.busy,
                         "worst_lateness_ms": sch.lateness_ms})
        # one meter at a time, while the answer is written: the counters of
        # up to 250 meters never sit in the heap together
        t = sch.meters
        s["meters"] = ((t.name(i), meter(t, sch, i)) for i in range(t.n))
    for name, fn in gw.status_parts.items():
        s[name] = fn()  # parts carry no secrets (the log masks them too)
    return s


def _retry_in(gw):
    """Seconds until crash safe mode tries a normal boot again, or None."""
    if not gw.retry_s:
        return None
    return max(0, gw.retry_s - compat.uptime_ms() // 1000)


def bus(b):
    """The bus.Bus's line and connection, and what its exchanges met."""
    c = b.cfg
    s = {"kind": c["kind"], "where": b.where(), "baudrate": c["baudrate"], "open": b.master is not None,
         "opens": b.opens, "last_error": b.last_error}
    p = b.master.core if b.master is not None else b.core  # mbus.master.Protocol: counted since boot
    s["frames_sent"] = p.sent if p else 0
    s["exchanges_failed"] = p.failed if p else 0
    for i, name in enumerate(COUNT_NAMES):
        s[name] = p.counts[i] if p else 0
    return s


def flash_free():
    """Free bytes on the filesystem holding the current directory, or None."""
    import os
    if not hasattr(os, "statvfs"):
        return None
    st = os.statvfs(".")
    # LittleFS may count a full filesystem's blocks past its size (the
    # estimate counts shared blocks twice): the free count then wraps around
    return st[0] * st[3] if st[3] <= st[2] else 0


def meter(t, sch, i):
    """Meter i's counters and times: of scheduler.Table t and scheduler.Scheduler sch."""
    due, polls, ok, errors, failing, last_ms, ok_up, err_up, faults = sch.row(i)
    last_error = None
    if errors:
        last_error = _stamp(sch.times[2 * i + 1], err_up)
        last_error["error"] = sch.err_text[i]
    return {"address": t.address(i), "interval_s": t.interval_ms[i] // 1000, "polls": polls,
            "ok": ok, "errors": errors, "faults": faults, "consecutive_errors": failing,
            "state": "ok" if ok and not failing else ("failing" if failing else "waiting"),
            "last_ok": _stamp(sch.times[2 * i], ok_up) if ok else None, "last_error": last_error,
            "last_read_ms": last_ms if ok or errors else None,
            "next_in_s": max(0, compat.ticks_diff(due, compat.ticks_ms())) // 1000}


def _stamp(epoch, uptime):
    """{"time", "uptime_s"} of epoch s (0: the clock was not set) and uptime s."""
    return {"time": compat.iso_utc(epoch) if epoch else None, "uptime_s": uptime}
