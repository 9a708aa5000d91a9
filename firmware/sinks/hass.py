# Home Assistant MQTT discovery for meter readings: which records become
# entities ("fields"), in which unit, and the discovery config payloads.
#
# A field is a current record (storage 0) with a numeric value and a known
# quantity/unit; its key is the quantity plus suffixes for tariff, subunit
# and maximum/minimum (energy, energy_tariff1, power_max, volume_subunit1).
# The MQTT state payload carries them as {"fields": {key: value}} so each
# entity's value_template is just value_json.fields.<key>.

# quantity -> (device class, state class, entity category, ((unit, HA unit, divisor), ...))
# Units are the decoder's base units; device classes, state classes and units
# are the ones Home Assistant documents for sensors. Meter counters that never
# reset are "total" (HA's advice for lifetime totals); the volume's device
# class follows the meter's medium (see volume_class).
_T = (("°C", "°C", 1), ("°F", "°F", 1))
QUANTITIES = {
    "energy": ("energy", "total", None, (("Wh", "kWh", 1000), ("J", "GJ", 1000000000))),
    "volume": ("volume", "total", None, (("m^3", "m³", 1), ("ft^3", "ft³", 1), ("US_gal", "gal", 1))),
    "mass": ("weight", "total", None, (("kg", "kg", 1),)),
    "power": ("power", "measurement", None, (("W", "W", 1), ("J/h", "W", 3600))),
    "volume_flow": ("volume_flow_rate", "measurement", None,
                    (("m^3/h", "m³/h", 1), ("m^3/min", "m³/min", 1), ("m^3/s", "m³/s", 1),
                     ("US_gal/min", "gal/min", 1), ("US_gal/h", "gal/h", 1))),
    "mass_flow": (None, "measurement", None, (("kg/h", "kg/h", 1),)),
    "flow_temperature": ("temperature", "measurement", None, _T),
    "return_temperature": ("temperature", "measurement", None, _T),
    "external_temperature": ("temperature", "measurement", None, _T),
    "temperature": ("temperature", "measurement", None, _T),  # fixed data structure
    # no device class: "temperature" would convert a difference as a temperature
    "temperature_difference": (None, "measurement", None, (("K", "K", 1),)),
    "hca_units": (None, "total_increasing", None, (("", None, 1),)),  # heat cost allocator
    "pressure": ("pressure", "measurement", None, (("bar", "bar", 1),)),
    "voltage": ("voltage", "measurement", None, (("V", "V", 1),)),
    "current": ("current", "measurement", None, (("A", "A", 1),)),
    "on_time": ("duration", "total_increasing", "diagnostic", (("s", "h", 3600),)),
    "operating_time": ("duration", "total_increasing", "diagnostic", (("s", "h", 3600),)),
}
_SUFFIX = {"maximum": "_max", "minimum": "_min"}


def volume_class(medium, unit):
    m = str(medium)
    if "water" in m:
        return "water"
    return "gas" if "gas" in m and unit != "gal" else "volume"  # HA measures gas in L, m³, ft³


_POWERS = {1: 0, 1000: 3, 1000000000: 9}  # divisors applied as a decimal shift


def _shift(text, k):
    """Decimal text divided by 10**k, exactly: no float on the way."""
    neg = text[0] == "-"
    whole, _, frac = text.lstrip("-").partition(".")
    digits = whole + frac
    point = len(whole) - k
    if point <= 0:
        digits = "0" * (1 - point) + digits
        point = 1
    s = ((digits[:point].lstrip("0") or "0") + "." + digits[point:]).rstrip("0").rstrip(".")
    return "-" + s if neg and s != "0" else s


def _number(r, div):
    """JSON number text of a record's value / div. Exact for integers and
    for values the decoder gives as decimal text (a float on the ESP32 holds
    only about 7 digits of a meter's total)."""
    v = r.get("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    text = r.get("decimal")
    if text is None and isinstance(v, int):
        text = str(v)
    if text is not None and div in _POWERS:
        return _shift(text, _POWERS[div])
    v = v / div
    if v != v or v in (float("inf"), float("-inf")):
        return None
    return repr(v)


def _key(r):
    key = r["quantity"] + _SUFFIX.get(r["function"], "")
    if r.get("tariff"):
        key += "_tariff%d" % r["tariff"]
    if r.get("subunit"):
        key += "_subunit%d" % r["subunit"]
    return key


def fields(records):
    """[(key, quantity, HA unit, number text)] of the records that make
    entities: current values (storage 0), first of each key; a quantity a
    meter reports only as stored values (some gas meters) comes from its
    lowest storage number, keyed <key>_storage<n>."""
    out = []
    seen = {}
    current = {}  # quantities with a current value
    stored = {}  # key -> (storage, record) for quantities without a current value
    for r in records:
        spec = QUANTITIES.get(r.get("quantity"))
        if spec is None or r.get("function") not in ("instantaneous", "maximum", "minimum"):
            continue
        for unit, ha_unit, div in spec[3]:
            if unit == r.get("unit"):
                break
        else:
            continue
        num = _number(r, div)
        if num is None:
            continue
        key = _key(r)
        st = r.get("storage") or 0
        if st:
            if key not in stored or st < stored[key][0]:
                stored[key] = (st, r["quantity"], ha_unit, num)
        elif key not in seen:
            current[r["quantity"]] = True
            seen[key] = True
            out.append((key, r["quantity"], ha_unit, num))
    for key, (st, quantity, ha_unit, num) in stored.items():
        if quantity not in current:
            out.append(("%s_storage%d" % (key, st), quantity, ha_unit, num))
    return out


def fields_json(found):
    """The {"key":number,...} text of fields() output."""
    return "{" + ",".join('"%s":%s' % (f[0], f[3]) for f in found) + "}"


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
    dc, sc, cat, _units = QUANTITIES[quantity]
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
