# MQTT sink: each reading goes to <base>/<meter>/state (QoS 1, so it leaves
# the outbox only after the broker's PUBACK); <base>/status says "online"
# (retained), the last will says "offline"; Home Assistant discovery
# configs are published (retained) before a meter's first state on each
# connection, again when its fields change and after Home Assistant
# announced itself; a message on <base>/<meter>/poll asks the gateway to
# read that meter now.
#
# A state is the stored reading, streamed from flash as it is: the sink reads
# only its first bytes (the meter's name). What discovery needs of a meter
# (its fields, units and header) is noted by a reading stage while the
# decoded telegram is in RAM, in a small file per meter (ha/<meter>.json),
# so that readings queued before a reboot are announced too and RAM holds
# one number per meter, however many meters there are.
import asyncio
import json

import fsutil
import hw
from compat import ticks_diff, ticks_ms, unload
from mbus import __version__
from mqtt_client import Client
from outbox import Sum, crc32
from reading_json import meter_of
from sinks import SinkError, slug

DISCOVERY_DIR = "ha"
_noted = {}  # meter -> crc of its discovery file, as the last reading left it


def default_client_id(node):
    """mbus-<gateway>-<chip id>: two gateways keeping the default name on one
    broker would otherwise take the session from each other for ever."""
    uid = hw.unique_id()
    return "mbus-%s-%s" % (node, uid) if uid else "mbus-" + node


def _tls(cfg):
    from sinks.build import tls_context  # built at boot, while sinks.build is loaded

    return tls_context(cfg.get("ca"), cfg["tls_verify"])


def _discovery_path(meter):
    return "%s/%s.json" % (DISCOVERY_DIR, meter)


def _crc(obj):
    total = Sum()
    json.dump(obj, total)
    return total.crc


def _file_crc(path, buf):
    """CRC-32 of a file's bytes, read piece by piece; None if unreadable."""
    crc = 0
    try:
        with open(path, "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    return crc
                crc = crc32(memoryview(buf)[:n], crc)
    except OSError:
        return None


_buf = bytearray(128)


def note_discovery(reading):
    """A reading stage: keep what Home Assistant's discovery needs of the
    meter in its file (rewritten only when it changed), without making its
    text in the heap."""
    found = reading.get("fields")
    if not found:
        return
    meter = reading["meter"]
    h = reading["telegram"].get("header") or {}
    desc = [reading.get("secondary_address"),
            {k: h[k] for k in ("id", "manufacturer", "medium", "version") if k in h},
            [f[:3] for f in found]]
    crc = _crc(desc)
    if _noted.get(meter) == crc:
        return
    path = _discovery_path(meter)
    if _file_crc(path, _buf) != crc:
        if not fsutil.exists(DISCOVERY_DIR):
            import os

            os.mkdir(DISCOVERY_DIR)
        fsutil.write_atomic(path, desc, json.dump)
    _noted[meter] = crc


class MQTTSink:
    kind = "mqtt"

    def __init__(self, cfg, gateway, on_poll=None, log=print):
        self.name = cfg["name"]
        self.retain = cfg["retain"]
        self.log = log
        self.on_poll = on_poll
        self.node = slug(gateway)
        self.base = cfg.get("base_topic") or "mbus/" + self.node
        self.status_topic = self.base + "/status"
        self.discovery = cfg["discovery"]
        self.prefix = cfg["discovery_prefix"]
        tls = cfg["tls"]
        self.client = Client(
            cfg["host"],
            cfg.get("port") or (8883 if tls else 1883),
            client_id=cfg.get("client_id") or default_client_id(self.node),
            user=cfg.get("user"),
            password=cfg.get("password"),
            keepalive=cfg["keepalive"],
            ssl=_tls(cfg) if tls else None,
            will=(self.status_topic, b"offline", True),
            timeout=cfg["timeout"],
            on_message=self._on_message,
        )
        self.backoff_min = cfg["backoff_min"]
        self.backoff_max = cfg["backoff_max"]
        self.last_error = None
        self.connects = 0
        self.offline_on_stop = True  # battery mode: asleep between wakes is not offline
        self._up = asyncio.Event()
        self._announced = {}  # meter -> crc of the discovery file announced on this connection
        self._head = bytearray(48)  # a stored reading's first bytes: {"meter":"<name>"
        self._slugs = {}  # topic slug -> meter name

    # -- connection -----------------------------------------------------------

    async def run(self):
        """Keep the connection up (reconnect with backoff) so that commands
        arrive even while there is nothing to send. The backoff starts over
        only after a session that lasted: a broker that drops us right after
        CONNACK (another client with our id, an ACL) is not hammered."""
        delay = self.backoff_min
        while True:
            try:
                await self._connect()
                up = ticks_ms()
                await self.client.wait_down()
                self._up.clear()
                self.last_error = self.client.error
                self.log("mqtt %s: %s" % (self.name, self.client.error))
                if ticks_diff(ticks_ms(), up) > 60000:
                    delay = self.backoff_min
            except Exception as e:
                self._up.clear()
                self.client.close()
                self.last_error = "connect to %s:%s: %s" % (self.client.host, self.client.port, e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def _connect(self):
        c = self.client
        await c.connect()
        self._announced = {}
        await c.publish(self.status_topic, b"online", retain=True, qos=1)
        await c.subscribe(self.base + "/+/poll")
        if self.discovery:
            await c.subscribe(self.prefix + "/status")
        self.connects += 1
        self._up.set()

    async def stop(self):
        """Say "offline" (unless offline_on_stop is False) and leave politely,
        so the broker does not send the last will either."""
        c = self.client
        if c.connected and self.offline_on_stop:
            try:
                await c.publish(self.status_topic, b"offline", retain=True, qos=1)
            except Exception:
                pass
        await c.disconnect()
        self._up.clear()

    def _on_message(self, topic, payload):
        if topic == self.prefix + "/status":
            if payload == b"online":  # Home Assistant (re)started: announce again with each meter's next state
                self._announced = {}
            return
        meter = topic[len(self.base) + 1 : -len("/poll")]
        if self.on_poll:
            self.on_poll(self._slugs.get(meter, meter))

    # -- delivery -------------------------------------------------------------

    async def send(self, seq, body):
        # run() reconnects with its own backoff; until then there is nothing to try
        await self._up.wait()
        head = self._head
        meter = meter_of(memoryview(head)[: body.read_into(0, head)])
        if meter is None:
            raise SinkError("reading %d does not start with its meter's name" % seq, permanent=True)
        ms = slug(meter)
        self._slugs[ms] = meter
        if self.discovery:
            await self._announce(meter, ms)
        await self.client.publish("%s/%s/state" % (self.base, ms), body, retain=self.retain, qos=1)

    async def _announce(self, meter, ms):
        """Discovery configs of meter, unless this connection has them."""
        done = self._announced.get(meter)
        if done is not None and _noted.get(meter, done) == done:
            return
        path = _discovery_path(meter)
        crc = _file_crc(path, _buf)
        if crc is None:
            return  # no reading with fields yet: nothing to announce
        if crc != done:
            with open(path) as f:
                secondary, header, found = json.load(f)
            from sinks import hass  # the config builders: loaded while announcing only

            try:
                await self._publish_configs(hass, meter, ms, header, secondary, found)
            finally:
                del hass
                unload("sinks.hass")
        self._announced[meter] = crc

    async def _publish_configs(self, hass, meter, ms, header, secondary, found):
        dev = hass.device(meter, header, secondary or ms)
        origin = {"name": "mbus-gateway", "sw_version": __version__}
        medium = header.get("medium")
        state = "%s/%s/state" % (self.base, ms)
        for key, quantity, unit in found:
            cfg = hass.sensor_config(key, quantity, unit, dev, medium, state, self.status_topic, origin)
            await self.client.publish("%s/sensor/%s/%s_%s/config" % (self.prefix, self.node, ms, key),
                                      json.dumps(cfg), retain=True, qos=1)
        if self.on_poll:
            cfg = hass.button_config(dev, "%s/%s/poll" % (self.base, ms), self.status_topic, origin)
            await self.client.publish("%s/button/%s/%s_poll/config" % (self.prefix, self.node, ms),
                                      json.dumps(cfg), retain=True, qos=1)

    def status(self):
        return {"connected": self.client.connected, "connects": self.connects,
                "broker": "%s:%s" % (self.client.host, self.client.port)}
