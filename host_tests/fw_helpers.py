"""Shared by the firmware tests: stage an image, boot it on the unix port,
talk to its API over real HTTP."""
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request

import firmware_image
from unix_board import UnixBoard

TOKEN = "test-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_staged = {}


def rom_image(flash):
    """The ROMFS image of a flash_dir(..., romfs=True): beside the flash, as
    a board keeps it in a partition of its own."""
    return flash.rstrip("/") + ".romfs"


def flash_dir(tmp_path, config=None, board="unix-sim", files=None, romfs=False):
    """A fresh board flash in tmp_path/flash: the compiled image (staged once
    per session and copied), board.json, config.json and extra files. With
    romfs the code is in a ROMFS image instead: rom_image(flash) gives it,
    for UnixBoard(flash, rom=...)."""
    key = (board, romfs)
    if key not in _staged:
        _staged[key] = firmware_image.stage(str(tmp_path.parent / ("image-%s%s" % (board, "-rom" if romfs else ""))),
                                            board, romfs=romfs)
    flash = str(tmp_path / "flash")
    shutil.copytree(_staged[key], flash)
    if romfs:
        shutil.copyfile(firmware_image.romfs_path(_staged[key]), rom_image(flash))
    if config is not None:
        with open(os.path.join(flash, "config.json"), "w") as f:
            f.write(config if isinstance(config, str) else json.dumps(config))
    for name, text in (files or {}).items():
        with open(os.path.join(flash, name), "w") as f:
            f.write(text)
    return flash


def replace_module(flash, name, source):
    """Put source in place of the staged module name (e.g. an extension that
    crashes, for a test): name.py on the board's flash, its .mpy removed."""
    mpy = os.path.join(flash, name + ".mpy")
    if os.path.exists(mpy):
        os.remove(mpy)
    with open(os.path.join(flash, name + ".py"), "w") as f:
        f.write(source)


def boot(flash, heap="112wK"):
    return UnixBoard(flash, heap=heap).start()


def http(port, method, path, body=None, token=None, raw=None, timeout=10):
    """(status, parsed JSON or text) of a real HTTP request to the board."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def until(pred, timeout=20, what="condition"):
    """pred()'s first true value within timeout seconds (polled every 0.1 s)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def report_campaign(r):
    """A fault campaign's result r: written to $FAULT_REPORT (make fuzz
    keeps it), its figures printed, and no problem found."""
    report = os.environ.get("FAULT_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump(r, f, indent=1)
    print(json.dumps({k: v for k, v in r.items() if k != "problems"}))
    assert r["problems"] == [], "\n".join(r["problems"])
