"""Application-layer features the corpus does not cover, on frames built here.

Every frame built here is also decoded on the MicroPython unix port, which
must give the same JSON or the same error (same_decode.assert_same)."""
import json
import math

import pytest

import mbus
from datetime_cases import DATE_TIME_INVALID, DATE_TIME_VALUES, DAYLIGHT_SAVING_INVALID, DAYLIGHT_SAVING_VALUES
from mbus import DecodeError, UnsupportedError, frame
from same_decode import assert_same

HEADER = bytes.fromhex("78563412" "2D2C" "01" "04" "2A" "00" "0000")  # 12345678 KAM v1 heat


def decode(records, ci=0x72, header=HEADER):
    data = frame.long_frame(0x08, 0x01, ci, header + bytes.fromhex(records.replace(" ", "")))
    assert_same(data)
    return mbus.decode(data)


def one(records, **kw):
    tg = decode(records, **kw)
    assert len(tg["records"]) == 1, tg["records"]
    return tg["records"][0]


def test_header_fields_and_secondary_address():
    h = decode("")["header"]
    assert h == {"id": "12345678", "manufacturer": "KAM", "version": 1, "medium": "heat_outlet",
                 "medium_code": 4, "access_number": 42, "status": 0, "status_flags": [], "signature": 0,
                 "secondary_address": "123456782D2C0104"}


def test_status_bits_are_named():
    h = decode("", header=HEADER[:9] + b"\x1d" + HEADER[10:])["header"]
    assert h["status"] == 0x1D
    assert h["status_flags"] == ["application_busy", "power_low", "permanent_error", "temporary_error"]
    h = decode("", header=HEADER[:9] + b"\xe3" + HEADER[10:])["header"]
    assert h["status_flags"] == ["abnormal_condition", "manufacturer_bit_5", "manufacturer_bit_6",
                                 "manufacturer_bit_7"]


def test_dife_chain_assembles_storage_tariff_subunit():
    # DIF C4: storage bit 1, 32-bit; DIFE 93: tariff 1, storage 3; DIFE 41: subunit 1, storage 1.
    rec = one("C4 93 41 03 0A000000")
    assert (rec["storage"], rec["tariff"], rec["subunit"]) == (1 | 3 << 1 | 1 << 5, 1, 1 << 1)
    assert (rec["quantity"], rec["unit"], rec["value"]) == ("energy", "Wh", 10)


def test_ten_difes_are_allowed_eleven_are_not():
    ten = "84" + "80" * 9 + "01" + "03 01000000"
    rec = one(ten)
    assert rec["storage"] == 1 << 37
    with pytest.raises(DecodeError, match="more than 10 DIFEs"):
        decode("84" + "80" * 10 + "01" + "03 01000000")


def test_functions():
    got = [r["function"] for r in decode("01 03 01 11 03 01 21 03 01 31 03 01")["records"]]
    assert got == ["instantaneous", "maximum", "minimum", "error"]


@pytest.mark.parametrize("records, value", [
    ("01 03 FF", -1),  # 8-bit signed
    ("02 03 0080", -32768),
    ("03 03 FFFF7F", 0x7FFFFF),
    ("04 03 78563412", 0x12345678),
    ("06 03 010000000080", -(1 << 47) + 1),  # 48-bit
    ("07 03 FFFFFFFFFFFFFFFF", -1),  # 64-bit
    ("09 03 42", 42),
    ("0A 03 3412", 1234),
    ("0B 03 563412", 123456),
    ("0C 03 78563412", 12345678),
    ("0E 03 907856341212", 121234567890),
    ("0A 03 34F2", -234),  # Fh in the top digit: negative BCD
    ("05 03 0000C03F", 1.5),  # 32-bit real
])
def test_data_field_codings(records, value):
    rec = one(records)
    assert rec["value"] == value and type(rec["value"]) is type(value)


def test_invalid_bcd_digits_are_reported_not_decoded():
    rec = one("0A 03 3A12")
    assert rec["value"] is None
    assert rec["invalid"] == "invalid BCD digits 123A"
    assert rec["raw"] == "3A12"


@pytest.mark.parametrize("records, value", [
    # MicroPython divides a big int by way of a float (two roundings): these
    # came out one unit apart from CPython's before values.scale.
    ("07 13 12EE7D0AFD0E7C93", -7819358373056484.0),
    ("07 13 FFFFFFFFFFFFFF7F", 9223372036854775.807),
    ("07 10 FFFFFFFFFFFFFF7F", 9223372036854.775807),
    ("07 FD 50 0100000000000080", -9223372.036854775807),  # 10^-12 A
    ("0E 13 999999999999", 999999999.999),
])
def test_big_integers_scale_alike_on_both_interpreters(records, value):
    # decode() has checked MicroPython's JSON equals CPython's.
    rec = one(records)
    assert rec["value"] == value
    assert float(rec["decimal"]) == value  # the nearest float to the exact decimal


def test_nan_real_is_invalid():
    rec = one("05 2B 0000C07F")
    assert rec["value"] is None and rec["invalid"] == "real is NaN"


def test_no_data_and_selection_for_readout():
    recs = decode("00 13 08 93 1E 00 6D")["records"]
    assert [r["value"] for r in recs] == [None, None, None]
    assert [r["quantity"] for r in recs] == ["volume", "volume", "datetime"]
    assert not any("invalid" in r for r in recs)
    # Data field 8h is a selection for readout, not a record without data.
    assert [r.get("readout_selection") for r in recs] == [None, True, None]


PRIMARY = [
    ("01 00 05", "energy", "Wh", 0.005),
    ("01 0F 05", "energy", "J", 50000000),
    ("01 16 05", "volume", "m^3", 5),
    ("01 1B 05", "mass", "kg", 5),
    ("01 22 02", "on_time", "s", 7200),
    ("01 27 02", "operating_time", "s", 172800),
    ("01 2E 05", "power", "W", 5000),
    ("01 33 05", "power", "J/h", 5000),
    ("01 3E 05", "volume_flow", "m^3/h", 5),
    ("01 47 05", "volume_flow", "m^3/min", 5),
    ("01 4F 05", "volume_flow", "m^3/s", 0.05),
    ("01 53 05", "mass_flow", "kg/h", 5),
    ("01 5B 05", "flow_temperature", "°C", 5),
    ("01 5F 05", "return_temperature", "°C", 5),
    ("01 63 05", "temperature_difference", "K", 5),
    ("01 67 FB", "external_temperature", "°C", -5),
    ("01 6A 05", "pressure", "bar", 0.5),
    ("01 6E 05", "hca_units", "", 5),
    ("01 73 01", "averaging_duration", "s", 86400),
    ("01 74 05", "actuality_duration", "s", 5),
    ("01 78 05", "fabrication_number", "", 5),
    ("01 79 05", "enhanced_identification", "", 5),
    ("01 7A 05", "bus_address", "", 5),
    ("01 7E 05", "any", "", 5),
]
EXTENSIONS = [
    ("02 FD 48 E608", "voltage", "V", 227.8),
    ("02 FD 59 2C01", "current", "A", 0.3),
    ("01 FD 02 05", "credit", "currency", 0.5),
    ("01 FD 08 2A", "access_number", "", 42),
    ("01 FD 0E 05", "firmware_version", "", 5),
    ("01 FD 17 05", "error_flags", "", 5),
    ("01 FD 1B 01", "digital_input", "", 1),
    ("02 FD 1C 6009", "baud_rate", "Bd", 2400),
    ("01 FD 25 0F", "storage_interval", "s", 900),
    ("01 FD 28 01", "storage_interval", "s", 2629743.83),
    ("01 FD 32 02", "tariff_duration", "s", 7200),
    ("01 FD 3A 05", "dimensionless", "", 5),
    ("01 FD 60 05", "reset_counter", "", 5),
    ("01 FD 6E 02", "battery_operating_time", "s", 2 * 2629743.83),
    ("01 FD 74 02", "remaining_battery_life", "s", 172800),
    ("01 FD 2A 05", "operator_specific_data", "", 5),  # EN 13757-3:2018
    ("01 FD 2B 05", "time_point_second", "s", 5),
    ("01 FB 01 05", "energy", "Wh", 5000000),
    ("01 FB 09 05", "energy", "J", 5e9),
    ("01 FB 18 05", "mass", "kg", 500000),
    ("01 FB 29 05", "power", "W", 5000000),
    ("01 FB 5B 05", "flow_temperature", "°F", 5),
    ("01 FB 76 05", "temperature_limit", "°C", 0.5),
    ("01 FB 7F 05", "cumulative_max_power", "W", 50000),
    # EN 13757-3:2018 table 14 (codes the 2004 edition left reserved)
    ("01 FB 02 05", "reactive_energy", "varh", 5000),  # 10^n kvarh
    ("01 FB 03 05", "reactive_energy", "varh", 50000),
    ("01 FB 04 05", "apparent_energy", "VAh", 5000),  # 10^n kVAh
    ("01 FB 05 05", "apparent_energy", "VAh", 50000),
    ("01 FB 0C 05", "energy", "cal", 500000),  # 10^(nn-1) Mcal
    ("01 FB 0F 05", "energy", "cal", 500000000),
    ("01 FB 14 05", "reactive_power", "var", 5),  # 10^(nn-3) kvar
    ("01 FB 17 05", "reactive_power", "var", 5000),
    ("01 FB 1A 05", "relative_humidity", "%", 0.5),  # 10^(n-1) %
    ("01 FB 1B 05", "relative_humidity", "%", 5),
    ("01 FB 20 05", "volume", "ft^3", 5),
    ("01 FB 21 05", "volume", "ft^3", 0.5),
    ("01 FB 2A 05", "phase_voltage_to_voltage", "°", 0.5),  # 0.1 degree
    ("01 FB 2B 05", "phase_voltage_to_current", "°", 0.5),
    ("01 FB 2C 05", "frequency", "Hz", 0.005),  # 10^(nn-3) Hz
    ("01 FB 2F 05", "frequency", "Hz", 5),
    ("01 FB 34 05", "apparent_power", "VA", 5),  # 10^(nn-3) kVA
    ("01 FB 37 05", "apparent_power", "VA", 5000),
    ("01 FB 68 05", "resulting_rating_factor", "", 5),
    ("01 FB 69 05", "thermal_output_rating_factor", "", 5),
    ("01 FB 6A 05", "thermal_coupling_rating_factor", "", 5),
    ("01 FB 6B 05", "thermal_coupling_rating_factor_room", "", 5),
    ("01 FB 6C 05", "thermal_coupling_rating_factor_heater", "", 5),
    ("01 FB 6D 05", "low_temperature_rating_factor", "", 5),
    ("01 FB 6E 05", "display_output_scaling_factor", "", 5),
    # 2004 codes the 2018 edition reserves: their 2004 meaning stays
    ("01 FB 22 05", "volume", "US_gal", 0.5),
    ("01 FB 26 05", "volume_flow", "US_gal/h", 5),
    ("01 FB 72 05", "temperature_limit", "°F", 0.5),
]


@pytest.mark.parametrize("records, quantity, unit, value", PRIMARY + EXTENSIONS)
def test_vif_tables(records, quantity, unit, value):
    rec = one(records)
    assert (rec["quantity"], rec["unit"]) == (quantity, unit)
    assert math.isclose(rec["value"], value)


@pytest.mark.parametrize("code", ["06", "07", "0A", "12", "1C", "27", "32", "38", "57", "6F"])
def test_reserved_alternate_extension_codes(code):
    rec = one("01 FB %s 07" % code)
    assert (rec["quantity"], rec["value"], rec["vib"], rec["raw"]) == ("reserved", 7, "FB" + code, "07")


def test_reserved_codes_are_marked_with_raw_bytes():
    rec = one("01 FD 7C 07")
    assert (rec["quantity"], rec["value"], rec["vib"], rec["raw"]) == ("reserved", 7, "FD7C", "07")
    rec = one("01 6F 07")
    assert (rec["quantity"], rec["vib"], rec["raw"]) == ("reserved", "6F", "07")
    rec = one("01 FB 07 07")
    assert (rec["quantity"], rec["vib"]) == ("reserved", "FB07")


def test_manufacturer_specific_vif_keeps_data():
    rec = one("02 FF 81 12 3412")
    assert (rec["quantity"], rec["value"], rec["vib"], rec["raw"]) == ("manufacturer_specific", 0x1234, "FF8112",
                                                                       "3412")


@pytest.mark.parametrize("records, unit, value, extra", [
    ("02 93 22 6400", "m^3/h", 0.1, {}),  # per hour
    ("01 83 2D 05", "Wh/m^3", 5, {}),  # per m^3
    ("01 83 36 05", "Wh*s", 5, {}),  # multiplied by s
    ("01 83 75 07", "Wh", 0.7, {}),  # x 10^(5-6)
    ("01 83 7D 02", "Wh", 2000, {}),  # x 10^3
    ("01 E7 7B 05", "°C", 6, {}),  # + 10^(3-3) in the base unit
    ("04 93 78 E8030000", "m^3", 1.001, {"decimal": "1.001"}),  # 1000 l + 10^(0-3) m^3, not 10^(-3-3)
    ("04 93 7B E8030000", "m^3", 2, {"decimal": "2"}),  # 1000 l + 10^(3-3) m^3
    ("04 AB 7A 05000000", "W", 5.1, {"decimal": "5.1"}),  # 5 W + 10^(2-3) W
    ("05 93 78 0000C03F", "m^3", 0.0025, {}),  # a real: 1.5 l + 10^-3 m^3
    ("01 83 3B 05", "Wh", 5, {"modifiers": ["accumulation_if_positive"]}),
    ("01 83 BC 7E 05", "Wh", 5, {"modifiers": ["accumulation_if_negative", "future_value"]}),
    ("01 93 15 00", "m^3", 0, {"record_error": "no_data"}),
    ("01 93 18 00", "m^3", 0, {"record_error": "data_error"}),
    ("01 93 00 00", "m^3", 0, {"record_error": None}),  # error code 0: none
    ("04 A9 FC 01 64000000", "W", 1.0, {"modifiers": ["at_phase_l1"]}),
    ("01 93 28 08", "m^3/pulse", 0.008, {"modifiers": ["input_channel_0"]}),
    ("01 93 FF 12 05", "m^3", 0.005, {"modifiers": ["manufacturer_specific"], "vib": "FF12", "raw": "05"}),
])
def test_orthogonal_vifes(records, unit, value, extra):
    rec = one(records)
    assert rec["unit"] == unit
    assert math.isclose(rec["value"], value)
    for k, v in extra.items():
        assert rec.get(k) == v


@pytest.mark.parametrize("code, name", [
    ("0C", "delta_import_export"),
    ("10", "accumulation_absolute"),  # EN 13757-3:2018 table 15
    ("11", "data_type_c"),
    ("12", "data_type_d"),
    ("14", "direction_to_meter"),  # from the communication partner to the meter
    ("15", "direction_from_meter"),
])
def test_orthogonal_extension_table_fc(code, name):
    rec = one("04 A9 FC %s 64000000" % code)
    assert (rec["unit"], rec["value"], rec["modifiers"]) == ("W", 1.0, [name])
    assert "vib" not in rec


@pytest.mark.parametrize("records, vib, extra", [
    ("04 A9 FC 0F 64000000", "A9FC0F", {"modifiers": ["reserved"]}),  # FCh table, reserved in 2018
    ("04 A9 FC 13 64000000", "A9FC13", {"modifiers": ["reserved"]}),
    ("04 A9 FC 16 64000000", "A9FC16", {"modifiers": ["reserved"]}),
    ("04 A9 FC 7F 64000000", "A9FC7F", {"modifiers": ["reserved"]}),
    ("04 A9 10 64000000", "A910", {"modifiers": ["reserved"]}),  # combinable VIFE 10h
    ("04 A9 C4 3B 64000000", "A9C43B", {"modifiers": ["reserved", "accumulation_if_positive"]}),
    ("04 A9 08 64000000", "A908", {"record_error": "reserved", "record_error_code": 8}),
    ("04 A9 0C 64000000", "A90C", {"record_error": "illegal_vif_group", "record_error_code": 12, "vib": None}),
])
def test_reserved_vifes_keep_their_code(records, vib, extra):
    # The name "reserved" alone would lose the code: the record keeps the
    # whole VIB and the data, as for a reserved VIF.
    rec = one(records)
    extra = dict({"vib": vib, "raw": "64000000" if extra.get("vib", 1) else None}, **extra)
    for k, v in extra.items():
        assert rec.get(k) == v, k
    assert (rec["quantity"], rec["value"]) == ("power", 1.0)


def test_orthogonal_vife_chain_of_ten():
    # VIF 83 and ten combinable VIFEs: nine "per hour"-free labels and a scale.
    rec = one("01 83" + " BB" * 9 + " 75 07")
    assert rec["modifiers"] == ["accumulation_if_positive"] * 9
    assert math.isclose(rec["value"], 0.7)
    with pytest.raises(DecodeError, match="more than 10 VIFEs"):
        decode("01 83" + " BB" * 10 + " 75 07")


def test_date_of_and_duration_of_vifes():
    rec = one("04 AD 6F 1A2F6511")  # power, "date of end last"
    assert (rec["unit"], rec["value"], rec["modifiers"]) == ("", "2011-01-05T15:26", ["date_of_end_last"])
    rec = one("02 BE 51 0500")  # volume flow, duration of first lower limit exceed, minutes
    assert (rec["unit"], rec["value"], rec["modifiers"]) == ("s", 300, ["duration_of_first_lower_limit_exceed"])
    rec = one("02 BE 4F 9C1C")  # date of end last upper limit exceed (type G)
    assert (rec["value"], rec["modifiers"]) == ("2012-12-28", ["date_of_end_last_upper_limit_exceed"])


@pytest.mark.parametrize("records, value", DATE_TIME_VALUES)
def test_date_time_types(records, value):
    assert one(records)["value"] == value


@pytest.mark.parametrize("records, why", DATE_TIME_INVALID)
def test_invalid_dates_are_flagged(records, why):
    rec = one(records)
    assert rec["value"] is None and rec["invalid"] == why and rec["raw"]


@pytest.mark.parametrize("records, value, fields", DAYLIGHT_SAVING_VALUES)
def test_daylight_saving_type_k(records, value, fields):
    rec = one(records)
    assert (rec["quantity"], rec["unit"], rec["value"]) == ("daylight_saving", "", value)
    assert rec["daylight_saving"] == fields
    assert rec["raw"] == records[9:] and "invalid" not in rec


def test_daylight_saving_msb_first_ci_76():
    header = bytes.fromhex("12345678" "2C2D" "01" "04" "2A" "00" "0000")
    rec = decode("04 FD 72 A3BB9F02", ci=0x76, header=header)["records"][0]
    assert rec["value"] == "--03-31T02:00/--10-27" and rec["daylight_saving"]["deviation_h"] == 1


@pytest.mark.parametrize("records, why", DAYLIGHT_SAVING_INVALID)
def test_invalid_daylight_saving_is_flagged(records, why):
    rec = one(records)
    assert rec["value"] is None and rec["invalid"] == why and rec["raw"]
    assert "daylight_saving" not in rec


def test_undecoded_layouts_keep_their_data():
    # Type K sent as BCD is not type K; types L and M have no verified layout
    # (README, Not done): the number and the LVAR's reading are kept.
    assert one("0C FD 72 78563412")["value"] == 12345678
    assert one("01 FD 73 05")["value"] == 5
    assert one("0D 6D 03 434241")["value"] == "ABC"


@pytest.mark.parametrize("records, value", [
    ("0D FD 11 03 434241", "ABC"),  # text, sent last character first
    ("0D 13 C2 3412", 1.234),  # positive BCD, 4 digits
    ("0D 13 D2 3412", -1.234),  # negative BCD
    ("0D FD 17 E2 3412", "1234"),  # binary: hex, most significant byte first
    ("0D FD 16 F0" + " 00" * 15 + " 01", "01" + "00" * 15),  # binary of 4*(F0h-ECh) = 16 bytes
    ("0D FD 16 F4" + " 00" * 31 + " 02", "02" + "00" * 31),  # 4*(F4h-ECh) = 32 bytes
    ("0D FD 16 F5" + " 00" * 47 + " 03", "03" + "00" * 47),  # F5h: 48 bytes (not 36)
    ("0D FD 16 F6" + " 00" * 63 + " 04", "04" + "00" * 63),  # F6h: 64 bytes (not 40)
    ("0D FD 11 00", ""),
    ("0D FD 11 02 E9 41", "Aé"),  # ISO 8859-1
])
def test_lvar(records, value):
    rec = one(records)
    assert rec["value"] == value


@pytest.mark.parametrize("lvar", ["CA", "DF", "F7", "F8", "FA", "FB", "FF"])
def test_reserved_lvar_is_unsupported(lvar):
    # EN 13757-3:2013/2018: F7h-FFh are reserved (F5h and F6h have lengths of their own), as are
    # the BCD lengths past 9 bytes.
    with pytest.raises(UnsupportedError, match="LVAR 0x%s is reserved" % lvar) as e:
        decode("0D FD 11 %s" % lvar + " 00" * 60)
    assert e.value.offset == 7 + 12 + 3


def test_plain_text_vif_in_standard_order():
    # EN 13757-3: VIF FCh, then the VIFEs, then length and ASCII ("HR%" reversed).
    rec = one("02 FC 74 03 48 52 25 D411")
    assert (rec["quantity"], rec["unit"], rec["value"]) == ("plain_text", "%RH", 45.64)


def test_plain_text_vif_right_after_vif_as_devices_send_it():
    rec = one("02 FC 03 48 52 25 74 D411")
    assert (rec["quantity"], rec["unit"], rec["value"]) == ("plain_text", "%RH", 45.64)
    rec = one("02 7C 03 48 52 25 D411")
    assert (rec["unit"], rec["value"]) == ("%RH", 4564)


def test_special_functions():
    tg = decode("2F 2F 01 13 05 2F 0F AA BB")
    assert len(tg["records"]) == 1
    assert tg["manufacturer_data"] == "AABB" and tg["more_records_follow"] is False
    tg = decode("01 13 05 1F")
    assert tg["manufacturer_data"] == "" and tg["more_records_follow"] is True
    tg = decode("7F")
    assert tg["records"][0]["quantity"] == "global_readout"
    with pytest.raises(UnsupportedError, match="DIF 0x3F is a reserved special function"):
        decode("3F")


def test_msb_first_variable_data_ci_76():
    header = bytes.fromhex("12345678" "2C2D" "01" "04" "2A" "00" "0000")
    tg = decode("04 13 00000100 0C 13 00001234 02 6C 1CDF", ci=0x76, header=header)
    assert tg["header"]["id"] == "12345678" and tg["header"]["manufacturer"] == "KAM"
    assert tg["header"]["secondary_address"] == "123456782D2C0104"
    assert [r["value"] for r in tg["records"]] == [0.256, 1.234, "2014-12-31"]


def test_short_header_ci_7a_and_no_header_ci_78():
    tg = decode("04 13 E8030000", ci=0x7A, header=bytes.fromhex("07 10 0000"))
    h = tg["header"]
    assert (h["access_number"], h["status"], h["signature"], h["id"]) == (7, 0x10, 0, None)
    assert h["status_flags"] == ["temporary_error"] and h["secondary_address"] is None
    assert tg["records"][0]["value"] == 1.0
    tg = decode("04 13 E8030000", ci=0x78, header=b"")
    assert tg["header"]["access_number"] is None and tg["records"][0]["value"] == 1.0


def test_fixed_data_structure_bcd_and_binary():
    # CI 73h: id, access 10, status 00 (BCD, actual), counter 1 in l, counter 2 in kWh, medium water.
    fixed = "78563412 0A 00 E9 45 01000000 35010000"
    tg = decode(fixed, ci=0x73, header=b"")
    h = tg["header"]
    assert (h["id"], h["access_number"], h["medium"], h["medium_code"]) == ("12345678", 10, "water", 7)
    assert [(r["quantity"], r["unit"], r["value"], r["storage"]) for r in tg["records"]] == [
        ("volume", "m^3", 0.001, 0), ("energy", "Wh", 135000, 0)]
    # Status bit 7: binary counters; bit 6: stored values.
    tg = decode("78563412 0A C0 E9 45 01010000 35010000", ci=0x73, header=b"")
    assert [(r["value"], r["storage"]) for r in tg["records"]] == [(0.257, 1), (309000, 1)]
    # ... and the status flags say so: in this structure they are not the manufacturer's.
    assert tg["header"]["status_flags"] == ["historic_values", "counters_binary"]
    tg = decode("78563412 0A E5 E9 45 01010000 35010000", ci=0x73, header=b"")
    assert tg["header"]["status_flags"] == ["application_busy", "power_low", "manufacturer_bit_5",
                                            "historic_values", "counters_binary"]
    # CI 77h: the same, most significant byte first.
    tg = decode("12345678 0A 00 E9 45 00000001 00000135", ci=0x77, header=b"")
    assert tg["header"]["id"] == "12345678" and [r["value"] for r in tg["records"]] == [0.001, 135000]


def test_application_error_and_alarm():
    tg = decode("08", ci=0x70, header=b"")
    assert tg["error"] == {"code": 8, "message": "application busy"} and tg["records"] == []
    tg = decode("0C", ci=0x70, header=b"")
    assert tg["error"] == {"code": 12, "message": "reserved"}
    tg = decode("01", ci=0x71, header=b"")
    assert tg["alarm"] == 1 and tg["records"] == []


@pytest.mark.parametrize("ci, words", [(0x7B, "unknown CI field 0x7B"), (0x52, "slave select")])
def test_unknown_ci_is_unsupported(ci, words):
    with pytest.raises(UnsupportedError, match=words) as e:
        decode("", ci=ci, header=b"")
    assert e.value.offset == 6


def test_ack_and_short_frames_carry_no_telegram():
    with pytest.raises(UnsupportedError, match="ack frame carries no telegram"):
        mbus.decode(b"\xe5")
    with pytest.raises(UnsupportedError, match="short frame"):
        mbus.decode(frame.short_frame(0x5B, 1))


def test_every_decoded_telegram_is_json():
    tg = decode("0A 03 3A12 04 6D 9A2F6511 0D FD 11 02 E9 41 01 93 FF 12 05 0F AABB")
    assert json.loads(json.dumps(tg)) == tg
