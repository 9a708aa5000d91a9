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
include("$(PORT_DIR)/boards/manifest.py")

package("mbus", base_path="../lib")
freeze("../firmware")
package("microdot", files=("__init__.py", "microdot.py"), base_path="../build/frozen")
