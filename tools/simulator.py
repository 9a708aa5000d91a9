"""Virtual M-Bus segment over TCP (raw bytes, like ser2net).

    python tools/simulator.py --config tools/sim/ten.json [--host 127.0.0.1] [--port 0]
                              [--realtime] [--seed N] [--stats FILE] [--quiet]

The first line on stdout is "listening on HOST:PORT" (port 0 picks a free
port). Then it prints every master frame, what each slave makes of it and
every injected fault. The config format is in README.md, section "Simulator".
"""
import argparse
import asyncio
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))

from sim import config, server  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="JSON bus description (see README, Simulator)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    ap.add_argument("--realtime", action="store_true", help="pace bytes at the line rate, answer after turnaround")
    ap.add_argument("--seed", type=int, default=None, help="seed for fault injection and response delays")
    ap.add_argument("--stats", help="write counters (frames, bytes, faults) as JSON here on exit")
    ap.add_argument("--quiet", action="store_true", help="print only the listening line and the bus summary")
    a = ap.parse_args(argv)
    try:
        bus = config.load(a.config, a.seed)
    except config.ConfigError as e:
        print("simulator: %s" % e, file=sys.stderr)
        return 2
    sys.stdout.reconfigure(line_buffering=True)

    async def run():
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await server.serve(bus, a.host, a.port, a.realtime, a.quiet, a.stats)
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(run())
    except OSError as e:
        print("simulator: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
