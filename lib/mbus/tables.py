# EN 13757-3 code tables in compact form.
#
# A VIF table is a tuple of groups sorted by first code that together cover
# codes 0..127; group g runs from its first code up to the next group's first
# code. index() turns it into 128 bytes (code -> group number) once, so a
# lookup is two subscripts and no table holds 128 separate entries.
#
# VIF group: (first, quantity, unit, exp, kind)
#   DEC       value * 10**(exp + n), n = code - first
#   DURATION  value * DURATION_S[exp + n] seconds
#   TIMEPOINT date/time, decoded by the data field's type (G, F, I, J)
#   PLAIN     value as sent, no scaling
#   RESERVED  code reserved by the standard: record kept, marked, raw bytes
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

DEC = const(0)
DURATION = const(1)
TIMEPOINT = const(2)
PLAIN = const(3)
RESERVED = const(4)

# s, min, h, d, month, year (the month and year lengths libmbus uses).
DURATION_S = (1, 60, 3600, 86400, 2629743.83, 31556926)

C = "°C"
F = "°F"

# Primary VIF table (EN 13757-3:2004 8.4.3; 7Bh-7Fh are handled in code).
PRIMARY = (
    (0x00, "energy", "Wh", -3, DEC),
    (0x08, "energy", "J", 0, DEC),
    (0x10, "volume", "m^3", -6, DEC),
    (0x18, "mass", "kg", -3, DEC),
    (0x20, "on_time", "s", 0, DURATION),
    (0x24, "operating_time", "s", 0, DURATION),
    (0x28, "power", "W", -3, DEC),
    (0x30, "power", "J/h", 0, DEC),
    (0x38, "volume_flow", "m^3/h", -6, DEC),
    (0x40, "volume_flow", "m^3/min", -7, DEC),
    (0x48, "volume_flow", "m^3/s", -9, DEC),
    (0x50, "mass_flow", "kg/h", -3, DEC),
    (0x58, "flow_temperature", C, -3, DEC),
    (0x5C, "return_temperature", C, -3, DEC),
    (0x60, "temperature_difference", "K", -3, DEC),
    (0x64, "external_temperature", C, -3, DEC),
    (0x68, "pressure", "bar", -3, DEC),
    (0x6C, "date", "", 0, TIMEPOINT),
    (0x6D, "datetime", "", 0, TIMEPOINT),
    (0x6E, "hca_units", "", 0, PLAIN),
    (0x6F, "reserved", "", 0, RESERVED),
    (0x70, "averaging_duration", "s", 0, DURATION),
    (0x74, "actuality_duration", "s", 0, DURATION),
    (0x78, "fabrication_number", "", 0, PLAIN),
    (0x79, "enhanced_identification", "", 0, PLAIN),
    (0x7A, "bus_address", "", 0, PLAIN),
    (0x7B, "reserved", "", 0, RESERVED),
    (0x7E, "any", "", 0, PLAIN),
    (0x7F, "manufacturer_specific", "", 0, PLAIN),
)

# First extension table, VIF FDh (EN 13757-3:2004 8.4.4 a, with the 2013
# additions for codes the 2004 edition left reserved).
EXT_FD = (
    (0x00, "credit", "currency", -3, DEC),
    (0x04, "debit", "currency", -3, DEC),
    (0x08, "access_number", "", 0, PLAIN),
    (0x09, "medium", "", 0, PLAIN),
    (0x0A, "manufacturer", "", 0, PLAIN),
    (0x0B, "parameter_set_identification", "", 0, PLAIN),
    (0x0C, "model_version", "", 0, PLAIN),
    (0x0D, "hardware_version", "", 0, PLAIN),
    (0x0E, "firmware_version", "", 0, PLAIN),
    (0x0F, "software_version", "", 0, PLAIN),
    (0x10, "customer_location", "", 0, PLAIN),
    (0x11, "customer", "", 0, PLAIN),
    (0x12, "access_code_user", "", 0, PLAIN),
    (0x13, "access_code_operator", "", 0, PLAIN),
    (0x14, "access_code_system_operator", "", 0, PLAIN),
    (0x15, "access_code_developer", "", 0, PLAIN),
    (0x16, "password", "", 0, PLAIN),
    (0x17, "error_flags", "", 0, PLAIN),
    (0x18, "error_mask", "", 0, PLAIN),
    (0x19, "security_key", "", 0, PLAIN),
    (0x1A, "digital_output", "", 0, PLAIN),
    (0x1B, "digital_input", "", 0, PLAIN),
    (0x1C, "baud_rate", "Bd", 0, PLAIN),
    (0x1D, "response_delay_time", "bit_times", 0, PLAIN),
    (0x1E, "retry", "", 0, PLAIN),
    (0x1F, "remote_control", "", 0, PLAIN),
    (0x20, "first_storage_number", "", 0, PLAIN),
    (0x21, "last_storage_number", "", 0, PLAIN),
    (0x22, "storage_block_size", "", 0, PLAIN),
    (0x23, "tariff_subunit_descriptor", "", 0, PLAIN),
    (0x24, "storage_interval", "s", 0, DURATION),
    (0x2A, "reserved", "", 0, RESERVED),
    (0x2C, "duration_since_last_readout", "s", 0, DURATION),
    (0x30, "tariff_start", "", 0, TIMEPOINT),
    # 31h-33h: minutes, hours, days.
    (0x31, "tariff_duration", "s", 1, DURATION),
    (0x34, "tariff_period", "s", 0, DURATION),
    (0x3A, "dimensionless", "", 0, PLAIN),
    (0x3B, "wmbus_data_container", "", 0, PLAIN),
    (0x3C, "nominal_transmission_period", "s", 0, DURATION),
    (0x40, "voltage", "V", -9, DEC),
    (0x50, "current", "A", -12, DEC),
    (0x60, "reset_counter", "", 0, PLAIN),
    (0x61, "cumulation_counter", "", 0, PLAIN),
    (0x62, "control_signal", "", 0, PLAIN),
    (0x63, "day_of_week", "", 0, PLAIN),
    (0x64, "week_number", "", 0, PLAIN),
    (0x65, "day_change_time_point", "", 0, PLAIN),
    (0x66, "parameter_activation_state", "", 0, PLAIN),
    (0x67, "special_supplier_information", "", 0, PLAIN),
    (0x68, "duration_since_last_cumulation", "s", 2, DURATION),
    (0x6C, "battery_operating_time", "s", 2, DURATION),
    (0x70, "battery_change_datetime", "", 0, TIMEPOINT),
    (0x71, "rf_level", "dBm", 0, PLAIN),
    (0x72, "daylight_saving", "", 0, PLAIN),
    (0x73, "listening_window", "", 0, PLAIN),
    (0x74, "remaining_battery_life", "s", 3, DURATION),
    (0x75, "meter_stopped_count", "", 0, PLAIN),
    (0x76, "manufacturer_protocol_container", "", 0, PLAIN),
    (0x77, "reserved", "", 0, RESERVED),
)

# Second extension table, VIF FBh (EN 13757-3:2004 8.4.4 b).
EXT_FB = (
    (0x00, "energy", "Wh", 5, DEC),
    (0x02, "reserved", "", 0, RESERVED),
    (0x08, "energy", "J", 8, DEC),
    (0x0A, "reserved", "", 0, RESERVED),
    (0x10, "volume", "m^3", 2, DEC),
    (0x12, "reserved", "", 0, RESERVED),
    (0x18, "mass", "kg", 5, DEC),
    (0x1A, "reserved", "", 0, RESERVED),
    (0x21, "volume", "ft^3", -1, DEC),
    (0x22, "volume", "US_gal", -1, DEC),
    (0x24, "volume_flow", "US_gal/min", -3, DEC),
    (0x25, "volume_flow", "US_gal/min", 0, DEC),
    (0x26, "volume_flow", "US_gal/h", 0, DEC),
    (0x27, "reserved", "", 0, RESERVED),
    (0x28, "power", "W", 5, DEC),
    (0x2A, "reserved", "", 0, RESERVED),
    (0x30, "power", "J/h", 8, DEC),
    (0x32, "reserved", "", 0, RESERVED),
    (0x58, "flow_temperature", F, -3, DEC),
    (0x5C, "return_temperature", F, -3, DEC),
    (0x60, "temperature_difference", F, -3, DEC),
    (0x64, "external_temperature", F, -3, DEC),
    (0x68, "reserved", "", 0, RESERVED),
    (0x70, "temperature_limit", F, -3, DEC),
    (0x74, "temperature_limit", C, -3, DEC),
    (0x78, "cumulative_max_power", "W", -3, DEC),
)

# Combinable (orthogonal) VIFE table (EN 13757-3:2004 8.4.5 and 6.6, 2013
# additions). Group: (first, kind, name, arg).
LABEL = const(0)  # a modifier name is added to the record
ERROR = const(1)  # record error code (slave to master)
PER = const(2)  # unit becomes unit/arg
TIMES = const(3)  # unit becomes unit*arg
DATE_OF = const(4)  # the data is a date: "date of" an event named by name
DURATION_OF = const(5)  # the data is a duration in DURATION_S[n & 3]
SCALE = const(6)  # value * 10**(n + arg)
OFFSET = const(7)  # value + 10**(n + arg) in the unit of the VIF
NEXT_TABLE = const(8)  # the next VIFE comes from ORTHO_EXT
MANUFACTURER = const(9)  # further VIFEs and the data are manufacturer specific
PULSE = const(10)  # increment per pulse: unit becomes unit/pulse, name the channel

ORTHO = (
    (0x00, ERROR, "", 0),
    (0x10, LABEL, "reserved", 0),
    (0x12, LABEL, "averaged", 0),
    (0x13, LABEL, "inverse_compact_profile", 0),
    (0x14, LABEL, "relative_deviation", 0),
    (0x15, ERROR, "", 0),
    (0x1D, LABEL, "standard_conform_data_content", 0),
    (0x1E, LABEL, "compact_profile_with_register_numbers", 0),
    (0x1F, LABEL, "compact_profile", 0),
    (0x20, PER, "s", 0),
    (0x21, PER, "min", 0),
    (0x22, PER, "h", 0),
    (0x23, PER, "d", 0),
    (0x24, PER, "week", 0),
    (0x25, PER, "month", 0),
    (0x26, PER, "year", 0),
    (0x27, PER, "revolution", 0),
    (0x28, PULSE, "input_channel_0", 0),
    (0x29, PULSE, "input_channel_1", 0),
    (0x2A, PULSE, "output_channel_0", 0),
    (0x2B, PULSE, "output_channel_1", 0),
    (0x2C, PER, "l", 0),
    (0x2D, PER, "m^3", 0),
    (0x2E, PER, "kg", 0),
    (0x2F, PER, "K", 0),
    (0x30, PER, "kWh", 0),
    (0x31, PER, "GJ", 0),
    (0x32, PER, "kW", 0),
    (0x33, PER, "(K*l)", 0),
    (0x34, PER, "V", 0),
    (0x35, PER, "A", 0),
    (0x36, TIMES, "s", 0),
    (0x37, TIMES, "s/V", 0),
    (0x38, TIMES, "s/A", 0),
    (0x39, DATE_OF, "start", 0),
    (0x3A, LABEL, "uncorrected_unit", 0),
    (0x3B, LABEL, "accumulation_if_positive", 0),
    (0x3C, LABEL, "accumulation_if_negative", 0),
    (0x3D, LABEL, "non_metric_units", 0),
    (0x3E, LABEL, "value_at_base_conditions", 0),
    (0x3F, LABEL, "obis_declaration", 0),
    # 40h-4Fh: limit values; bit 3 = upper (u), bit 2 = last (f), bit 0 = end (b).
    (0x40, LABEL, "lower_limit", 0),
    (0x41, LABEL, "lower_limit_exceed_count", 0),
    (0x42, DATE_OF, "limit_exceed", 0),
    (0x44, LABEL, "reserved", 0),
    (0x46, DATE_OF, "limit_exceed", 0),
    (0x48, LABEL, "upper_limit", 0),
    (0x49, LABEL, "upper_limit_exceed_count", 0),
    (0x4A, DATE_OF, "limit_exceed", 0),
    (0x4C, LABEL, "reserved", 0),
    (0x4E, DATE_OF, "limit_exceed", 0),
    (0x50, DURATION_OF, "limit_exceed", 0),
    (0x60, DURATION_OF, "", 0),
    (0x68, LABEL, "value_during_lower_limit_exceed", 0),
    (0x69, LABEL, "leakage_values", 0),
    (0x6A, DATE_OF, "", 0),
    (0x6C, LABEL, "value_during_upper_limit_exceed", 0),
    (0x6D, LABEL, "overflow_values", 0),
    (0x6E, DATE_OF, "", 0),
    (0x70, SCALE, "", -6),
    (0x78, OFFSET, "", -3),
    (0x7C, NEXT_TABLE, "", 0),
    (0x7D, SCALE, "", 3),
    (0x7E, LABEL, "future_value", 0),
    (0x7F, MANUFACTURER, "", 0),
)

# Orthogonal extension (VIFE FCh then this code), EN 13757-3:2013.
ORTHO_EXT = (
    "reserved", "at_phase_l1", "at_phase_l2", "at_phase_l3", "at_neutral",
    "between_l1_l2", "between_l2_l3", "between_l3_l1",
    "at_quadrant_1", "at_quadrant_2", "at_quadrant_3", "at_quadrant_4",
    "delta_import_export", "reserved", "reserved", "accumulation_absolute",
    "reserved", "data_type_c", "data_type_d",
    "direction_to_meter", "direction_from_meter",
)

# Record error codes carried in a VIFE (EN 13757-3:2004 6.6), by code.
RECORD_ERRORS = (
    "none", "too_many_difes", "storage_not_implemented", "unit_not_implemented",
    "tariff_not_implemented", "function_not_implemented", "data_class_not_implemented",
    "data_size_not_implemented", "reserved", "reserved", "reserved", "too_many_vifes",
    "illegal_vif_group", "illegal_vif_exponent", "vif_dif_mismatch", "unimplemented_action",
    "reserved", "reserved", "reserved", "reserved", "reserved",
    "no_data", "overflow", "underflow", "data_error", "reserved", "reserved", "reserved",
    "premature_end_of_record",
)

FUNCTIONS = ("instantaneous", "maximum", "minimum", "error")

# Data field length in bytes by the low nibble of the DIF (0Dh: LVAR, 0Fh:
# special function; both handled in code).
DATA_LENGTH = b"\x00\x01\x02\x03\x04\x04\x06\x08\x00\x01\x02\x03\x04\x00\x06\x00"

# Device type / medium (EN 13757-3:2004 table 3, 2013 additions), by code.
MEDIUMS = (
    "other", "oil", "electricity", "gas", "heat_outlet", "steam", "warm_water", "water",
    "heat_cost_allocator", "compressed_air", "cooling_outlet", "cooling_inlet",
    "heat_inlet", "heat_cooling", "bus_system", "unknown",
    "irrigation_water", "water_data_logger", "gas_data_logger", "gas_converter",
    "calorific_value", "hot_water", "cold_water", "dual_register_water",
    "pressure", "ad_converter", "smoke_detector", "room_sensor", "gas_detector",
    "reserved_sensor", "reserved_sensor", "reserved_sensor",
    "breaker", "valve", "reserved_switch", "reserved_switch", "reserved_switch",
    "customer_unit", "reserved_customer_unit", "reserved_customer_unit",
    "waste_water", "garbage", "carbon_dioxide", "reserved_environment",
    "reserved_environment", "reserved_environment", "reserved_environment",
    "reserved_environment",
    "reserved_system", "communication_controller", "unidirectional_repeater",
    "bidirectional_repeater", "reserved_system", "reserved_system",
    "radio_converter_system", "radio_converter_meter",
)

# Medium of the fixed data structure (4 bits), EN 13757-3:2004 annex.
FIXED_MEDIUMS = (
    "other", "oil", "electricity", "gas", "heat", "steam", "hot_water", "water",
    "heat_cost_allocator", "reserved", "gas_mode_2", "heat_mode_2", "hot_water_mode_2",
    "water_mode_2", "heat_cost_allocator_mode_2", "reserved",
)

# Unit codes of the fixed data structure (6 bits): (first, quantity, unit,
# exp, step); a code's exponent is exp + step * (code - first), so the
# energy, power and volume groups climb one decade per code.
FIXED_UNITS = (
    (0x00, "time", "", 0, 0),
    (0x01, "date", "", 0, 0),
    (0x02, "energy", "Wh", 0, 1),
    (0x0B, "energy", "J", 3, 1),
    (0x14, "power", "W", 0, 1),
    (0x1D, "power", "J/h", 3, 1),
    (0x26, "volume", "m^3", -6, 1),
    (0x2F, "volume_flow", "m^3/h", -6, 1),
    (0x38, "temperature", C, -3, 0),
    (0x39, "hca_units", "", 0, 0),
    (0x3A, "reserved", "", 0, 0),
    (0x3E, "historic", "", 0, 0),
    (0x3F, "dimensionless", "", 0, 0),
)

# Application errors reported with CI 70h (EN 13757-3:2004 6.6).
APPLICATION_ERRORS = (
    "unspecified error", "unimplemented CI field", "buffer too long, truncated",
    "too many records", "premature end of record", "more than 10 DIFEs",
    "more than 10 VIFEs", "reserved", "application busy", "too many readouts",
)

# Status byte bits 2..7 (bits 0-1 are the application state below).
STATUS_BITS = ("power_low", "permanent_error", "temporary_error",
               "manufacturer_bit_5", "manufacturer_bit_6", "manufacturer_bit_7")
APPLICATION_STATES = (None, "application_busy", "application_error", "abnormal_condition")

# CI fields a slave never sends, named in the error message.
MASTER_CI = {0x50: "application reset", 0x51: "data send", 0x52: "slave select",
             0x54: "synchronize action", 0x5C: "synchronize action"}


def index(groups):
    """128 bytes mapping a 7-bit code to the number of its group."""
    out = bytearray(128)
    g = 0
    last = len(groups) - 1
    for code in range(128):
        while g < last and groups[g + 1][0] <= code:
            g += 1
        out[code] = g
    return bytes(out)
