# The decoder alone (no fuzzing code beside it) on a pack of inputs, on the
# MicroPython unix port: how many fit the heap, and how much heap the
# largest decoded telegram holds. Run by tools/fuzz/campaign.py:
#
#   micropython -X heapsize=32wK tools/fuzz/heap_probe.py inputs.bin          every input
#   micropython -X heapsize=20wK tools/fuzz/heap_probe.py inputs.bin 17       input 17 only
#
# Prints "probe KEY VALUE" lines. An input "fits" when decode returns or
# raises any MBusError but the decoder's "does not fit the free heap".
import gc
import sys

import mbus

mbus.decode  # the decoder's modules, before anything else takes heap
gc.collect()
print("probe free", gc.mem_free())
f = open(sys.argv[1], "rb")
only = int(sys.argv[2]) if len(sys.argv) > 2 else -1
k = fits = heap = 0
peak = peak_at = 0
while True:
    head = f.read(2)
    if len(head) < 2:
        break
    data = f.read(head[0] | head[1] << 8)
    if only < 0 or k == only:
        gc.collect()
        a0 = gc.mem_alloc()
        tg = None
        try:
            tg = mbus.decode(data)
        except mbus.MBusError as e:
            if "free heap" in str(e):
                heap += 1
                fits -= 1
        fits += 1
        gc.collect()
        if gc.mem_alloc() - a0 > peak:
            peak, peak_at = gc.mem_alloc() - a0, k
        tg = data = None
    k += 1
print("probe inputs", k if only < 0 else 1)
print("probe fits", fits)
print("probe heap", heap)
print("probe retained", peak)
print("probe retained_at", peak_at)
