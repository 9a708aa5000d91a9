# Run by the MicroPython unix port: reads frames as hex, one per line, from
# stdin and answers each with one JSON line, {"telegram": {...}} or
# {"error": "Class: message"} (host_tests/same_decode.py compares them with
# CPython's).
import json
import sys

import mbus

while True:
    line = sys.stdin.readline()
    if not line:
        break
    try:
        out = {"telegram": mbus.decode(mbus.from_hex(line))}
    except mbus.MBusError as e:
        out = {"error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(out))
