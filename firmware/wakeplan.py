# Battery mode's decisions, free of I/O: which meters are due, whether this
# wake forwards and syncs the clock, and how long to sleep. Times are epoch
# milliseconds of the board's clock (on an ESP32 the RTC, which keeps
# running through deep sleep); the state is a small JSON-ready dict kept
# across deep sleep (RTC memory or a flash file, see deepsleep.py):
#   wakes     wakes since the cold boot (0: the cold boot itself)
#   due       {meter: when it is next read}
#   fails     {meter: reads failed in a row}
#   fwd_wake, fwd_ms, fwd_fail   last forwarding: wake, time, failures in a row
#   ntp_wake, synced             last clock sync (wake), clock set by NTP
#   busy      a wake began and did not reach its sleep; aborted: how many in a
#             row; paused: the last wake only paused (see begin())
EARLY_MAX_MS = 60000  # a meter due within a tenth of its interval (at most this) is read now
MIN_SLEEP_MS = 1000
IDLE_SLEEP_MS = 3600000  # nothing to read: wake hourly all the same
RETRY_MS = 60000  # first retry of a failed read; doubles, never past the interval
DAY_MS = 86400000
PAUSE_MS = 60000  # first pause after wakes that never reached their sleep; doubles


def fresh():
    return {"v": 1, "wakes": 0, "due": {}, "fails": {}, "fwd_wake": 0, "fwd_ms": None, "fwd_fail": 0,
            "ntp_wake": 0, "synced": False, "busy": False, "aborted": 0, "paused": False}


def usable(state):
    """state if it is one this code wrote, else None (a cold start)."""
    if not isinstance(state, dict) or state.get("v") != 1:
        return None
    for key in fresh():
        if key not in state:
            return None
    return state


def begin(state):
    """A wake starts (saved before anything else happens): ms to pause
    without reading when the last wakes ended before their sleep (a hang the
    watchdog cut), every other wake, longer each time; else None."""
    if state["busy"]:
        state["aborted"] += 1
    state["busy"] = True
    if state["aborted"] >= 2 and not state["paused"]:
        state["paused"] = True
        return min(PAUSE_MS << min(state["aborted"] - 2, 10), DAY_MS)
    state["paused"] = False
    return None


def parse_at(text):
    """Milliseconds into the day of "HH:MM" or "HH:MM:SS"; ValueError says why not."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or any(len(p) != 2 or not p.isdigit() for p in parts):
        raise ValueError("must be HH:MM or HH:MM:SS, got %r" % text)
    h, m, s = int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) == 3 else 0
    if h > 23 or m > 59 or s > 59:
        raise ValueError("no such time of day: %r" % text)
    return ((h * 60 + m) * 60 + s) * 1000


def last_slot(now, at_ms, tz_min):
    """The latest time at or before now when the local clock read at_ms into the day."""
    local = now + tz_min * 60000
    slot = local - local % DAY_MS + at_ms
    if slot > local:
        slot -= DAY_MS
    return slot - tz_min * 60000


def _early(interval):
    """How much sooner than due a meter may be read: a wake saved (the RTC
    timer of a sleeping ESP32 drifts a few percent anyway)."""
    return min(interval // 10, EARLY_MAX_MS)


def due_meters(state, meters, now):
    """The names (in config order) of meters (name, interval_ms) to read
    now, one at a time (hundreds of names never sit in the heap together);
    unknown ones (cold boot, newly configured) are due at once."""
    due = state["due"]
    for name, interval in meters:
        t = due.get(name)
        if t is not None and t - now > interval:  # the clock went back: keep the interval, not the gap
            due[name] = t = now + interval
        if t is None or t - now <= _early(interval):
            yield name


def read_done(state, name, interval, now, ok):
    """Record a read: the next one on the meter's grid (a missed beat is not
    made up), or a retry with a doubling delay after a failure."""
    fails = state["fails"]
    if ok:
        fails.pop(name, None)
        t = state["due"].get(name)
        t = now + interval if t is None or t + interval <= now + _early(interval) else t + interval
    else:
        n = fails.get(name, 0) + 1
        fails[name] = n
        t = now + min(interval, RETRY_MS << min(n - 1, 6))
    state["due"][name] = t


def _retry_due(state):
    """After failed forwardings: 1, 2, 4 ... (at most 64) wakes apart."""
    n = state["fwd_fail"]
    return not n or state["wakes"] - state["fwd_wake"] >= 1 << min(n - 1, 6)


def forward_reason(state, power, now, tz_min, pending, capacity):
    """Why this wake forwards (a short text), or None to save the energy.
    The schedule (every n-th wake, or the daily slot) holds whatever
    happened; a forwarding that failed is tried again on later wakes, 1, 2,
    4 ... wakes apart, while readings wait (not only at the next slot)."""
    if state["wakes"] == 0:
        return "first boot"
    if pending and pending * 4 >= capacity * 3 and _retry_due(state):
        return "outbox 3/4 full"
    at = power["forward_at"]
    if at:
        if state["fwd_ms"] is None or state["fwd_ms"] < last_slot(now, parse_at(at), tz_min):
            return "daily at %s" % at
    else:
        n = power["forward_every"]
        if state["wakes"] - state["fwd_wake"] >= n:
            return "every wake" if n == 1 else "every %d wakes" % n
    if pending and state["fwd_fail"] and _retry_due(state):
        return "retry after %d failed" % state["fwd_fail"]
    return None


def forward_done(state, now, ok):
    state["fwd_wake"] = state["wakes"]
    state["fwd_ms"] = now
    state["fwd_fail"] = 0 if ok else state["fwd_fail"] + 1


def ntp_due(state, every):
    return not state["synced"] or state["wakes"] - state["ntp_wake"] >= every


def synced(state):
    state["synced"] = True
    state["ntp_wake"] = state["wakes"]


def shift(state, delta):
    """The clock was set (NTP) and moved by delta ms: move every time with it."""
    for name in state["due"]:
        state["due"][name] += delta
    if state["fwd_ms"] is not None:
        state["fwd_ms"] += delta


def next_wake(state, meters, power, now, tz_min):
    """(ms to sleep, what for): the next due meter or daily forwarding."""
    best, why = None, "nothing due"
    for name, _interval in meters:
        t = state["due"].get(name)
        if t is not None and (best is None or t < best):
            best, why = t, name
    at = power["forward_at"]
    if at:
        slot = last_slot(now, parse_at(at), tz_min) + DAY_MS
        if state["fwd_ms"] is not None and state["fwd_ms"] >= slot - DAY_MS and (best is None or slot < best):
            best, why = slot, "daily forwarding"
    if best is None:
        return IDLE_SLEEP_MS, why
    return max(MIN_SLEEP_MS, best - now), why
