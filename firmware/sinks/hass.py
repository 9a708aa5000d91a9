# Home Assistant MQTT discovery: the config payloads of a meter's entities.
# The entities are the reading's "fields" (firmware/fields.py), each read by
# its value_template from the state payload: value_json.fields.<key>.

# quantity -> (device class, state class, entity category). Device classes,
# state classes and units are the ones Home Assistant documents for sensors.
# A meter's consumption counters are "total_increasing", what HA's sensor
# docs give for gas, water and electricity meters: a drop is then read as a
# new meter (replacement, reset), not as negative consumption; the volume's
# device class follows the meter's medium (see
# volume_class); a temperature difference has none: "temperature" would
# convert a difference as a temperature.
CLASSES = {
    "energy": ("energy", "total_increasing", None),
    "volume": ("volume", "total_increasing", None),
    "mass": ("weight", "total_increasing", None),
    "power": ("power", "measurement", None),
    "volume_flow": ("volume_flow_rate", "measurement", None),
    "mass_flow": (None, "measurement", None),
    "flow_temperature": ("temperature", "measurement", None),
    "return_temperature": ("temperature", "measurement", None),
    "external_temperature": ("temperature", "measurement", None),
    "temperature": ("temperature", "measurement", None),
    "temperature_difference": (None, "measurement", None),
    "hca_units": (None, "total_increasing", None),
    "pressure": ("pressure", "measurement", None),
    "voltage": ("voltage", "measurement", None),
    "current": ("current", "measurement", None),
    "on_time": ("duration", "total_increasing", "diagnostic"),
    "operating_time": ("duration", "total_increasing", "diagnostic"),
}


def volume_class(medium, unit):
    m = str(medium)
    if "water" in m:
        return "water"
    return "gas" if "gas" in m and unit != "gal" else "volume"  # HA measures gas in L, m³, ft³


def entity_name(key):
    words = key.replace("_", " ")
    return words[0].upper() + words[1:]


def device(meter, header, secondary):
    d = {"identifiers": ["mbus_" + secondary], "name": meter}
    if header.get("manufacturer"):
        d["manufacturer"] = header["manufacturer"]
    medium = header.get("medium")
    if medium is not None:
        d["model"] = "%s meter" % str(medium).replace("_", " ")
        if header.get("version") is not None:
            d["model"] += " (version %s)" % header["version"]
    if header.get("id"):
        d["serial_number"] = str(header["id"])
    return d


def sensor_config(key, quantity, unit, dev, medium, state_topic, availability, origin):
    dc, sc, cat = CLASSES[quantity]
    if quantity == "volume":
        dc = volume_class(medium, unit)
    c = {
        "name": entity_name(key),
        "unique_id": "%s_%s" % (dev["identifiers"][0], key),
        "state_topic": state_topic,
        "value_template": "{{ value_json.fields.%s }}" % key,
        "state_class": sc,
        "availability_topic": availability,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": dev,
        "origin": origin,
    }
    if unit:
        c["unit_of_measurement"] = unit
    if dc:
        c["device_class"] = dc
    if cat:
        c["entity_category"] = cat
    return c


def button_config(dev, command_topic, availability, origin):
    """A "Read now" button that asks the gateway to poll the meter."""
    return {
        "name": "Read now",
        "unique_id": dev["identifiers"][0] + "_poll",
        "command_topic": command_topic,
        "payload_press": "PRESS",
        "availability_topic": availability,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": dev,
        "origin": origin,
    }
