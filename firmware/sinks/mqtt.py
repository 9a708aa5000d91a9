# MQTT sink: each reading goes to <base>/<meter>/state (QoS 1, so it leaves
# the outbox only after the broker's PUBACK); <base>/status says "online"
# (retained), the last will says "offline"; Home Assistant discovery
# configs are published (retained) before a meter's first state on each
# connection and again after Home Assistant announced itself; a message on
# <base>/<meter>/poll asks the gateway to read that meter now.
import asyncio
import json

from mbus import __version__
from mqtt_client import Client
from sinks import SinkError, slug, tls_context
from sinks import hass


class MQTTSink:
    kind = "mqtt"
    streams = False  # it parses each reading for the Home Assistant fields

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
            client_id=cfg.get("client_id") or "mbus-" + self.node,
            user=cfg.get("user"),
            password=cfg.get("password"),
            keepalive=cfg["keepalive"],
            ssl=tls_context(cfg.get("ca"), cfg["tls_verify"]) if tls else None,
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
        self._announced = {}  # meter -> field keys announced on this connection
        self._slugs = {}  # topic slug -> meter name

    # -- connection -----------------------------------------------------------

    async def run(self):
        """Keep the connection up (reconnect with backoff) so that commands
        arrive even while there is nothing to send."""
        delay = self.backoff_min
        while True:
            try:
                await self._connect()
                delay = self.backoff_min
                await self.client.wait_down()
                self._up.clear()
                self.last_error = self.client.error
                self.log("mqtt %s: %s" % (self.name, self.client.error))
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
        try:
            reading = json.loads(body)
            meter = reading["meter"]
            secondary = reading.get("secondary_address")
            tele = reading.get("telegram") or {}
            found = hass.fields(tele.get("records") or ())
            h = tele.get("header") or {}
            header = {k: h[k] for k in ("id", "manufacturer", "medium", "version") if k in h}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise SinkError("reading %d is not a reading: %r" % (seq, e), permanent=True)
        reading = tele = h = None  # the parsed reading is big: let it go before sending
        ms = slug(str(meter))
        self._slugs[ms] = meter
        if self.discovery and found:
            keys = [f[0] for f in found]
            if self._announced.get(meter) != keys:
                await self._announce(meter, ms, header, secondary or ms, found)
                self._announced[meter] = keys
        extra = b',"fields":' + hass.fields_json(found).encode() + b"}"
        # the stored JSON with the fields spliced in before its closing brace
        await self.client.publish("%s/%s/state" % (self.base, ms), [memoryview(body)[:-1], extra],
                                  retain=self.retain, qos=1)

    async def _announce(self, meter, ms, header, secondary, found):
        dev = hass.device(meter, header, secondary)
        origin = {"name": "mbus-gateway", "sw_version": __version__}
        medium = header.get("medium")
        state = "%s/%s/state" % (self.base, ms)
        for key, quantity, unit, _value in found:
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
