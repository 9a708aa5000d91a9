"""The three ways the firmware reaches a board carry the same modules: the
staged image (`make deploy`, demo, tests), the frozen build
(boards/manifest.py, read here as MicroPython's manifest tool reads it) and,
for the library alone, package.json."""
import os

import firmware_image
import package_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS = os.path.join(ROOT, "boards")


def _walk(base, prefix=""):
    out = set()
    for d, _dirs, files in os.walk(base):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), base)[:-3].replace(os.sep, "/")
                out.add(prefix + rel)
    return out


def frozen_modules():
    """Module paths boards/manifest.py freezes: freeze(path) takes every .py
    below path, package(name) every .py of that package (or the files given)."""
    mods = set()

    def package(name, files=None, base_path="."):
        base = os.path.normpath(os.path.join(BOARDS, base_path))
        if files:
            mods.update(name + "/" + f[:-3] for f in files)
        else:
            mods.update(_walk(os.path.join(base, name), name + "/"))

    def freeze(path, script=None, opt=None):
        mods.update(_walk(os.path.normpath(os.path.join(BOARDS, path))))

    code = open(os.path.join(BOARDS, "manifest.py")).read()
    here = os.getcwd()
    os.chdir(BOARDS)  # as the manifest tool runs it
    try:
        exec(compile(code, "manifest.py", "exec"), {"include": lambda *a, **k: None, "package": package,
                                                    "freeze": freeze, "module": None, "require": None})
    finally:
        os.chdir(here)
    return mods


def staged_modules():
    return {name.replace("lib/", "", 1) if name.startswith("lib/") else name for _src, name in firmware_image.files()}


def test_image_and_frozen_build_carry_the_same_modules():
    staged = staged_modules()
    frozen = frozen_modules()
    assert {"sinks/__init__", "sinks/mqtt", "sinks/http", "sinks/hass", "sinks/check", "forwarding", "battery",
            "wake", "wakeplan", "deepsleep", "outbox", "forwarder", "mqtt_client"} <= staged
    assert frozen == staged
    assert not [m for m in frozen if m.startswith("mbus/cli") or m in ("mbus/__main__", "mbus/serialport")]


def test_staged_image_has_the_sinks_package(tmp_path):
    out = firmware_image.stage(str(tmp_path / "img"), "unix-sim")
    assert sorted(os.listdir(os.path.join(out, "sinks"))) == ["__init__.mpy", "build.mpy", "check.mpy", "hass.mpy", "http.mpy",
                                                               "mqtt.mpy"]


def test_package_json_is_the_library_alone():
    assert {u[0][:-3] for u in package_json.expected()["urls"]} == {m for m in staged_modules()
                                                                  if m.startswith("mbus/")}
