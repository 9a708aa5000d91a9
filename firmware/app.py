# Wiring: board + config -> network, bus master, scheduler, readings
# dispatch, local API, health. A broken config or a run of crashed boots
# starts safe mode instead: network and read-only-or-token API from what is
# still valid, no bus, no watchdog, the REPL free, and the reason in the log
# and in /api/status.
import asyncio
import gc

import compat
import health
import hw
import log
import readings

VERSION = "0.1.0"

# Modules that plug into the gateway (the forwarding modules). Each may define
#   register(config)   before the config is validated: sink types, power modes
#                      (called again whenever the config module is reloaded)
#   start(gw)          when the gateway runs: may add reading stages with
#                      gw.dispatch.add_stage(fn) and status parts with
#                      gw.status_parts[name] = fn; returns {task name: coroutine
#                      factory} for long-running tasks (supervised, restarted);
#                      a factory under the name of a mains task ("network",
#                      "scheduler", "api") replaces it, None drops it.
EXTENSIONS = ["forwarding", "battery"]


class Gateway:
    def __init__(self, board, cfg, errors, boot, safe_reason=None):
        self.board = board
        self.cfg = cfg
        self.config_errors = errors
        self.boot = boot
        self.safe_reason = safe_reason
        self.retry_s = 0  # crash safe mode: seconds until a normal boot is tried again (0: never)
        self.extensions = []
        self.dispatch = readings.Dispatch()
        self.scheduler = None
        self.bus = None
        self.net = None
        self.health = None
        self.server = None
        self.restarts = {}
        self.status_parts = {}
        self.stopping = asyncio.Event()

    def api_token(self):
        return self.cfg["api"]["token"]

    def status(self):
        """The /api/status dict (rendered by status.py, loaded with the API);
        its "meters" entry is a generator of (name, counters) pairs,
        rendered as the answer is written (api.json_response)."""
        import status
        return status.gateway(self, VERSION)

    def _spawn(self, name, factory):
        asyncio.create_task(health.supervise(name, factory, self.restarts))

    async def _serve_api(self):
        import api
        a = self.cfg["api"]
        app = self.server = api.create(self)
        serving = asyncio.create_task(app.start_server(host=a["host"], port=a["port"]))
        while getattr(app, "server", None) is None and not serving.done():
            await asyncio.sleep_ms(20)  # microdot sets app.server once the socket listens
        if getattr(app, "server", None) is not None:
            log.info("api: listening on http://%s:%d/", a["host"], a["port"])
        await serving

    async def run(self):
        """Run until stop() (used by tests); on a board, for ever."""
        import net
        self.net = net.open_net(self.cfg["network"], self.cfg["time"], self.board)
        # the mains loops: an extension's start() may replace one, or drop it
        # with None (battery mode runs its wake cycle instead)
        tasks = {"network": self.net.run}
        if self.cfg["api"]["enabled"]:
            tasks["api"] = self._serve_api
        if self.safe_reason is None:
            import bus
            import scheduler
            self.bus = bus.Bus(self.cfg["bus"], self.cfg["meters"].n)
            # the scheduler takes the meter table: the config keeps no meters
            self.scheduler = scheduler.Scheduler(self.bus, self.cfg.pop("meters"), self.dispatch, self.net)
            tasks["scheduler"] = self.scheduler.run
            for mod in self.extensions:
                if hasattr(mod, "start"):
                    tasks.update(mod.start(self) or {})
            wdt = hw.open_wdt(self.board, self.cfg["health"]["wdt_s"])
            self.health = health.Health(wdt, self.cfg["health"]["stall_s"], self.scheduler.progress, self.boot)
            tasks["health"] = self.health.run
            log.info("gateway %s running: %d meter(s) on %s", self.cfg["name"], self.scheduler.meters.n, self.cfg["bus"]["kind"])
        elif self.retry_s:
            tasks["retry"] = self._retry_normal_boot
        for name, factory in tasks.items():
            if factory is not None:
                self._spawn(name, factory)
        gc.collect()
        await self.stopping.wait()
        if self.server is not None:
            self.server.shutdown()

    async def _retry_normal_boot(self):
        await asyncio.sleep(self.retry_s)
        log.warning("SAFE MODE: retrying a normal boot now")
        self.boot.reset(self.board)

    def stop(self):
        self.stopping.set()


def prepare(boot=None):
    """Everything boot decides before the loop starts; returns the Gateway
    (None without a board file). The work is in startup.py, boot-time code
    that is unloaded afterwards."""
    import startup
    try:
        return startup.prepare(Gateway, EXTENSIONS, boot or health.BootState())
    finally:
        compat.unload("startup")


def main():
    log.info("mbus-gateway %s starting", VERSION)
    boot = health.BootState()
    gw = None
    try:
        gw = prepare(boot)
        if gw is None:
            return  # no board file: the REPL is all there is
        asyncio.run(gw.run())
    except KeyboardInterrupt:
        compat.unlock_heap()
        log.info("stopped from the console")  # on a board: the REPL follows
    except Exception as e:
        # at boot (a MemoryError, an extension that does not import) or
        # while running: counted, so a crash loop ends in safe mode
        log.exception("gateway crashed" if gw is not None else "boot failed", e)
        try:
            boot.crashed(e)
        except Exception as e2:  # a full or failing flash: reset all the same
            log.exception("crash not recorded", e2)
        compat.sleep_ms(1000)
        boot.reset(gw.board if gw is not None else None)  # None: prepare() did not get that far
