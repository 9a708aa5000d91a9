# `mbus simulate`: the virtual M-Bus segment of tools/sim served over TCP, so
# the other commands can be tried without meters: mbus request -d socket://HOST:PORT 1
import os
import signal
import sys

import mbus
from mbus.cli.errors import USAGE, CliError

# Three meters from the libmbus corpus, inline so the default bus needs no corpus.
DEMO_BUS = {"baudrate": 2400, "slaves": [
    {"name": "electricity", "primary": 1, "telegrams": [{"hex":
        "68 46 46 68 08 78 72 20 91 83 14 2D 2C 01 02 04 00 00 00 04 06 00 00 00 00 04 22 09 00 00 00 04 2B "
        "00 00 00 00 14 2B 00 00 00 00 84 50 06 00 00 00 00 84 60 06 00 00 00 00 0F 00 00 00 00 00 00 00 00 "
        "00 00 00 00 00 00 00 10 24 16"}]},
    {"name": "heat", "primary": 2, "telegrams": [{"hex":
        "68 F7 F7 68 08 11 72 17 58 85 06 2D 2C 08 04 04 00 00 00 0C 78 17 58 85 06 04 06 E7 91 00 00 04 14 "
        "2C DB 00 00 04 22 D9 03 00 00 04 59 B9 27 00 00 04 5D 08 12 00 00 04 61 B1 15 00 00 04 2D 5B 01 00 "
        "00 14 2D C0 01 00 00 04 3B 1F 02 00 00 14 3B 74 02 00 00 84 10 06 00 00 00 00 84 20 06 00 00 00 00 "
        "84 40 14 00 00 00 00 84 80 40 14 00 00 00 00 84 C0 40 06 00 00 00 00 04 6D 1A 2F 65 11 44 06 51 82 "
        "00 00 44 14 B2 C3 00 00 54 2D 26 02 00 00 54 3B 03 04 00 00 C4 10 06 00 00 00 00 C4 20 06 00 00 00 "
        "00 C4 40 14 00 00 00 00 C4 80 40 14 00 00 00 00 C4 C0 40 06 00 00 00 00 42 6C 5F 1C 0F 00 00 00 00 "
        "E7 E4 00 00 63 66 00 00 00 00 00 00 00 00 00 00 00 00 00 00 5B C9 A5 02 34 53 00 00 E0 B2 03 00 89 "
        "9C 68 00 00 00 00 00 01 00 01 07 07 09 01 03 00 00 00 00 00 98 16"}]},
    {"name": "water", "primary": 3, "telegrams": [{"hex":
        "68 51 51 68 08 0B 72 54 02 99 04 C5 14 00 06 0C 27 00 00 04 78 2E 25 4C 00 04 6D 0A 0C CD 13 04 13 "
        "4C 01 00 00 44 13 4B 01 00 00 84 01 13 4C 01 00 00 42 6C BF 1C 02 6C DF 1C 04 3B 00 00 00 00 14 3B "
        "16 08 00 00 02 23 A7 04 01 FD 17 00 04 90 28 08 00 00 00 3F 16"}]},
]}


def _simulator():
    """The simulator's modules: tools/sim of a source tree, or the copy
    `pip install .` puts beside mbus as mbus_sim (its modules import each
    other as `sim`)."""
    if "sim" not in sys.modules:
        tools = os.path.join(os.path.dirname(os.path.abspath(mbus.__file__)), os.pardir, os.pardir, "tools")
        if os.path.isfile(os.path.join(tools, "sim", "server.py")):
            sys.path.insert(0, os.path.abspath(tools))
        else:
            try:
                import mbus_sim
            except ImportError:
                raise CliError("the simulator is not installed: run from a source tree or `pip install .` it")
            sys.modules["sim"] = mbus_sim
    from sim import config, server

    return config, server


def _load(config, name, seed=None):
    """The bus: DEMO_BUS, a config file, or one bundled with the simulator by
    name (ten, corpus ...). seed (None: the config's) draws the response
    delays the config leaves open and the faults."""
    if name is None:
        return config.build(DEMO_BUS, seed=seed)
    path = name
    if not os.path.isfile(path):
        bundled = os.path.join(os.path.dirname(os.path.abspath(config.__file__)), name)
        path = bundled if os.path.isfile(bundled) else bundled + ".json"
        if not os.path.isfile(path):
            raise CliError("no simulator config %s (neither a file nor one of the bundled configs)" % name, USAGE)
    return config.load(path, seed)


def cmd_simulate(args):
    config, server = _simulator()
    if args.corpus:
        os.environ["MBUS_CORPUS"] = os.path.abspath(args.corpus)
    try:
        bus = _load(config, args.config, args.seed)
    except config.ConfigError as e:
        raise CliError("simulator: %s" % e, USAGE)
    sys.stdout.reconfigure(line_buffering=True)  # "listening on" must reach a pipe at once

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # both end the server cleanly (stats written)
    import asyncio

    try:
        asyncio.run(server.serve(bus, args.host, args.port, args.realtime, args.quiet, args.stats))
    except KeyboardInterrupt:
        pass
    except OSError as e:
        raise CliError("simulator: cannot listen on %s:%d: %s" % (args.host, args.port, e.strerror or e))
    return 0


COMMANDS = (
    ("simulate", cmd_simulate, "serve a simulated M-Bus segment over TCP",
     "Serve a virtual M-Bus segment (raw bytes over TCP, like ser2net) with simulated meters, for trying the "
     "other commands: they reach it as -d socket://HOST:PORT. The first line printed is 'listening on "
     "HOST:PORT'. Without --config: three meters at primary addresses 1-3.",
     ((("--config",), {"metavar": "FILE", "help": "bus description (JSON, see README 'Simulator'), or a "
                       "bundled one: one, ten, multi, fifty, corpus (these need the libmbus corpus: --corpus)"}),
      (("--host",), {"default": "127.0.0.1"}),
      (("--port",), {"type": int, "default": 0, "help": "TCP port; 0 picks a free one (default)"}),
      (("--realtime",), {"action": "store_true", "help": "pace bytes at the line rate like a real bus"}),
      (("--seed",), {"type": int, "help": "seed for fault injection and response delays"}),
      (("--corpus",), {"metavar": "DIR", "help": "the libmbus corpus the bundled configs read telegrams from"}),
      (("--stats",), {"metavar": "FILE", "help": "write counters (frames, bytes, faults) as JSON on exit"}),
      (("--quiet",), {"action": "store_true", "help": "print only the listening line and the bus summary"})),
     False, None),
)
