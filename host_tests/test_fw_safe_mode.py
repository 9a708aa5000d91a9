"""The firmware on the unix port when something is wrong: a broken config or
a run of crashed boots gives safe mode with a clear message, and the API
keeps its rules (token for changes, no secrets, size limits, clear 4xx)."""
import json
import os

from fw_helpers import TOKEN, boot, flash_dir, free_port, http, replace_module
from unix_board import UnixBoard


def api_config(port, **extra):
    return dict({"api": {"port": port, "token": TOKEN}, "bus": {"port": 9}}, **extra)


def test_broken_config_gives_safe_mode_with_the_reasons(tmp_path):
    port = free_port()
    cfg = api_config(port, meters=[{"name": "heat", "address": 300}, {"name": "heat", "address": 1, "every": 5}])
    b = boot(flash_dir(tmp_path, cfg))
    try:
        b.wait_for("api: listening")
        text = "\n".join(b.lines)
        assert "SAFE MODE: config.json has 3 problem(s)" in text
        assert "config.json: meters[0].address: a primary address must be from 0 to 250, got 300" in text
        assert "config.json: meters[1].every: unknown key" in text
        assert 'config.json: meters[1].name: meter name "heat" is used twice' in text
        status, s = http(port, "GET", "/api/status")
        assert status == 200 and s["safe_mode"]["reason"] == "config.json has 3 problem(s)"
        assert len(s["safe_mode"]["errors"]) == 3 and s["bus"] is None
        assert http(port, "GET", "/api/readings") == (200, {})
        status, body = http(port, "POST", "/api/poll", {"meter": "heat"}, token=TOKEN)
        assert status == 503 and "safe mode" in body["error"]
        assert b.running()
    finally:
        b.stop()
        print("\n".join(b.lines))


def test_config_that_is_not_json_gives_safe_mode_read_only(tmp_path):
    port = free_port()
    # not JSON at all: nothing of it is trusted, so the API has no token: read-only
    b = boot(flash_dir(tmp_path, '{"api": {"port": %d, "token": "%s"' % (port, TOKEN),
                       files={"board.json": open(os.path.join(os.path.dirname(__file__), "..", "boards",
                                                              "unix-sim.json")).read().replace('"port": 8080', '"port": %d' % port)}))
    try:
        b.wait_for("api: listening")
        assert any("config.json: not valid JSON" in x for x in b.lines)
        status, body = http(port, "GET", "/api/config")
        assert status == 409 and body["errors"][0].startswith("not valid JSON")
        status, body = http(port, "PUT", "/api/config", {"name": "x"}, token=TOKEN)
        assert status == 403 and "set api.token" in body["error"]
    finally:
        b.stop()
        print("\n".join(b.lines))


def test_repeated_boot_crashes_give_safe_mode(tmp_path):
    # a real crash on every boot: an extension whose start() raises ends the
    # gateway (app.main records it and resets the board, exit code 75 here)
    port = free_port()
    flash = flash_dir(tmp_path, api_config(port, health={"safe_retry_s": 0}))
    replace_module(flash, "battery", "def start(gw):\n    raise OSError(5)\n")
    b = UnixBoard(flash, reboot=True).start()
    try:
        b.wait_for("SAFE MODE: 3 boots in a row crashed", timeout=60)
        b.wait_for("api: listening", start=b.boot_lines[-1])
        assert b.boots == 4 and [r["rc"] for r in b.runs] == [75, 75, 75]
        for i in range(3):
            run = b.lines[b.boot_lines[i]:b.boot_lines[i + 1]]
            assert any("gateway crashed: OSError: [Errno 5] EIO" in x for x in run), run
        assert any("SAFE MODE: 3 boots in a row crashed (last: OSError: [Errno 5] EIO)" in x for x in b.lines)
        status, s = http(port, "GET", "/api/status")
        assert s["safe_mode"]["reason"].startswith("3 boots in a row crashed") and s["bus"] is None
        assert s["safe_mode"]["retry_in_s"] is None  # safe_retry_s 0: it stays until a person restarts it
        # safe mode hands over to a person: the next restart runs normally
        state = json.load(open(os.path.join(flash, "boot_state.json")))
        assert state["crashes"] == 0 and state["safe_rounds"] == 1
    finally:
        b.stop()
        print("\n".join(b.lines))


def test_api_refuses_changes_without_the_token_and_keeps_secrets(tmp_path):
    port = free_port()
    cfg = api_config(port, meters=[{"name": "heat", "address": 300}],
                     sinks=[{"type": "mqtt", "name": "broker", "host": "10.0.0.2", "user": "gw",
                             "password": "mqtt-pass-42"}])
    flash = flash_dir(tmp_path, cfg)
    b = boot(flash)
    try:
        b.wait_for("api: listening")
        good = api_config(port, meters=[{"name": "heat", "address": 3}])
        for token in (None, "wrong-token", TOKEN + "x", TOKEN[:-1]):
            assert http(port, "PUT", "/api/config", good, token=token)[0] == 401
            assert http(port, "POST", "/api/poll", {"meter": "heat"}, token=token)[0] == 401
            assert http(port, "POST", "/api/restart", {}, token=token)[0] == 401
        assert json.load(open(os.path.join(flash, "config.json"))) == cfg  # untouched

        status, shown = http(port, "GET", "/api/config")
        assert status == 200 and shown["api"]["token"] == "***" and shown["sinks"][0]["password"] == "***"
        for path in ("/api/config", "/api/status", "/api/logs"):
            text = json.dumps(http(port, "GET", path)[1])
            assert TOKEN not in text and "mqtt-pass-42" not in text

        assert http(port, "PUT", "/api/config", raw=b'{"meters": [', token=TOKEN)[0] == 400
        assert http(port, "PUT", "/api/config", raw=b"[1, 2]", token=TOKEN)[0] == 400
        status, body = http(port, "PUT", "/api/config", raw=b" " * 9000, token=TOKEN)
        assert status == 413 and "larger than 8192" in body["error"]
        status, body = http(port, "PUT", "/api/config", dict(good, bogus=True), token=TOKEN)
        assert status == 422 and body["errors"] == ["bogus: unknown key (known: name, network, bus, meters, "
                                                    "sinks, api, power, time, log, health, outbox)"]
        status, body = http(port, "POST", "/api/poll", {"meter": "heat", "now": 1}, token=TOKEN)
        assert status == 400 and body["error"].startswith('unknown key "now"')
        assert http(port, "GET", "/api/nothing")[0] == 404

        # the GET result, edited and PUT back: valid, saved atomically, secrets kept
        shown["meters"][0]["address"] = 3
        status, body = http(port, "PUT", "/api/config", shown, token=TOKEN)
        assert (status, body) == (200, {"saved": True, "restart_required": True})
        stored = json.load(open(os.path.join(flash, "config.json")))
        assert stored["meters"][0]["address"] == 3 and stored["api"]["token"] == TOKEN
        assert stored["sinks"][0]["password"] == "mqtt-pass-42"
        assert not os.path.exists(os.path.join(flash, "config.json.new"))
        assert any("refused: missing or wrong token" in x for x in b.lines)
    finally:
        b.stop()
        print("\n".join(b.lines))


def test_restart_through_the_api_boots_the_new_config(tmp_path):
    port = free_port()
    flash = flash_dir(tmp_path, api_config(port, meters=[{"name": "heat", "address": 300}]))
    b = UnixBoard(flash, reboot=True).start()
    try:
        b.wait_for("api: listening")
        assert http(port, "PUT", "/api/config", api_config(port, log={"level": "debug"}), token=TOKEN)[0] == 200
        assert http(port, "POST", "/api/restart", {}, token=TOKEN) == (200, {"restarting": True})
        n = len(b.lines)
        b.wait_for("gateway mbus-gateway running: 0 meter", start=n)
        b.wait_for("api: listening", start=n)
        assert b.boots == 2
        status, s = http(port, "GET", "/api/status")
        assert s["safe_mode"] is None
        # a reset the firmware asked for is no crash
        assert s["boot"] == {"reset_cause": "hard", "crashes": 0, "last_crash": None}
    finally:
        b.stop()
        print("\n".join(b.lines))


def test_config_too_big_for_the_heap_gives_safe_mode_not_a_crash(tmp_path):
    # 3000 sinks (the limit is 8), 270 KB of JSON beside the meters: parsing
    # them does not fit 112wK; the gateway must come up in safe mode and
    # say why, not crash at every boot. Without a usable config the API is
    # read-only on the board's default port. (3000 meters no longer run
    # out of heap: they are checked one at a time, test_fw_meters.py.)
    port = free_port()
    sinks = [{"type": "http", "name": "sink-%04d" % i, "url": "http://10.0.0.%d:8080/readings" % (i % 250),
              "token": "t"} for i in range(3000)]
    board_json = open(os.path.join(os.path.dirname(__file__), "..", "boards", "unix-sim.json")).read()
    b = boot(flash_dir(tmp_path, api_config(port, sinks=sinks),
                       files={"board.json": board_json.replace('"port": 8080', '"port": %d' % port)}))
    try:
        b.wait_for("api: listening")
        assert any("SAFE MODE: config.json has 1 problem(s)" in x for x in b.lines)
        assert any("config.json does not fit the free heap to be checked (MemoryError)" in x for x in b.lines)
        status, s = http(port, "GET", "/api/status")
        assert status == 200 and s["safe_mode"]["errors"][0].startswith("config.json does not fit the free heap")
        assert b.running()
    finally:
        b.stop()
        print("\n".join(b.lines))
