"""Generate the rows of lib/mbus/tables.py from the readable EN 13757-3 tables below.

    python tools/tablegen.py          # rewrite lib/mbus/tables.py below its MARKER line
    python tools/tablegen.py --check  # exit 1 if it is not up to date

The board never parses these tables: tables.py holds them as bytes rows
whose names are numbers into one string of every name (a tuple of 250 str
objects, or building the rows at import, costs MicroPython ten times the
heap). host_tests/test_tables.py checks the file matches this source.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "lib", "mbus", "tables.py")

# Kind words of the tables below, numbered as tables.py's constants.
VIF_KINDS = ("dec", "dur", "time", "plain", "res", "dst")
ORTHO_KINDS = ("label", "error", "per", "times", "date_of", "duration_of", "scale", "offset", "next",
               "manufacturer", "pulse")

# VIF tables: a row runs up to the next row's first code.
# Primary VIF table (EN 13757-3 primary VIF codes; 7Bh/7Dh extension
# tables, 7Ch plain text and 7Fh manufacturer VIF are also handled in code).
# Columns: first code, quantity, unit ("-" none), exponent, kind.
PRIMARY = """
00 energy Wh -3 dec
08 energy J 0 dec
10 volume m^3 -6 dec
18 mass kg -3 dec
20 on_time s 0 dur
24 operating_time s 0 dur
28 power W -3 dec
30 power J/h 0 dec
38 volume_flow m^3/h -6 dec
40 volume_flow m^3/min -7 dec
48 volume_flow m^3/s -9 dec
50 mass_flow kg/h -3 dec
58 flow_temperature °C -3 dec
5C return_temperature °C -3 dec
60 temperature_difference K -3 dec
64 external_temperature °C -3 dec
68 pressure bar -3 dec
6C date - 0 time
6D datetime - 0 time
6E hca_units - 0 plain
6F reserved - 0 res
70 averaging_duration s 0 dur
74 actuality_duration s 0 dur
78 fabrication_number - 0 plain
79 enhanced_identification - 0 plain
7A bus_address - 0 plain
7B reserved - 0 res
7E any - 0 plain
7F manufacturer_specific - 0 plain
"""

# Main extension table, VIF FDh (EN 13757-3:2004, with the 2013/2018
# additions for codes the 2004 edition left reserved: storage interval in
# months and years (28h-29h), operator specific data (2Ah), time point
# second (2Bh), ...). 72h "daylight saving (beginning,
# ending, deviation)" carries data type K (kind dst); 73h "listening window
# management" carries type L, whose layout is not decoded (README, Not done).
EXT_FD = """
00 credit currency -3 dec
04 debit currency -3 dec
08 access_number - 0 plain
09 medium - 0 plain
0A manufacturer - 0 plain
0B parameter_set_identification - 0 plain
0C model_version - 0 plain
0D hardware_version - 0 plain
0E firmware_version - 0 plain
0F software_version - 0 plain
10 customer_location - 0 plain
11 customer - 0 plain
12 access_code_user - 0 plain
13 access_code_operator - 0 plain
14 access_code_system_operator - 0 plain
15 access_code_developer - 0 plain
16 password - 0 plain
17 error_flags - 0 plain
18 error_mask - 0 plain
19 security_key - 0 plain
1A digital_output - 0 plain
1B digital_input - 0 plain
1C baud_rate Bd 0 plain
1D response_delay_time bit_times 0 plain
1E retry - 0 plain
1F remote_control - 0 plain
20 first_storage_number - 0 plain
21 last_storage_number - 0 plain
22 storage_block_size - 0 plain
23 tariff_subunit_descriptor - 0 plain
24 storage_interval s 0 dur
2A operator_specific_data - 0 plain
2B time_point_second s 0 plain
2C duration_since_last_readout s 0 dur
30 tariff_start - 0 time
31 tariff_duration s 1 dur
34 tariff_period s 0 dur
3A dimensionless - 0 plain
3B wmbus_data_container - 0 plain
3C nominal_transmission_period s 0 dur
40 voltage V -9 dec
50 current A -12 dec
60 reset_counter - 0 plain
61 cumulation_counter - 0 plain
62 control_signal - 0 plain
63 day_of_week - 0 plain
64 week_number - 0 plain
65 day_change_time_point - 0 plain
66 parameter_activation_state - 0 plain
67 special_supplier_information - 0 plain
68 duration_since_last_cumulation s 2 dur
6C battery_operating_time s 2 dur
70 battery_change_datetime - 0 time
71 rf_level dBm 0 plain
72 daylight_saving - 0 dst
73 listening_window - 0 plain
74 remaining_battery_life s 3 dur
75 meter_stopped_count - 0 plain
76 manufacturer_protocol_container - 0 plain
77 reserved - 0 res
"""

# Alternate extension table, VIF FBh: EN 13757-3:2018 (table 14), which
# adds reactive and apparent energy and power, Mcal, relative humidity, 1 ft^3,
# phase angles, frequency and the heat cost allocator rating factors where
# the 2004 edition had reserved codes. The 2018 edition reserves the US
# customary codes of 2004 (US gallons 22h-26h, degrees Fahrenheit 58h-67h and
# 70h-73h; non-metric units now come from VIFE 3Dh): no 2018 code means
# anything else there, so their 2004 meaning stays. Rating factors are
# dimensionless and returned as sent (README, Not done).
EXT_FB = """
00 energy Wh 5 dec
02 reactive_energy varh 3 dec
04 apparent_energy VAh 3 dec
06 reserved - 0 res
08 energy J 8 dec
0A reserved - 0 res
0C energy cal 5 dec
10 volume m^3 2 dec
12 reserved - 0 res
14 reactive_power var 0 dec
18 mass kg 5 dec
1A relative_humidity % -1 dec
1C reserved - 0 res
20 volume ft^3 0 dec
21 volume ft^3 -1 dec
22 volume US_gal -1 dec
24 volume_flow US_gal/min -3 dec
25 volume_flow US_gal/min 0 dec
26 volume_flow US_gal/h 0 dec
27 reserved - 0 res
28 power W 5 dec
2A phase_voltage_to_voltage ° -1 dec
2B phase_voltage_to_current ° -1 dec
2C frequency Hz -3 dec
30 power J/h 8 dec
32 reserved - 0 res
34 apparent_power VA 0 dec
38 reserved - 0 res
58 flow_temperature °F -3 dec
5C return_temperature °F -3 dec
60 temperature_difference °F -3 dec
64 external_temperature °F -3 dec
68 resulting_rating_factor - 0 plain
69 thermal_output_rating_factor - 0 plain
6A thermal_coupling_rating_factor - 0 plain
6B thermal_coupling_rating_factor_room - 0 plain
6C thermal_coupling_rating_factor_heater - 0 plain
6D low_temperature_rating_factor - 0 plain
6E display_output_scaling_factor - 0 plain
6F reserved - 0 res
70 temperature_limit °F -3 dec
74 temperature_limit °C -3 dec
78 cumulative_max_power W -3 dec
"""

# Combinable (orthogonal) VIFE table (EN 13757-3:2004 and the record error
# codes; 2013 additions). Columns: first code, kind, name ("-" none), arg.
# 40h-6Fh: bit 3 = upper limit, bit 2 = last, bit 0 = end; the names of the
# "date of"/"duration of" codes are spelled out from those bits.
ORTHO = """
00 error - 0
10 label reserved 0
12 label averaged 0
13 label inverse_compact_profile 0
14 label relative_deviation 0
15 error - 0
1D label standard_conform_data_content 0
1E label compact_profile_with_register_numbers 0
1F label compact_profile 0
20 per s 0
21 per min 0
22 per h 0
23 per d 0
24 per week 0
25 per month 0
26 per year 0
27 per revolution 0
28 pulse input_channel_0 0
29 pulse input_channel_1 0
2A pulse output_channel_0 0
2B pulse output_channel_1 0
2C per l 0
2D per m^3 0
2E per kg 0
2F per K 0
30 per kWh 0
31 per GJ 0
32 per kW 0
33 per (K*l) 0
34 per V 0
35 per A 0
36 times s 0
37 times s/V 0
38 times s/A 0
39 date_of start 0
3A label uncorrected_unit 0
3B label accumulation_if_positive 0
3C label accumulation_if_negative 0
3D label non_metric_units 0
3E label value_at_base_conditions 0
3F label obis_declaration 0
40 label lower_limit 0
41 label lower_limit_exceed_count 0
42 date_of limit_exceed 0
44 label reserved 0
46 date_of limit_exceed 0
48 label upper_limit 0
49 label upper_limit_exceed_count 0
4A date_of limit_exceed 0
4C label reserved 0
4E date_of limit_exceed 0
50 duration_of limit_exceed 0
60 duration_of - 0
68 label value_during_lower_limit_exceed 0
69 label leakage_values 0
6A date_of - 0
6C label value_during_upper_limit_exceed 0
6D label overflow_values 0
6E date_of - 0
70 scale - -6
78 offset - -3
7C next - 0
7D scale - 3
7E label future_value 0
7F manufacturer - 0
"""

# Orthogonal extension (VIFE FCh, then this code), EN 13757-3:2018 table 15:
# 10h is the accumulation of the absolute value, 14h/15h the directions;
# 0Dh-0Fh and 13h are reserved there (pymbusparser 0.5.3 names them from a
# later revision, which no public copy confirms: kept as reserved codes).
ORTHO_EXT = """reserved at_phase_l1 at_phase_l2 at_phase_l3 at_neutral between_l1_l2
between_l2_l3 between_l3_l1 at_quadrant_1 at_quadrant_2 at_quadrant_3 at_quadrant_4
delta_import_export reserved reserved reserved accumulation_absolute data_type_c data_type_d
reserved direction_to_meter direction_from_meter"""

# Record error codes carried in a VIFE (EN 13757-3 record errors), by code.
RECORD_ERRORS = """none too_many_difes storage_not_implemented unit_not_implemented
tariff_not_implemented function_not_implemented data_class_not_implemented
data_size_not_implemented reserved reserved reserved too_many_vifes illegal_vif_group
illegal_vif_exponent vif_dif_mismatch unimplemented_action reserved reserved reserved reserved
reserved no_data overflow underflow data_error reserved reserved reserved
premature_end_of_record"""

# Device type / medium (EN 13757-3 device type table), by code.
MEDIUMS = """other oil electricity gas heat_outlet steam warm_water water
heat_cost_allocator compressed_air cooling_outlet cooling_inlet heat_inlet heat_cooling
bus_system unknown irrigation_water water_data_logger gas_data_logger gas_converter
calorific_value hot_water cold_water dual_register_water pressure ad_converter smoke_detector
room_sensor gas_detector reserved_sensor reserved_sensor reserved_sensor breaker valve
reserved_switch reserved_switch reserved_switch customer_unit reserved_customer_unit
reserved_customer_unit waste_water garbage carbon_dioxide reserved_environment
reserved_environment reserved_environment reserved_environment reserved_environment
reserved_system communication_controller unidirectional_repeater bidirectional_repeater
reserved_system reserved_system radio_converter_system radio_converter_meter"""

# Medium of the fixed data structure (4 bits).
FIXED_MEDIUMS = """other oil electricity gas heat steam hot_water water
heat_cost_allocator reserved gas_mode_2 heat_mode_2 hot_water_mode_2 water_mode_2
heat_cost_allocator_mode_2 reserved"""

# Unit codes of the fixed data structure (6 bits). Columns: first code,
# quantity, unit, exponent, step: a code's exponent is exp + step * (code -
# first), so the energy, power and volume rows climb one decade per code.
FIXED_UNITS = """
00 time - 0 0
01 date - 0 0
02 energy Wh 0 1
0B energy J 3 1
14 power W 0 1
1D power J/h 3 1
26 volume m^3 -6 1
2F volume_flow m^3/h -6 1
38 temperature °C -3 0
39 hca_units - 0 0
3A reserved - 0 0
3E historic - 0 0
3F dimensionless - 0 0
"""

# Application errors reported with CI 70h, by code ("_" is a space).
APPLICATION_ERRORS = """unspecified_error unimplemented_CI_field buffer_too_long,_truncated
too_many_records premature_end_of_record more_than_10_DIFEs more_than_10_VIFEs reserved
application_busy too_many_readouts"""

# The name lists, by code (tables.py: name list entries are numbered from WORDS).
LIST_NAMES = ("ORTHO_EXT", "RECORD_ERRORS", "MEDIUMS", "FIXED_MEDIUMS", "APPLICATION_ERRORS")
LISTS = (ORTHO_EXT, RECORD_ERRORS, MEDIUMS, FIXED_MEDIUMS, APPLICATION_ERRORS)


class Names:
    """Numbers every name once, in the order given: the names only the table
    rows use, then those both use, then those only the name lists use.

    A row or list entry is one byte, and there are more than 256 names, so
    rows number names from 0 and lists from WORDS (the first shared name):
    each sees at most 256 of them.
    """

    def __init__(self, row_words, list_words):
        shared = [w for w in row_words if w in set(list_words)]
        order = [w for w in row_words if w not in shared] + shared
        order += [w for w in list_words if w not in order]
        self.words = len(order) - len(set(list_words))  # number of the first name a list uses
        assert len(order) - self.words <= 256 and self.words + len(shared) <= 256, "too many names"
        self.text = order
        self.seen = {w: k for k, w in enumerate(order)}
        self.starts = [0]
        for w in order:
            self.starts.append(self.starts[-1] + len(w))

    def number(self, word):
        k = self.seen[_word(word)]
        assert k < 256, "a row refers to name %d: %s" % (k, word)
        return k

    def listed(self, word):
        k = self.seen[_word(word)] - self.words
        assert 0 <= k < 256, word
        return k


def unique(words):
    out = []
    for w in words:
        if w not in out:
            out.append(w)
    return out


def _word(word):
    return "" if word == "-" else word


def row_words(spec, columns):
    """The names in the n columns of a text table, in order of appearance."""
    out = []
    for line in spec.split("\n"):
        f = line.split()
        for col, word in zip(columns, f[1:]):
            if col == "n" and _word(word) not in out:
                out.append(_word(word))
    return out


def rows(spec, columns, names, kinds=VIF_KINDS):
    """Rows of a text table as bytes: hex code, then n(ame)/i(nt)/k(ind) columns."""
    out = bytearray()
    for line in spec.split("\n"):
        f = line.split()
        if not f:
            continue
        assert len(f) == len(columns) + 1, line
        out.append(int(f[0], 16))
        for col, word in zip(columns, f[1:]):
            if col == "n":
                out.append(names.number(word))
            elif col == "i":
                out.append(int(word) + 128)
            else:
                out.append(kinds.index(word))
    codes = out[::len(columns) + 1]
    assert list(codes) == sorted(set(codes)), "rows out of order: " + spec[:40]
    return bytes(out)


def words(spec, names):
    return bytes(names.listed(w) for w in spec.split())


def index(table, width):
    """128 bytes mapping a 7-bit code to the number of its row."""
    out = bytearray(128)
    g = 0
    last = len(table) // width - 1
    for code in range(128):
        while g < last and table[(g + 1) * width] <= code:
            g += 1
        out[code] = g
    return bytes(out)


def literal(name, data, indent=4):
    """NAME = b"..." over lines of at most 100 characters."""
    pieces = [chr(c) if 0x20 <= c < 0x7F and c not in (0x22, 0x5C) else "\\x%02x" % c for c in data]
    chunks = [""]
    for p in pieces:
        if len(chunks[-1]) + len(p) > 100 - indent - 3:
            chunks.append("")
        chunks[-1] += p
    if len('%s = b"%s"' % (name, chunks[0])) <= 100 and len(chunks) == 1:
        return '%s = b"%s"\n' % (name, chunks[0])
    return "%s = (\n%s)\n" % (name, "".join('%sb"%s"\n' % (" " * indent, c) for c in chunks))


def render(head):
    """tables.py: its hand-written head (up to MARKER) and the generated rows."""
    vif = ("n", "n", "i", "k")
    tables = ((PRIMARY, vif), (EXT_FD, vif), (EXT_FB, vif), (ORTHO, ("k", "n", "i")),
              (FIXED_UNITS, ("n", "n", "i", "i")))
    in_rows = []
    for spec, columns in tables:
        in_rows += row_words(spec, columns)
    in_lists = [w for spec in LISTS for w in spec.split()]
    names = Names(unique(in_rows), unique(in_lists))
    primary = rows(PRIMARY, vif, names)
    fd = rows(EXT_FD, vif, names)
    fb = rows(EXT_FB, vif, names)
    ortho = rows(ORTHO, ("k", "n", "i"), names, ORTHO_KINDS)
    fixed = rows(FIXED_UNITS, ("n", "n", "i", "i"), names)
    out = [head.split(MARKER)[0], MARKER]
    for name, data in (("PRIMARY", primary), ("EXT_FD", fd), ("EXT_FB", fb), ("ORTHO", ortho),
                       ("FIXED_UNITS", fixed)):
        out.append(literal(name, data))
    out.append("WORDS = const(%d)  # the name lists below number names from here\n" % names.words)
    for name, spec in zip(LIST_NAMES, LISTS):
        out.append(literal(name, words(spec, names)))
    for name, data, width in (("PRIMARY_INDEX", primary, 5), ("FD_INDEX", fd, 5), ("FB_INDEX", fb, 5),
                              ("ORTHO_INDEX", ortho, 4)):
        out.append(literal(name, index(data, width)))
    text = "".join(names.text)
    assert len(text) < 65536 and "\\" not in text and '"' not in text
    lines = []
    while text:
        lines.append(text[:90])
        text = text[90:]
    out.append("_TEXT = (\n%s)\n" % "".join('    "%s"\n' % line for line in lines))
    out.append(literal("_STARTS", bytes(b for s in names.starts for b in (s >> 8, s & 0xFF))))
    return "".join(out)


MARKER = "# ---- generated by tools/tablegen.py from the text tables there: do not edit below ----\n"


def current():
    with open(OUT, encoding="utf-8") as f:
        return f.read()


def main():
    now = current()
    text = render(now)
    if "--check" in sys.argv:
        if now != text:
            print("lib/mbus/tables.py is out of date: run python tools/tablegen.py")
            sys.exit(1)
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %s (%d bytes)" % (OUT, len(text.encode())))


if __name__ == "__main__":
    main()
