# Run by the MicroPython unix port (lib/ or its .mpy build on MICROPYPATH).
# Decodes every .hex file in the folders given on the command line.
#   default  one JSON line per file: {"file": name, "telegram": {...}} or
#            {"file": name, "error": "Class: message"}
#   --quiet  one short line per file, "name: ok" or "name: Class: message",
#            then "decoded N files": for the memory test, whose heap must
#            hold the decoder and one telegram, not its JSON. The caller
#            compares each outcome with CPython's, so a telegram that did
#            not fit the heap (a DecodeError here) is a failure there.
import gc
import os
import sys

import mbus

quiet = "--quiet" in sys.argv
count = 0
for folder in sys.argv[1:]:
    if folder.startswith("--"):
        continue
    for entry in os.ilistdir(folder):
        name = entry[0]
        if not name.endswith(".hex"):
            continue
        with open(folder + "/" + name) as f:
            raw = f.read()
        try:
            out = {"file": name, "telegram": mbus.decode(mbus.from_hex(raw))}
        except mbus.MBusError as e:
            out = {"file": name, "error": "%s: %s" % (type(e).__name__, e)}
        count += 1
        if quiet:
            print("%s: %s" % (name, out.get("error", "ok")))
        else:
            import json
            print(json.dumps(out))
        out = raw = None
        gc.collect()
print("decoded %d files" % count)
