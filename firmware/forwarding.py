# Forwarding in the gateway (an app.EXTENSIONS module): the config's "sinks"
# are checked by sinks.check (loaded only while a config is validated), the
# outbox is the first reading stage (it stores the reading and sets "seq"
# before anything else sees it), one supervised task forwards, and the
# outbox and each sink show in /api/status. Nothing of the forwarding stack
# is loaded when no sink is configured, and only the sink kinds in use.
import asyncio

import log
from compat import unload

OUTBOX_DIR = "spool"  # not "outbox": a directory on the import path shadows outbox.mpy


def _check_sink(entry, path, errors):
    from sinks import check  # boot-time code: unloaded by _done() once the config is checked

    n = len(errors)
    errors.extend(check.validate_sink(entry, path))
    return check.with_defaults(entry) if len(errors) == n else dict(entry)


def _done(cfg, board, errors):
    unload("sinks.check")


def register(config):
    for kind in ("mqtt", "http"):
        config.register_sink_type(kind, _check_sink)
    if not any(f[0] == "outbox" for f in config.TOP):
        # readings kept at most; the oldest undelivered go first (counted, logged)
        config.TOP.append(("outbox", config.OBJ, None, [("capacity", config.INT, 200, (10, 5000))]))
    config.register_check(_done)


class _Polls:
    """MQTT "read now" commands: each becomes a scheduler.poll of that
    meter (found by name in its table), at most one waiting per meter."""

    def __init__(self, gw):
        self.gw = gw
        self.waiting = []

    def __call__(self, name):
        sch = self.gw.scheduler
        i = sch.meters.find(name) if sch is not None else -1
        if i < 0:
            log.warning("poll command for %s: no such enabled meter", name)
        elif name not in self.waiting:
            self.waiting.append(name)
            asyncio.create_task(self._poll(i, name))

    async def _poll(self, i, name):
        try:
            await self.gw.scheduler.poll(i)
        except Exception:
            pass  # counted and logged by the scheduler
        finally:
            self.waiting.remove(name)


def _masked(value):
    """value with every configured secret masked (error texts may quote one)."""
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return log.mask(value) if isinstance(value, str) else value


def start(gw):
    """Outbox stage, status part and the forwarder task (mains); in battery
    mode the wake cycle drains gw.forwarder itself."""
    gw.forwarder = None
    entries = gw.cfg["sinks"]
    if not entries:
        return {}
    import forwarder

    fw = forwarder.setup(entries, OUTBOX_DIR, gw.cfg["outbox"]["capacity"], gw.cfg["name"],
                         on_poll=_Polls(gw), log=log.warning)
    gw.forwarder = fw
    append = fw.outbox.append

    def outbox(reading):
        try:
            append(reading)
        except Exception:
            reading["seq"] = None  # not stored: the number is handed out again
            raise

    gw.dispatch.add_stage(outbox)  # the first extension: before any other stage sees the reading
    if any(getattr(s, "discovery", False) for s in fw.sinks):
        from sinks.mqtt import note_discovery

        gw.dispatch.add_stage(note_discovery)
    gw.status_parts["forwarding"] = lambda: _masked(fw.status())
    log.info("forwarding to %s; %d reading(s) queued", ", ".join(s.kind + " " + s.name for s in fw.sinks),
             fw.outbox.status()["queued"])
    return {} if gw.cfg["power"]["mode"] == "battery" else {"forwarder": fw.run}
