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
        s["bus"].update({"polls": sch.polls, "errors": sch.errors, "busy": sch.busy, "worst_lateness_ms": sch.lateness_ms})
        # one meter at a time, while the answer is written: the counters of
        # up to 64 meters never sit in the heap together
        s["meters"] = ((m.name, meter(m, sch.busy == m.name)) for m in sch.meters)
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


def meter(m, busy=False):
    """A scheduler.Meter's counters and times (busy: it is being read now)."""
    last_error = None
    if m.failed is not None:
        last_error = _stamp(m.failed)
        last_error["error"] = m.failed[2]
    return {"address": m.address, "interval_s": m.interval_ms // 1000, "polls": m.ok + m.errors + busy,
            "ok": m.ok, "errors": m.errors, "faults": m.faults, "consecutive_errors": m.failing,
            "state": "ok" if m.ok and not m.failing else ("failing" if m.failing else "waiting"),
            "last_ok": None if m.ok_at is None else _stamp(m.ok_at), "last_error": last_error,
            "last_read_ms": m.last_ms, "next_in_s": max(0, compat.ticks_diff(m.due, compat.ticks_ms())) // 1000}


def _stamp(at):
    """{"time", "uptime_s"} of (epoch s or None, uptime s, ...)."""
    return {"time": None if at[0] is None else compat.iso_utc(at[0]), "uptime_s": at[1]}
