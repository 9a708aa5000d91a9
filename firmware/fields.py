# A reading's "fields": the current numeric values of a meter, flat and in
# the units people read off a meter (kWh, m³, °C, W ...), made once while the
# decoded telegram is in RAM. Home Assistant's entities read them
# (value_json.fields.<key>), so a sink never parses a stored reading.
#
# A field is a current record (storage 0) with a numeric value and a known
# quantity/unit; its key is the quantity plus suffixes for tariff, subunit
# and maximum/minimum (energy, energy_tariff1, power_max, volume_subunit1).
# Values are kept as exact decimal text: a float on the ESP32 holds only
# about 7 digits of a meter's total.

# The (quantity, decoder unit) pairs that make fields, as one text searched
# for ",quantity:unit,": a quantity in another unit (a volume per pulse, say)
# is no meter total. The decoder's units are the base units of mbus.decode.
PAIRS = (",energy:Wh,energy:J,volume:m^3,volume:ft^3,volume:US_gal,mass:kg,power:W,power:J/h,"
         "volume_flow:m^3/h,volume_flow:m^3/min,volume_flow:m^3/s,volume_flow:US_gal/min,volume_flow:US_gal/h,"
         "mass_flow:kg/h,flow_temperature:°C,flow_temperature:°F,return_temperature:°C,return_temperature:°F,"
         "external_temperature:°C,external_temperature:°F,temperature:°C,temperature:°F,"
         "temperature_difference:K,hca_units:,pressure:bar,voltage:V,current:A,on_time:s,operating_time:s,")
# decoder unit -> (shown unit, divisor) where they differ; otherwise the unit
# is shown as it is, with ^3 as ³ and US_gal as gal
_CONVERT = {"Wh": ("kWh", 1000), "J": ("GJ", 1000000000), "J/h": ("W", 3600), "s": ("h", 3600)}


def shown_unit(unit):
    """(unit as shown, divisor) of a decoder unit in PAIRS."""
    c = _CONVERT.get(unit)
    if c:
        return c
    return (unit.replace("^3", "³").replace("US_gal", "gal") or None), 1


_SUFFIX = {"maximum": "_max", "minimum": "_min"}
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
    for values the decoder gives as decimal text."""
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


def extract(records):
    """[(key, quantity, unit, number text)] of the records that make
    fields: current values (storage 0), first of each key; a quantity a
    meter reports only as stored values (some gas meters) comes from its
    lowest storage number, keyed <key>_storage<n>."""
    out = []
    seen = {}
    current = {}  # quantities with a current value
    stored = {}  # key -> (storage, quantity, unit, number) for quantities without a current value
    for r in records:
        if r.get("function") not in ("instantaneous", "maximum", "minimum"):
            continue
        q, unit = r.get("quantity"), r.get("unit")
        if ",%s:%s," % (q, unit) not in PAIRS:
            continue
        shown, div = shown_unit(unit)
        num = _number(r, div)
        if num is None:
            continue
        key = _key(r)
        st = r.get("storage") or 0
        if st:
            if key not in stored or st < stored[key][0]:
                stored[key] = (st, r["quantity"], shown, num)
        elif key not in seen:
            current[r["quantity"]] = True
            seen[key] = True
            out.append((key, r["quantity"], shown, num))
    for key, (st, quantity, shown, num) in stored.items():
        if quantity not in current:
            out.append(("%s_storage%d" % (key, st), quantity, shown, num))
    return out
