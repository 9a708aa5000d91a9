# Freeze the gateway into a custom MicroPython image (documented in README,
# "Frozen build"; needs ESP-IDF, not run in CI). Frozen code runs from flash,
# which leaves more of the heap free than .mpy files loaded into RAM.
#
#   make freeze-prep      # in this repo: microdot sources into build/frozen
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/this/repo/boards/manifest.py
#
# Then flash the image (make flash) and upload only board.json and
# config.json (the frozen boot/main modules start the gateway).
import os  # noqa: E402  (the manifest tool runs this file with the cwd at its folder)

include("$(PORT_DIR)/boards/manifest.py")

# The board's modules of lib/mbus: the host command line (__main__.py, cli/)
# and the pyserial transport stay out, as in `make deploy` and package.json.
HOST_ONLY = ("__main__.py", "serialport.py")
package("mbus", files=[f for f in sorted(os.listdir("../lib/mbus")) if f.endswith(".py") and f not in HOST_ONLY],
        base_path="../lib")
freeze("../firmware")  # firmware/*.py and the sinks/ package below it
package("microdot", files=("__init__.py", "microdot.py"), base_path="../build/frozen")
