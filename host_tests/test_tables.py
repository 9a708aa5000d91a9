"""The generated tables: current with tools/tablegen.py and well formed."""
import re

import tablegen
from mbus import tables as T

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def test_tables_py_is_generated_from_tablegen():
    with open(tablegen.OUT, encoding="utf-8") as f:
        assert f.read() == tablegen.render(tablegen.current()), "run python tools/tablegen.py"


def test_kind_numbers_match_the_generator():
    assert [getattr(T, k) for k in ("DEC", "DURATION", "TIMEPOINT", "PLAIN", "RESERVED")] == [0, 1, 2, 3, 4]
    assert [T.LABEL, T.ERROR, T.PER, T.TIMES, T.DATE_OF, T.DURATION_OF, T.SCALE, T.OFFSET, T.NEXT_TABLE,
            T.MANUFACTURER, T.PULSE] == list(range(len(tablegen.ORTHO_KINDS)))


def vif_rows(rows, index):
    for code in range(128):
        r = index[code] * T.VIF_ROW
        assert rows[r] <= code and (r + T.VIF_ROW >= len(rows) or rows[r + T.VIF_ROW] > code)
        yield code, T.name(rows[r + 1]), T.name(rows[r + 2]), rows[r + 3] - 128, rows[r + 4]


def test_every_vif_code_resolves_to_a_snake_case_quantity():
    quantities = set()
    for rows, index in ((T.PRIMARY, T.PRIMARY_INDEX), (T.EXT_FD, T.FD_INDEX), (T.EXT_FB, T.FB_INDEX)):
        for code, quantity, unit, exp, kind in vif_rows(rows, index):
            assert SNAKE.match(quantity), quantity
            assert kind in (T.DEC, T.DURATION, T.TIMEPOINT, T.PLAIN, T.RESERVED, T.DAYLIGHT)
            if kind == T.DURATION:
                assert unit == "s"
            quantities.add(quantity)
    assert {"energy", "volume", "mass", "power", "volume_flow", "mass_flow", "flow_temperature",
            "return_temperature", "temperature_difference", "external_temperature", "pressure", "on_time",
            "operating_time", "date", "datetime", "fabrication_number", "voltage", "current"} <= quantities


def test_duration_rows_stay_inside_duration_seconds():
    for rows, index in ((T.PRIMARY, T.PRIMARY_INDEX), (T.EXT_FD, T.FD_INDEX), (T.EXT_FB, T.FB_INDEX)):
        for code, quantity, unit, exp, kind in vif_rows(rows, index):
            if kind == T.DURATION:
                assert 0 <= exp < len(T.DURATION_S), (quantity, code)


def test_orthogonal_table_covers_every_code():
    for code in range(128):
        r = T.ORTHO_INDEX[code] * T.ORTHO_ROW
        assert T.ORTHO[r] <= code
        assert T.ORTHO[r + 1] <= T.PULSE


def test_name_lists():
    assert T.listed(T.MEDIUMS, 2) == "electricity" and T.listed(T.MEDIUMS, 0x37) == "radio_converter_meter"
    assert T.listed(T.MEDIUMS, len(T.MEDIUMS)) is None
    assert T.listed(T.FIXED_MEDIUMS, 7) == "water"
    assert T.listed(T.RECORD_ERRORS, 0x15) == "no_data" and T.listed(T.RECORD_ERRORS, 8) == "reserved"
    assert T.listed(T.APPLICATION_ERRORS, 9) == "too_many_readouts"
    assert T.listed(T.ORTHO_EXT, 1) == "at_phase_l1" and T.listed(T.ORTHO_EXT, 0x10) == "accumulation_absolute"
    assert T.listed(T.ORTHO_EXT, 0x15) == "direction_from_meter"
    assert T.name(T.PRIMARY[1]) is T.name(T.PRIMARY[1])  # one str per name


def test_more_names_than_one_byte_counts_resolve():
    # Rows number names from 0, the lists from WORDS: together past 255.
    count = len(T._STARTS) // 2 - 1
    assert count > 256 and T.WORDS + 255 >= count - 1
    names = [T.name(k) for k in range(count)]
    assert len(set(names)) == count
    assert T.listed(T.MEDIUMS, 0) == "other" and T.name(T.EXT_FB[1]) == "energy"
