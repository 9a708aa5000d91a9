"""Hand-built date/time records (DIF VIF data, hex) shared by the CPython
tests (test_telegram.py) and the MicroPython equality test."""

# (records, value) of the types G, F, J, I.
DATE_TIME_VALUES = [
    ("02 6C DF1C", "2014-12-31"),  # type G
    ("04 6D 1A2F6511", "2011-01-05T15:26"),  # type F (hundred-year bits 01: 2011)
    ("04 6D 1A0F6511", "2011-01-05T15:26"),  # type F without hundred-year bits
    ("03 6D 38220C", "12:34:56"),  # type J
    ("06 6D 1E28B5B21A2A", "2013-10-18T21:40:30"),  # type I
    ("02 6C E1F1", "--01-01"),  # year 127: every year
]

# (records, why) of date/time data flagged or out of range.
DATE_TIME_INVALID = [
    ("02 6C 0000", "date out of range"),
    ("04 6D 9A2F6511", "date/time flagged invalid"),  # IV bit
    ("04 6D 3C2F6511", "date/time out of range"),  # minute 60
    ("06 6D 1EA8B5B21A2A", "date/time flagged invalid"),  # type I IV bit
    ("03 6D 382218", "time out of range"),  # hour 24
    ("01 6D 05", "no date/time type is 1 bytes long"),
]

# (records, value, daylight_saving) of type K, VIF FDh 72h. Data bytes, low
# byte first: hour begins; enabled bit 7 + day begins; deviation sign bit 7,
# hours in bits 5-6 + day ends; month ends (high nibble), month begins.
DAYLIGHT_SAVING_VALUES = [
    ("04 FD 72 029FBBA3", "--03-31T02:00/--10-27",
     {"begin": "--03-31T02:00", "end": "--10-27", "deviation_h": 1, "enabled": True}),
    ("04 FD 72 0301454A", "--10-01T03:00/--04-05",
     {"begin": "--10-01T03:00", "end": "--04-05", "deviation_h": -2, "enabled": False}),
    # Bits 5-7 and 13-14 (deviation of local time to GMT) stay in raw only.
    ("04 FD 72 22FFBBA3", "--03-31T02:00/--10-27",
     {"begin": "--03-31T02:00", "end": "--10-27", "deviation_h": 1, "enabled": True}),
]

DAYLIGHT_SAVING_INVALID = [
    ("04 FD 72 00000000", "daylight saving rule out of range"),  # nothing set
    ("04 FD 72 029FBBAD", "daylight saving rule out of range"),  # month 13
    ("04 FD 72 189FBBA3", "daylight saving rule out of range"),  # hour 24
    ("04 FD 72 029FA0A3", "daylight saving rule out of range"),  # end day 0
    ("02 FD 72 029F", "type K is 4 bytes, not 2"),
    ("06 FD 72 029FBBA30000", "type K is 4 bytes, not 6"),
]
