"""Run master operations against a TCP bus; one JSON result line per operation.

    micropython host_tests/bus/run_ops.py SPEC_FILE
    python      host_tests/bus/run_ops.py SPEC_FILE

SPEC_FILE holds {"host", "port", "driver": "sync" | "async", "options": {Master
options}, "ops": [[method, [args], {kwargs}], ...]}. The same file runs on
CPython and on the MicroPython unix port: that is how host_tests check that
both interpreters behave alike. A result line is {"ok": result} or {"error":
class name, "message": text}; bytes become hex strings.
"""
import json
import sys

from binascii import hexlify

from mbus import MBusError


def plain(x):
    if isinstance(x, (bytes, bytearray)):
        return hexlify(x).decode()
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


def emit(result):
    print(json.dumps(plain(result)))


def run_sync(spec):
    from mbus.master import Master
    from mbus.transport import TcpTransport

    m = Master(TcpTransport(spec["host"], spec["port"]), **spec.get("options", {}))
    for name, args, kw in spec["ops"]:
        try:
            emit({"ok": getattr(m, name)(*args, **kw)})
        except MBusError as e:
            emit({"error": e.__class__.__name__, "message": str(e)})
    emit({"sent": m.core.sent, "failed": m.core.failed})
    m.close()


async def run_async(spec):
    from mbus.master import AsyncMaster
    from mbus.transport import AsyncTcpTransport

    m = AsyncMaster(AsyncTcpTransport(spec["host"], spec["port"]), **spec.get("options", {}))
    for name, args, kw in spec["ops"]:
        try:
            emit({"ok": await getattr(m, name)(*args, **kw)})
        except MBusError as e:
            emit({"error": e.__class__.__name__, "message": str(e)})
    emit({"sent": m.core.sent, "failed": m.core.failed})
    await m.close()


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    if spec.get("driver") == "async":
        import asyncio

        asyncio.run(run_async(spec))
    else:
        run_sync(spec)


main()
