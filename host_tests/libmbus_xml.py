"""Reading libmbus's XML output and comparing it with a decoded telegram.

libmbus names things in its own words; the tables here map them onto this
project's vocabulary (README "Decoder"). compare() returns a list of
differences, empty when the telegram says what libmbus says.
"""
import math
import re
import xml.etree.ElementTree as ET

FUNCTIONS = {
    "Instantaneous value": "instantaneous",
    "Maximum value": "maximum",
    "Minimum value": "minimum",
    "Value during error state": "error",
    "Actual value": "instantaneous",  # fixed data structure, status bit 6 clear
}

# libmbus quantity -> ours.
QUANTITIES = {
    "Energy": "energy", "Volume": "volume", "Mass": "mass", "Power": "power",
    "Volume flow": "volume_flow", "Mass flow": "mass_flow",
    "Flow temperature": "flow_temperature", "Return temperature": "return_temperature",
    "Temperature difference": "temperature_difference", "External temperature": "external_temperature",
    "Pressure": "pressure", "On time": "on_time", "Operating time": "operating_time",
    "Time point (date)": "date", "Time point (date & time)": "datetime", "H.C.A.": "hca_units",
    "Reserved": "reserved", "Averaging Duration": "averaging_duration",
    "Actuality Duration": "actuality_duration", "Fabrication No": "fabrication_number",
    "(Enhanced) Identification": "enhanced_identification", "Bus Address": "bus_address",
    "Manufacturer specific": "manufacturer_specific", "Error flags": "error_flags",
    "Digital Input": "digital_input", "Digital Output": "digital_output",
    "Firmware version": "firmware_version", "Software version": "software_version",
    "Hardware version": "hardware_version", "Customer location": "customer_location",
    "Customer": "customer", "Model / Version": "model_version",
    "Parameter set identification": "parameter_set_identification", "Medium": "medium",
    "Reset counter": "reset_counter", "Special supplier information": "special_supplier_information",
    "Dimensionless": "dimensionless", "Current": "current", "Voltage": "voltage",
    "Access Number (transmission count)": "access_number", "Manufacturer": "manufacturer",
    "Credit": "credit", "Debit": "debit", "Password": "password", "Error mask": "error_mask",
    "Baudrate": "baud_rate", "Response delay time": "response_delay_time", "Retry": "retry",
    "Storage interval": "storage_interval", "Duration since last readout": "duration_since_last_readout",
    "Period of tariff": "tariff_period", "Cumulation counter": "cumulation_counter",
    "Control signal": "control_signal", "Day of week": "day_of_week", "Week number": "week_number",
    "Time point of day change": "day_change_time_point",
    "State of parameter activation": "parameter_activation_state",
    "Duration since last cumulation": "duration_since_last_cumulation",
    "Operating time battery": "battery_operating_time",
    "Date and time of battery change": "battery_change_datetime",
}

# libmbus unit -> ours ("-" and "Units for H.C.A." are dimensionless here).
UNITS = {"-": "", "Units for H.C.A.": "", "Reserved": "", "Currency units": "currency",
         "Baud": "Bd", "Bittimes": "bit_times"}

# libmbus medium -> ours.
MEDIUMS = {
    "Other": "other", "Oil": "oil", "Electricity": "electricity", "Gas": "gas",
    "Heat: Outlet": "heat_outlet", "Steam": "steam", "Warm water (30-90°C)": "warm_water",
    "Water": "water", "Heat Cost Allocator": "heat_cost_allocator", "Compressed Air": "compressed_air",
    "Cooling load meter: Outlet": "cooling_outlet", "Cooling load meter: Inlet": "cooling_inlet",
    "Heat: Inlet": "heat_inlet", "Heat / Cooling load meter": "heat_cooling",
    "Bus/System": "bus_system", "Unknown Medium": "unknown", "Cold water": "cold_water",
    "Hot water (>=90°C)": "hot_water", "Breaker: Electricity": "breaker", "Heat": "heat",
}

# libmbus's raw units of the fixed data structure: (our unit, factor to it).
FIXED_UNITS = {"l": ("m^3", 1e-3), "kWh": ("Wh", 1e3), "m^3": ("m^3", 1.0), "Wh": ("Wh", 1.0)}

# libmbus's CI 70h messages -> the application error code.
APPLICATION_ERRORS = {
    "Unspecified error": 0, "Unimplemented CI-Field": 1, "Buffer too long, truncated": 2,
    "Too many records": 3, "Premature end of record": 4, "More than 10 DIFE´s": 5,
    "More than 10 VIFE´s": 6, "Application busy": 8, "Too many readouts": 9,
}

PSEUDO = ("Manufacturer specific", "More records follow")


def load(path):
    """The XML as an element tree; the files are UTF-8 whatever they declare."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    return ET.fromstring(re.sub(r"^<\?xml[^>]*\?>", "", text.lstrip()))


def _num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def compare_header(tg, slave):
    diffs = []
    h = tg["header"]

    def want(tag, ours, conv=lambda s: s):
        el = slave.find(tag)
        if el is not None and el.text is not None and el.tag != "ProductName":
            theirs = conv(el.text)
            if ours != theirs:
                diffs.append("header %s: ours %r, libmbus %r" % (tag, ours, theirs))

    # libmbus prints the identification number without leading zeros.
    want("Id", h["id"].lstrip("0") or "0", lambda s: s.lstrip("0") or "0")
    want("Manufacturer", h["manufacturer"])
    want("Version", h["version"], int)
    want("Medium", h["medium"], lambda s: MEDIUMS.get(s, "?" + s))
    want("AccessNumber", h["access_number"], int)
    want("Status", h["status"], lambda s: int(s, 16))
    want("Signature", h["signature"], lambda s: int(s, 16))
    return diffs


def libmbus_records(root):
    """(records, pseudo-records) of the XML, pseudo for the 0Fh/1Fh bytes."""
    recs, pseudo = [], []
    for r in root.iter("DataRecord"):
        d = {el.tag: (el.text or "") for el in r}
        (pseudo if d.get("Function") in PSEUDO else recs).append(d)
    return recs, pseudo


def compare_value(ours, theirs, rec):
    """True when our value says what libmbus's text says."""
    if isinstance(ours, bool):
        return False
    if isinstance(ours, (int, float)):
        t = _num(theirs)
        return t is not None and math.isclose(ours, t, rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(ours, str):
        if rec["quantity"] in ("date", "datetime"):
            # libmbus appends seconds and a zone type F does not carry.
            t = theirs[:-1] if theirs.endswith("Z") else theirs
            return ours == t or ours + ":00" == t
        # libmbus spaces the bytes of hex values.
        return ours == theirs or ours == theirs.replace(" ", "")
    return False


def compare_record(k, rec, lib, fixed=False):
    diffs = []

    def diff(what, ours, theirs):
        diffs.append("record %d %s: ours %r, libmbus %r" % (k, what, ours, theirs))

    f = FUNCTIONS.get(lib.get("Function"), "?" + str(lib.get("Function")))
    if rec["function"] != f:
        diff("function", rec["function"], lib.get("Function"))
    if "StorageNumber" in lib and rec["storage"] != int(lib["StorageNumber"]):
        diff("storage", rec["storage"], lib["StorageNumber"])
    if rec["tariff"] != int(lib.get("Tariff") or 0):
        diff("tariff", rec["tariff"], lib.get("Tariff"))
    if rec["subunit"] != int(lib.get("Device") or 0):
        diff("subunit", rec["subunit"], lib.get("Device"))
    unit, theirs_value = lib.get("Unit", ""), lib.get("Value", "")
    if fixed:
        # libmbus prints the fixed structure's units raw; scale to ours.
        ours_unit, factor = FIXED_UNITS.get(unit, (unit, 1.0))
        if rec["unit"] != ours_unit:
            diff("unit", rec["unit"], unit)
        if rec["value"] is None or not math.isclose(rec["value"], float(theirs_value) * factor, rel_tol=1e-9):
            diff("value", rec["value"], theirs_value)
        return diffs
    quantity = lib.get("Quantity", "")
    if rec["quantity"] == "plain_text":
        # libmbus files the plain-text unit as the quantity.
        if rec["unit"] != quantity or unit != "-":
            diff("plain-text unit", rec["unit"], quantity)
    else:
        q = QUANTITIES.get(quantity, "?" + quantity)
        if rec["quantity"] != q:
            diff("quantity", rec["quantity"], quantity)
        u = UNITS.get(unit, unit)
        if rec["unit"] != u:
            diff("unit", rec["unit"], unit)
    if not compare_value(rec["value"], theirs_value, rec):
        diff("value", rec["value"], theirs_value)
    return diffs


def compare(tg, root, skip=()):
    """Differences between telegram tg and libmbus's normalized XML root.

    skip: indexes of records that are documented departures; the caller
    asserts those itself.
    """
    diffs = compare_header(tg, root.find("SlaveInformation"))
    recs, pseudo = libmbus_records(root)
    fixed = tg["frame"]["ci"] in (0x73, 0x77)
    if fixed:
        for a, b in zip(recs, recs[1:]):
            # Unit 3Eh: "same unit as counter 1, historic value".
            if b.get("Unit") == "reserved but historic":
                b["Unit"] = a.get("Unit")
    if len(recs) != len(tg["records"]):
        diffs.append("record count: ours %d, libmbus %d" % (len(tg["records"]), len(recs)))
    for k, (rec, lib) in enumerate(zip(tg["records"], recs)):
        if k not in skip:
            diffs += compare_record(k, rec, lib, fixed)
    # The 0Fh/1Fh pseudo-record: our manufacturer_data and more_records_follow.
    mdata = tg.get("manufacturer_data")
    if len(pseudo) != (mdata is not None):
        diffs.append("manufacturer data: ours %r, libmbus %d pseudo-records" % (mdata, len(pseudo)))
    elif pseudo:
        p = pseudo[0]
        if p["Value"].replace(" ", "") != mdata:
            diffs.append("manufacturer data: ours %r, libmbus %r" % (mdata, p["Value"]))
        if (p["Function"] == "More records follow") != tg["more_records_follow"]:
            diffs.append("more_records_follow: ours %r, libmbus %r" % (tg["more_records_follow"], p["Function"]))
    return diffs
