"""Readings shaped as the firmware makes them (BRIEF's Reading contract),
built from the libmbus corpus: the raw frame from .hex, the records from
libmbus's normalized output (.norm.xml) mapped to the decoded-telegram
vocabulary. Test data only: the forwarding code never decodes frames."""
import os
import xml.etree.ElementTree as ET

from conftest import CORPUS, read_hex

FUNCTIONS = {"Instantaneous value": "instantaneous", "Maximum value": "maximum",
             "Minimum value": "minimum", "Value during error state": "error"}

METERS = {  # a heat, a water, a gas and an electricity meter and one more heat meter
    "heat1": "kamstrup_multical_601",
    "water1": "EFE_Engelmann-WaterStar",
    "gas1": "LGB_G350",
    "elec1": "kamstrup_382_005",
    "heat2": "SEN_Sensus-PolluTherm",
}


def _fix(text):
    # the .norm.xml files are UTF-8 declared as ISO-8859-1
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeError, AttributeError):
        return text


def _value(text):
    try:
        f = float(text)
    except (TypeError, ValueError):
        return text
    return int(f) if f.is_integer() and abs(f) < 2 ** 53 else f


def reading(meter, name=None, primary=None):
    name = name or METERS[meter]
    folder = os.path.join(CORPUS, "test-frames")
    frame = read_hex(os.path.join(folder, name + ".hex"))
    root = ET.parse(os.path.join(folder, name + ".norm.xml")).getroot()
    si = root.find("SlaveInformation")
    header = {"id": si.findtext("Id"), "manufacturer": si.findtext("Manufacturer"),
              "version": int(si.findtext("Version") or 0),
              "medium": _fix(si.findtext("Medium") or "").lower(),
              "access_number": int(si.findtext("AccessNumber") or 0),
              "status": int(si.findtext("Status") or "0", 16), "signature": 0}
    records = []
    for r in root.findall("DataRecord"):
        fn = FUNCTIONS.get(r.findtext("Function"))
        if fn is None:
            continue
        q = (r.findtext("Quantity") or "").strip().lower().replace(" ", "_")
        records.append({"function": fn, "storage": int(r.findtext("StorageNumber") or 0),
                        "tariff": int(r.findtext("Tariff") or 0), "subunit": int(r.findtext("Device") or 0),
                        "quantity": q, "unit": _fix(r.findtext("Unit") or ""),
                        "value": _value(r.findtext("Value"))})
    # IIIIIIII MMMM VV DD from the fixed header of a long frame (CI 72h)
    b = frame[7:15]
    secondary = "%02X%02X%02X%02X%02X%02X%02X%02X" % (b[3], b[2], b[1], b[0], b[4], b[5], b[6], b[7])
    return {"meter": meter, "primary_address": primary, "secondary_address": secondary,
            "time": "2026-11-25T12:00:00Z", "time_synced": True, "uptime_s": 0,
            "telegram": {"frame": {"type": "long", "c": frame[4], "a": frame[5], "ci": frame[6]},
                         "header": header, "records": records, "more_records_follow": False},
            "raw": [frame.hex().upper()]}


def all_meters():
    return [reading(m, primary=i + 1) for i, m in enumerate(METERS)]
