"""Readings shaped as the firmware makes them (BRIEF's Reading contract):
libmbus corpus frames decoded by mbus.decode, wrapped with the meter's
name, addresses and time."""
import os
import sys

import mbus
from conftest import CORPUS, ROOT, read_hex

sys.path.insert(0, os.path.join(ROOT, "firmware"))
import fields  # noqa: E402

METERS = {  # a heat, a water, a gas and an electricity meter and one more heat meter
    "heat1": "kamstrup_multical_601",
    "water1": "EFE_Engelmann-WaterStar",
    "gas1": "LGB_G350",
    "elec1": "kamstrup_382_005",
    "heat2": "SEN_Sensus-PolluTherm",
}


def reading(meter, name=None, primary=None):
    frame = read_hex(os.path.join(CORPUS, "test-frames", (name or METERS[meter]) + ".hex"))
    telegram = mbus.decode(frame)
    return {"meter": meter, "primary_address": primary,
            "secondary_address": telegram["header"]["secondary_address"],
            "time": "2026-11-25T12:00:00Z", "time_synced": True, "uptime_s": 0,
            "fields": [list(f) for f in fields.extract(telegram["records"])], "telegram": telegram, "raw": [frame.hex().upper()]}


def all_meters():
    return [reading(m, primary=i + 1) for i, m in enumerate(METERS)]
