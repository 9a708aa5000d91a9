"""The sans-IO master core, driven by a scripted line: what it writes, how
long it waits, and what it makes of every kind of reply."""
import pytest

from mbus import CollisionError, FrameError, MBusError, NoReplyError, frame
from mbus import requests as rq
from mbus.master import COUNT_NAMES, Master, Protocol

ACK = b"\xe5"


def rsp(a=1, body=None, c=0x08):
    body = body if body is not None else bytes.fromhex("78563412 2D2C 01 07 01 00 0000 0403 10270000")
    return frame.long_frame(c, a, 0x72, body)


class Line:
    """A transport whose slave answers each written frame with the next
    scripted list of chunks (one per read; then silence)."""

    baudrate = 2400

    def __init__(self, *script):
        self.script = list(script)
        self.written = []
        self.reads = []
        self.pending = []

    def write(self, data):
        self.written.append(data)
        self.pending = list(self.script.pop(0)) if self.script else []

    def read(self, ms):
        self.reads.append(ms)
        return self.pending.pop(0) if self.pending else b""

    def run(self, step):
        return Master(self).run(step)


def test_timeouts_follow_the_baud_rate():
    p = Protocol()
    assert (p.reply_ms, p.char_timeout_ms, p.settle_ms) == (138 + 50, 23 + 20, 10 + 2)
    p = Protocol(baudrate=9600, reply_timeout_ms=100, char_timeout_ms=7, settle_ms=0)
    assert (p.reply_ms, p.char_timeout_ms, p.settle_ms) == (100, 7, 0)
    p.set_baudrate(300)
    assert p.bits_ms(11) == 37


def test_ping_waits_window_plus_request_time_then_settles():
    line = Line([ACK])
    assert line.run(Protocol().ping(5)) is True
    assert line.written == [rq.snd_nke(5)]
    # discard poll, reply window (5 bytes on the line: 23 ms, + 188 ms), settle
    assert line.reads == [0, 23 + 188, 12]


def test_long_frame_byte_by_byte_is_never_cut_short():
    big = rsp(body=bytes(range(12)) + bytes(240))  # 261 bytes: 1.2 s on the wire at 2400 baud
    assert len(big) == 261
    line = Line([ACK], [big[i:i + 1] for i in range(len(big))])
    p = Protocol()
    frame_ = line.run(p.transact(rq.req_ud2(1, 1), 2, 1, 1))
    assert frame_ == big


def counted(p):
    """The master's counters by name, those still 0 left out."""
    return {k: n for k, n in zip(COUNT_NAMES, p.counts) if n}


def test_silence_costs_the_window_and_is_retried():
    line = Line()
    p = Protocol(retries=2)
    with pytest.raises(NoReplyError) as e:
        line.run(p.transact(rq.snd_nke(3), 1, 3))
    assert line.written == [rq.snd_nke(3)] * 3
    assert "no reply from primary address 3" in str(e.value) and "(3 attempts)" in str(e.value)
    assert isinstance(e.value, MBusError)
    assert counted(p) == {"no_reply": 3} and (p.sent, p.failed) == (3, 3)


def test_echo_is_stripped_and_the_window_restarts():
    req = rq.snd_nke(7)
    line = Line([req[:2], req[2:], ACK])
    p = Protocol()
    assert line.run(p.ping(7)) is True
    assert counted(p) == {"echoes": 1} and p.failed == 0
    assert line.reads[-2] == 188  # after the echo: the plain reply window


def test_a_reply_that_merely_starts_like_the_request_is_no_echo():
    # REQ_UD2 starts with 10h, as does a short frame; only a full copy is an echo.
    reply = rsp()
    line = Line([reply])
    assert line.run(Protocol().transact(rq.req_ud2(1, 1), 2, 1, 1)) == reply


@pytest.mark.parametrize("chunks, error, words", [
    ([ACK + ACK], CollisionError, "stray bytes"),
    ([b"\x00" + ACK], CollisionError, "stray bytes"),
    ([b"\xa5\x01"], CollisionError, "no valid frame"),
    ([rsp()[:20]], FrameError, "truncated: 20 of"),
    ([rsp()], FrameError, "where E5h was expected"),
])
def test_ack_exchange_failures_are_named(chunks, error, words):
    line = Line(*[chunks] * 3)
    p = Protocol()
    with pytest.raises(error) as e:
        line.run(p.transact(rq.snd_nke(1), 1, 1))
    assert words in str(e.value)
    assert len(line.written) == 3
    assert counted(p) == {"garbled" if error is CollisionError else "bad_frame": 3} and p.failed == 3


@pytest.mark.parametrize("reply, error, words", [
    (ACK, FrameError, "answered E5h where an RSP_UD"),
    (rsp(a=2), FrameError, "reply from primary address 2 where 1 was asked"),
    (rsp(c=0x53), FrameError, "RSP_UD long frame was expected"),
    (rsp() + b"\x00", CollisionError, "stray bytes"),
])
def test_rsp_ud_failures_are_named(reply, error, words):
    line = Line(*[[reply]] * 3)
    p = Protocol()
    with pytest.raises(error) as e:
        line.run(p.transact(rq.req_ud2(1, 1), 2, 1, 1))
    assert words in str(e.value)
    assert counted(p) == {"garbled" if error is CollisionError else "bad_frame": 3} and p.failed == 3


def test_noise_before_a_long_frame_is_skipped():
    reply = rsp()
    line = Line([b"\x00\x13" + reply])
    p = Protocol()
    assert line.run(p.transact(rq.req_ud2(1, 1), 2, 1, 1)) == reply
    assert counted(p) == {"noise_skipped": 1} and p.failed == 0


def test_each_failed_attempt_is_counted_by_its_kind():
    # silence, then a broken checksum, then the frame: a success after two failures
    bad = bytearray(rsp())
    bad[-2] ^= 1
    line = Line([], [bytes(bad)], [rsp()])
    p = Protocol()
    assert line.run(p.transact(rq.req_ud2(1, 1), 2, 1, 1)) == rsp()
    assert counted(p) == {"no_reply": 1, "garbled": 1} and (p.sent, p.failed) == (3, 2)


def test_secondary_reply_must_match_the_selection():
    line = Line(*[[rsp()]] * 3)
    with pytest.raises(FrameError) as e:
        line.run(Protocol().transact(rq.req_ud2(0xFD, 1), 2, "99999999FFFFFFFF", "99999999FFFFFFFF"))
    assert "12345678" in str(e.value)


def test_read_synchronises_the_link_then_toggles_fcb():
    line = Line([ACK], [rsp()], [rsp()], [rsp()])
    p = Protocol()
    r = line.run(p.read(1))
    assert r["frames"] == [rsp()] and r["complete"] is True
    assert r["telegram"]["header"]["secondary_address"] == "12345678 2D2C0107".replace(" ", "")
    line.run(p.read(1))
    line.run(p.read(1))
    assert line.written == [rq.snd_nke(1), rq.req_ud2(1, 1), rq.req_ud2(1, 0), rq.req_ud2(1, 1)]


def test_a_failed_read_resynchronises_next_time():
    line = Line([ACK], [], [], [], [ACK], [rsp()])
    p = Protocol()
    with pytest.raises(NoReplyError):
        line.run(p.read(1))
    # then one more reply window, whatever comes dropped: a late reply must
    # not pass for the next exchange's
    assert line.reads[-1] == p.reply_ms
    line.run(p.read(1))
    assert line.written[-2:] == [rq.snd_nke(1), rq.req_ud2(1, 1)]


def test_read_by_secondary_selects_resets_and_selects_again():
    sec = "123456782D2C0107"
    line = Line([ACK], [ACK], [ACK], [rsp()], [ACK], [rsp()])
    p = Protocol()
    line.run(p.read(sec))
    line.run(p.read(sec))
    assert line.written == [rq.select(sec), rq.snd_nke(0xFD), rq.select(sec), rq.req_ud2(0xFD, 1),
                            rq.select(sec), rq.req_ud2(0xFD, 0)]


def test_read_of_the_selected_slave_by_fdh_keeps_its_selection():
    # Reading 253 reads whatever slave was selected beforehand; a link reset
    # (SND_NKE) there would end that selection, and the master cannot select
    # again without knowing the address: so no sync, the FCB starts at 1.
    line = Line([rsp(a=0xFD)], [rsp(a=0xFD)])
    p = Protocol()
    line.run(p.read(0xFD))
    line.run(p.read(0xFD))
    assert line.written == [rq.req_ud2(0xFD, 1), rq.req_ud2(0xFD, 0)]


def test_link_resets_forget_the_fcb_of_every_slave_they_reach():
    sec, other = "123456782D2C0107", "87654321FFFFFFFF"
    for address, answers, left in ((255, [], {}), (254, [[ACK]], {}), (253, [[ACK]], {1: 0, 2: 1}),
                                   (1, [[ACK]], {1: 1, 2: 1, sec: 0, other: 1, 253: 0}),
                                   (2, [[]] * 3, {1: 0, sec: 0, other: 1, 253: 0})):
        p = Protocol()
        p.fcb = {1: 0, 2: 1, sec: 0, other: 1, 253: 0}
        Line(*answers).run(p.ping(address))
        assert p.fcb == left, address


def test_commands_use_and_move_the_fcb_state():
    line = Line([ACK], [ACK], [ACK])
    p = Protocol()
    line.run(p.set_primary_address(1, 9))
    assert p.fcb == {9: 0}
    line.run(p.application_reset(9))
    assert line.written == [rq.snd_nke(1), rq.set_primary_address(1, 9, 1), rq.application_reset(9, None, 0)]


def test_broadcast_without_reply_only_waits_for_the_line():
    line = Line()
    assert line.run(Protocol().ping(0xFF)) is False
    assert line.written == [rq.snd_nke(0xFF)]
    line = Line()
    line.run(Protocol().send_user_data(0xFF, b"\x01\x7a\x05"))
    assert len(line.written) == 1


def test_switch_baudrate_changes_timing_after_the_ack():
    class Switching(Line):
        rates = []

        def set_baudrate(self, rate):
            self.rates.append(rate)

    p = Protocol()
    line = Switching([ACK], [ACK])
    line.run(p.switch_baudrate(1, 9600))
    assert line.rates == [9600]  # the driver passed the BAUD request on
    assert p.baudrate == 9600 and p.reply_ms == 35 + 50


def test_async_master_serialises_concurrent_calls():
    """Two tasks sharing one AsyncMaster never interleave their exchanges."""
    import asyncio

    from mbus.master import AsyncMaster

    class AsyncLine:
        baudrate = 2400

        def __init__(self):
            self.log = []
            self.pending = []

        async def write(self, data):
            self.log.append(("w", data[2] if data[0] == 0x10 else data[5]))
            self.pending = [b"\xe5"]

        async def read(self, ms):
            await asyncio.sleep(0)
            return self.pending.pop(0) if self.pending and ms > 0 else b""

    async def main():
        line = AsyncLine()
        m = AsyncMaster(line)
        await asyncio.gather(m.set_primary_address(1, 2), m.set_primary_address(3, 4))
        return line.log

    log = asyncio.run(main())
    # each task's SND_NKE and SND_UD stay together
    assert [a for _, a in log] in ([1, 1, 3, 3], [3, 3, 1, 1])


def test_reading_the_silent_broadcast_address_is_refused():
    with pytest.raises(ValueError) as e:
        Line().run(Protocol().read(255))
    assert "broadcast address 255" in str(e.value)


def test_secondary_scan_reports_each_slave_as_it_is_found():
    # One slave: the wildcard selects it, its reply names it, and the
    # verification pass (select, deselect it, ask) meets silence.
    line = Line([ACK], [rsp()], [ACK], [ACK], [])
    seen = []
    result = line.run(Protocol().scan_secondary(found=lambda sec, primary: seen.append((sec, primary))))
    assert seen == [("123456782D2C0107", 1)]
    assert result["found"] == ["123456782D2C0107"] and result["verified"] is True
