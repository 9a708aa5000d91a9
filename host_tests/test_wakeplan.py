"""Battery mode's decisions (firmware/wakeplan.py, free of I/O): due meters,
read grid and retries, forwarding on the n-th wake or daily, clock syncs,
clock jumps and sleep lengths. The wake cycle itself runs on the unix port
in test_fw_battery.py."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

import wakeplan  # noqa: E402

DAY = 86400000
T0 = 20000 * DAY + 10 * 3600000  # 10:00:00 UTC on some day
METERS = [("heat", 60000), ("water", 900000)]


def power(**kw):
    p = {"mode": "battery", "awake_max_s": 60, "forward_s": 30, "forward_every": 1, "forward_at": "", "ntp_every": 96}
    p.update(kw)
    return p


def test_cold_boot_reads_everything_and_forwards():
    st = wakeplan.fresh()
    assert list(wakeplan.due_meters(st, METERS, T0)) == ["heat", "water"]
    assert wakeplan.forward_reason(st, power(forward_every=10), T0, 0, 2, 200) == "first boot"
    assert wakeplan.ntp_due(st, 96)
    assert wakeplan.usable(st) is st and wakeplan.usable({"v": 1}) is None and wakeplan.usable(None) is None


def test_reads_keep_their_grid_and_a_missed_beat_is_not_made_up():
    st = wakeplan.fresh()
    wakeplan.read_done(st, "heat", 60000, T0 + 300, True)
    assert st["due"]["heat"] == T0 + 300 + 60000
    wakeplan.read_done(st, "heat", 60000, T0 + 60900, True)  # woke 600 ms late: the grid holds
    assert st["due"]["heat"] == T0 + 120300
    wakeplan.read_done(st, "heat", 60000, T0 + 400000, True)  # slept through beats
    assert st["due"]["heat"] == T0 + 460000
    # due within a tenth of the interval counts as due now: one wake reads both
    assert list(wakeplan.due_meters(st, METERS[:1], T0 + 454000)) == ["heat"]
    assert list(wakeplan.due_meters(st, METERS[:1], T0 + 453900)) == []
    st["due"]["water"] = T0 + 454000 + 60000
    assert list(wakeplan.due_meters(st, METERS, T0 + 454000)) == ["heat", "water"]  # 15 min: up to a minute early


def test_failed_reads_retry_sooner_doubling_but_never_past_the_interval():
    st = wakeplan.fresh()
    delays = []
    for _ in range(5):
        wakeplan.read_done(st, "water", 900000, T0, False)
        delays.append(st["due"]["water"] - T0)
    assert delays == [60000, 120000, 240000, 480000, 900000] and st["fails"]["water"] == 5
    wakeplan.read_done(st, "water", 900000, T0, True)
    assert "water" not in st["fails"]


def test_forward_every_nth_wake():
    st = wakeplan.fresh()
    wakeplan.forward_done(st, T0, True)
    got = []
    for wake in range(1, 8):
        st["wakes"] = wake
        r = wakeplan.forward_reason(st, power(forward_every=3), T0, 0, 5, 200)
        got.append(r)
        if r:
            wakeplan.forward_done(st, T0, True)
    assert got == [None, None, "every 3 wakes", None, None, "every 3 wakes", None]


def test_a_nearly_full_outbox_forwards_early_with_backoff_while_it_fails():
    st = wakeplan.fresh()
    wakeplan.forward_done(st, T0, True)
    st["wakes"] = 1
    assert wakeplan.forward_reason(st, power(forward_every=100), T0, 0, 149, 200) is None
    assert wakeplan.forward_reason(st, power(forward_every=100), T0, 0, 150, 200) == "outbox 3/4 full"
    forwarded = []
    for wake in range(1, 12):
        st["wakes"] = wake
        if wakeplan.forward_reason(st, power(forward_every=100), T0, 0, 180, 200):
            forwarded.append(wake)
            wakeplan.forward_done(st, T0, False)  # the network is down
    assert forwarded == [1, 2, 4, 8]  # 1, 2, 4 wakes apart


def test_a_failed_nth_wake_forwarding_is_retried_on_later_wakes_with_backoff():
    st = wakeplan.fresh()
    wakeplan.forward_done(st, T0, True)
    p = power(forward_every=10)
    got = {}
    network_up_at = 19
    for wake in range(1, 36):
        st["wakes"] = wake
        r = wakeplan.forward_reason(st, p, T0, 0, 5, 200)
        if r:
            got[wake] = r
            wakeplan.forward_done(st, T0, False)  # counted as tried first, as wake.py does
            if wake >= network_up_at:
                wakeplan.forward_done(st, T0, True)
    # wake 10 fails; retries 1, 2, 4, 8 wakes apart (never more than the schedule's
    # 10); the first after the network is back succeeds and the schedule goes on
    assert got == {10: "every 10 wakes", 11: "retry after 1 failed", 13: "retry after 2 failed",
                   17: "retry after 3 failed", 25: "retry after 4 failed", 35: "every 10 wakes"}, got
    # nothing waiting: nothing to retry
    st = wakeplan.fresh()
    st["wakes"] = 5
    wakeplan.forward_done(st, T0, False)
    st["wakes"] = 6
    assert wakeplan.forward_reason(st, p, T0, 0, 0, 200) is None
    assert wakeplan.forward_reason(st, p, T0, 0, 1, 200) == "retry after 1 failed"


def test_a_failed_daily_forwarding_is_retried_the_same_day():
    st = wakeplan.fresh()
    p = power(forward_at="12:00")
    wakeplan.forward_done(st, T0, True)  # 10:00 UTC, the first boot
    noon = T0 + 2 * 3600000
    st["wakes"] = 8
    assert wakeplan.forward_reason(st, p, noon, 0, 4, 200) == "daily at 12:00"
    wakeplan.forward_done(st, noon, False)  # the network is down at noon
    got = []
    for wake in range(9, 16):  # a wake every 15 minutes
        st["wakes"] = wake
        now = noon + (wake - 8) * 900000
        r = wakeplan.forward_reason(st, p, now, 0, 4 + wake, 200)
        got.append(r)
        if r:
            wakeplan.forward_done(st, now, wake >= 14)  # the network is back from wake 14 on
    assert got == ["retry after 1 failed", None, "retry after 2 failed", None, None, None, "retry after 3 failed"]
    assert st["fwd_fail"] == 0
    # done for today once it went through; tomorrow's slot as usual
    st["wakes"] = 20
    assert wakeplan.forward_reason(st, p, noon + 8 * 3600000, 0, 3, 200) is None
    assert wakeplan.forward_reason(st, p, noon + DAY, 0, 3, 200) == "daily at 12:00"


def test_daily_forwarding_at_a_local_time():
    st = wakeplan.fresh()
    p = power(forward_at="18:30")
    wakeplan.forward_done(st, T0, True)  # 10:00 UTC, the first boot
    st["wakes"] = 1
    tz = 120  # UTC+2: 18:30 local is 16:30 UTC
    assert wakeplan.forward_reason(st, p, T0 + 6 * 3600000, tz, 3, 200) is None  # 16:00 UTC
    assert wakeplan.forward_reason(st, p, T0 + 6 * 3600000 + 1800000, tz, 3, 200) == "daily at 18:30"
    wakeplan.forward_done(st, T0 + 6 * 3600000 + 1800000, True)
    assert wakeplan.forward_reason(st, p, T0 + 12 * 3600000, tz, 3, 200) is None  # 22:00 UTC, done today
    # the board wakes for the slot even when no meter is due before it
    st["due"] = {"heat": T0 + 3 * DAY}
    ms, why = wakeplan.next_wake(st, METERS[:1], p, T0 + 12 * 3600000, tz)
    assert why == "daily forwarding" and ms == (T0 + DAY + 6 * 3600000 + 1800000) - (T0 + 12 * 3600000)


@pytest.mark.parametrize("text, ms", [("00:00", 0), ("23:59", 86340000), ("07:05:09", 25509000)])
def test_parse_at(text, ms):
    assert wakeplan.parse_at(text) == ms


@pytest.mark.parametrize("text", ["7:05", "24:00", "12:60", "12:00:60", "noon", "12-00", ""])
def test_parse_at_refuses(text):
    with pytest.raises(ValueError):
        wakeplan.parse_at(text)


def test_clock_sync_every_n_wakes():
    st = wakeplan.fresh()
    wakeplan.synced(st)
    st["wakes"] = 5
    assert not wakeplan.ntp_due(st, 6)
    st["wakes"] = 6
    assert wakeplan.ntp_due(st, 6)


def test_clock_jumps():
    st = wakeplan.fresh()
    st["due"] = {"heat": T0 + 60000}
    st["fwd_ms"] = T0
    wakeplan.shift(st, 26 * 365 * DAY)  # NTP set the clock of a board that counted from 2000
    assert st["due"]["heat"] == T0 + 60000 + 26 * 365 * DAY and st["fwd_ms"] == T0 + 26 * 365 * DAY
    # a clock that went back never leaves a meter waiting longer than its interval
    st["due"] = {"heat": T0 + 10 * DAY}
    assert list(wakeplan.due_meters(st, METERS[:1], T0)) == [] and st["due"]["heat"] == T0 + 60000


def test_sleep_until_the_next_due_meter():
    st = wakeplan.fresh()
    st["due"] = {"heat": T0 + 42000, "water": T0 + 900000}
    assert wakeplan.next_wake(st, METERS, power(), T0, 0) == (42000, "heat")
    assert wakeplan.next_wake(st, METERS, power(), T0 + 41900, 0) == (wakeplan.MIN_SLEEP_MS, "heat")
    assert wakeplan.next_wake(wakeplan.fresh(), [], power(), T0, 0) == (wakeplan.IDLE_SLEEP_MS, "nothing due")


def test_wakes_that_never_reach_their_sleep_lead_to_longer_and_longer_pauses():
    st = wakeplan.fresh()
    got = []
    for _ in range(8):  # every wake hangs until the watchdog resets the board, unless it only pauses
        pause = wakeplan.begin(st)
        got.append(pause)
        if pause is not None:
            st["busy"] = False  # a pause reaches its sleep
    assert got == [None, None, 60000, None, 120000, None, 240000, None]
    st["busy"] = False
    st["aborted"] = 0  # a wake completed
    assert wakeplan.begin(st) is None and st["busy"] and not st["paused"]
