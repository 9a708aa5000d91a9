"""Heap the bus master costs on MicroPython (run by bus_bench.py on the unix port):

    micropython -X heapsize=112wK tools/bench/bus_memory.py HOST PORT ADDRESS

Prints one JSON line: bytes allocated by importing the master path, by the
scan module, by an AsyncMaster with its TCP transport, and by one read.
"""
import gc
import json
import sys


KEYS = ("import_master_tcp", "import_decoder", "import_scan", "async_master_and_transport", "frame_bytes",
        "read_result", "state_after_first_read")


def alloc():
    gc.collect()
    return gc.mem_alloc()


async def main(host, port, address):
    out = {}
    a = alloc()
    import mbus.master  # noqa: F401
    import mbus.tcp  # noqa: F401

    out["import_master_tcp"] = alloc() - a
    a = alloc()
    import mbus.telegram  # noqa: F401

    out["import_decoder"] = alloc() - a
    a = alloc()
    import mbus.scan  # noqa: F401

    out["import_scan"] = alloc() - a
    a = alloc()
    from mbus.master import AsyncMaster
    from mbus.transport import AsyncTcpTransport

    m = AsyncMaster(AsyncTcpTransport(host, port), reply_timeout_ms=100)
    out["async_master_and_transport"] = alloc() - a
    a = alloc()
    r = await m.read(address)
    out["frame_bytes"] = len(r["frames"][0])
    held = alloc()
    del r
    await m.select("FFFFFFFFFFFFFFFF")  # lets go of anything the last step still holds
    out["read_result"] = held - alloc()
    out["state_after_first_read"] = alloc() - a
    await m.close()
    print(json.dumps([[k, out[k]] for k in KEYS]))


import asyncio  # noqa: E402

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
