# The commands that talk to meters through an M-Bus master: request, scans,
# select, set-address, switch-baudrate, reset, raw. Each returns an exit code.
import signal
import time

from mbus import requests as rq
from mbus.cli import decoding, device, output
from mbus.cli.errors import COLLISION, INTERRUPTED, NO_REPLY, OK, USAGE, CliError, from_exception
from mbus.cli.progress import Progress, mask_fraction
from mbus.errors import TransportError


def _closing(master, work):
    try:
        return work()
    finally:
        master.close()


def _stop(signum, frame):
    raise KeyboardInterrupt


def _stoppable():
    """Ctrl-C and SIGTERM end a scan with what it found so far, also when the
    shell that started it in the background ignores SIGINT."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop)


def _scan(master, work, partial, progress, args):
    """Run a scan; after Ctrl-C or a broken port, the partial result with
    interrupted true (and the port's error, re-raised once printed)."""
    _stoppable()
    failure = None
    try:
        result = _closing(master, work)
        result["interrupted"] = False
    except (KeyboardInterrupt, TransportError) as e:
        result = partial()
        result["interrupted"] = True
        if isinstance(e, TransportError):
            failure = from_exception(e, args.device)
            result["error"] = str(failure)
    finally:
        progress.clear()
    return result, failure


# -- request ----------------------------------------------------------------------------

def cmd_request(args):
    address = device.address(args.address, allow_network=True)
    if address == 255:
        raise CliError("nobody answers a request to 255 (broadcast without reply): use 254", USAGE)
    if args.max_frames < 1:
        raise CliError("--max-frames must be 1 or more", USAGE)
    master = device.open_master(args)
    result = _closing(master, lambda: master.read(address, multi=not args.single, max_frames=args.max_frames))
    received = time.time()
    if not result["complete"]:
        output.note(args, "note: the meter has more telegrams than the %d read (--max-frames)"
                    % len(result["frames"]) if not args.single else
                    "note: the meter has more telegrams (read without --single to get them all)")
    if args.raw:
        output.emit_text("\n".join(f.hex().upper() for f in result["frames"]))
    elif args.format == "xml":
        decoding.render(result["frames"], args, merge=True, timestamp=received)
    elif args.format == "json":
        output.emit_json(result["telegram"], args)
    else:
        output.emit_text(output.telegram_table(result["telegram"]))
    return OK


# -- scans --------------------------------------------------------------------------------

def cmd_scan_primary(args):
    if not 0 <= args.first <= args.last <= rq.MAX_PRIMARY:
        raise CliError("scan range must satisfy 0 <= --first <= --last <= 250", USAGE)
    addresses = range(args.first, args.last + 1)
    progress = Progress(False if args.quiet else None)
    seen = {"found": [], "collisions": [], "probes": 0}

    from mbus.scan import COLLISION as GARBLED, SINGLE

    def step(probes, a, outcome):
        seen["probes"] = probes
        if outcome == SINGLE:
            seen["found"].append(a)
        elif outcome == GARBLED:
            seen["collisions"].append(a)
        progress.update((a - args.first + 1) / len(addresses), "address %d of %d-%d  found %d" % (
            a, args.first, args.last, len(seen["found"])))

    master = device.open_master(args)
    progress.update(0, "address %d" % args.first, force=True)
    result, failure = _scan(master, lambda: master.scan_primary(addresses, step, device.retries(args, scan=True),
                                                                args.read),
                            lambda: dict(seen), progress, args)
    _print_primary_scan(result, args, len(addresses))
    return _finish(result, failure)


def _finish(result, failure):
    if failure is not None:
        raise failure
    return INTERRUPTED if result["interrupted"] else OK


def _print_primary_scan(result, args, span):
    if args.format == "json":
        output.emit_json(result, args)
        return
    read = result.get("secondary")
    rows = [("address", "answer")]
    for a in sorted(result["found"] + result["collisions"]):
        if a in result["collisions"]:
            rows.append((a, "garbled: several meters share this address"))
        elif read is not None and a in read:
            rows.append((a, "E5h, telegram from %s" % read[a]))
        else:
            rows.append((a, "E5h"))
    lines = [output.columns(rows, right=(0,))] if len(rows) > 1 else []
    lines.append("%d meter(s) found, %d collision(s); %d probes over %d addresses%s" % (
        len(result["found"]), len(result["collisions"]), result["probes"], span,
        "; interrupted" if result["interrupted"] else ""))
    output.emit_text("\n".join(lines))


def cmd_scan_secondary(args):
    from mbus.scan import COLLISION as GARBLED

    mask = device.secondary(args.mask)
    progress = Progress(False if args.quiet else None)
    master = device.open_master(args)
    # what the scan has found so far: its result after Ctrl-C or a broken port
    seen = {"found": [], "primary": {}, "collisions": [], "probes": 0}

    def step(probes, m, outcome):
        seen["probes"] = probes
        if outcome == GARBLED and "F" not in m:
            seen["collisions"].append(m)  # a full address that several meters share
        progress.update(mask_fraction(mask, m), "probe %d  mask %s  found %d" % (probes, m, len(seen["found"])))

    def found(secondary, primary):
        seen["found"].append(secondary)
        seen["primary"][secondary] = primary

    def partial():
        return dict(seen, found=sorted(seen["found"]), collisions=sorted(set(seen["collisions"])), verified=False)

    progress.update(0, "mask %s" % mask, force=True)
    result, failure = _scan(master, lambda: master.scan_secondary(mask, step, device.retries(args, scan=True),
                                                                  not args.no_verify, found),
                            partial, progress, args)
    result["mask"] = mask
    _print_secondary_scan(result, args)
    return _finish(result, failure)


def _print_secondary_scan(result, args):
    if args.format == "json":
        output.emit_json(result, args)
        return
    lines = []
    if result["found"]:
        rows = [("secondary address", "primary")]
        rows += [(s, result["primary"].get(s)) for s in result["found"]]
        lines.append(output.columns(rows, right=(1,)))
    for c in result["collisions"]:
        lines.append("collision under %s: meters there could not be told apart" % c)
    lines.append("%d meter(s) found under %s; %d probes; %s" % (
        len(result["found"]), result["mask"], result["probes"],
        "interrupted" if result["interrupted"] else
        "list verified complete" if result.get("verified") else "not verified (meters without CI 56h deselection)"))
    output.emit_text("\n".join(lines))


# -- commands to one meter -------------------------------------------------------------------

def _report(args, result, text):
    if args.format == "json":
        output.emit_json(result, args)
    else:
        output.emit_text(text)


def cmd_select(args):
    mask = device.secondary(args.mask)
    master = device.open_master(args)
    if not _closing(master, lambda: master.select(mask)):
        raise CliError("no meter answered the selection of %s" % mask, NO_REPLY)
    _report(args, {"mask": mask, "selected": True},
            "selected %s: read it with `mbus request 253` (primary address FDh)" % mask)
    return OK


def cmd_set_address(args):
    address = device.address(args.address)
    new = device.address(args.new)
    if not isinstance(new, int):
        raise CliError("the new primary address must be 0..250, got %s" % args.new, USAGE)
    master = device.open_master(args)

    def work():
        if not args.force and address != new and master.ping(new):
            raise CliError("a meter already answers at primary address %d: two meters there would collide "
                           "(use --force if it is the same meter)" % new, COLLISION)
        master.set_primary_address(address, new)
        if not master.ping(new):
            raise CliError("the meter acknowledged, but nothing answers at primary address %d" % new, NO_REPLY)

    _closing(master, work)
    _report(args, {"address": address, "new_address": new, "acknowledged": True},
            "%s now answers at primary address %d" % (_who(address), new))
    return OK


def cmd_switch_baudrate(args):
    address = device.address(args.address, allow_network=True)
    if args.rate not in rq.BAUDRATES:
        raise CliError("baud rate must be one of %s" % ", ".join(str(b) for b in rq.BAUDRATES), USAGE)
    master = device.open_master(args)
    _closing(master, lambda: master.switch_baudrate(address, args.rate))
    _report(args, {"address": address, "baudrate": args.rate, "acknowledged": True},
            "%s acknowledged: it now talks at %d baud (use --baudrate %d from now on)"
            % (_who(address), args.rate, args.rate))
    return OK


def cmd_reset(args):
    address = device.address(args.address, allow_network=True)
    if args.subcode is not None and not 0 <= args.subcode <= 255:
        raise CliError("--subcode must be one byte (0..255)", USAGE)
    master = device.open_master(args)
    _closing(master, lambda: master.application_reset(address, args.subcode))
    result = {"address": address, "reset": True}
    if args.subcode is not None:
        result["subcode"] = args.subcode
    _report(args, result, "%s: application reset %s" % (
        _who(address), "sent (broadcast, no answer expected)" if address == 255 else "acknowledged"))
    return OK


def _who(address):
    return "meter %s" % address if isinstance(address, str) else "primary address %d" % address


# -- raw ---------------------------------------------------------------------------------------

def cmd_raw(args):
    from mbus import frame as fr
    from mbus.errors import MBusError

    sent = decoding.read_input(" ".join(args.bytes))
    expect_reply = True
    try:
        kind, c, a, _, _, _ = fr.parse(sent)
        expect_reply = a != fr.ADDR_BROADCAST
    except MBusError:
        output.note(args, "note: these bytes are not one valid frame; sending them anyway")
    master = device.open_master(args)
    reply = _closing(master, lambda: _exchange(master, sent, expect_reply, args.listen))
    result = {"sent": sent.hex().upper(), "reply": reply.hex().upper(), "frames": []}
    frames = []
    code = OK
    problem = None
    if reply:
        try:
            frames = decoding.split_frames(reply, "reply")
            result["frames"] = [decoding.describe(f) for f in frames]
        except MBusError as e:
            problem = result["error"] = "the reply is not a sequence of valid frames (collision or noise): %s" % e
            code = COLLISION
    elif expect_reply:
        problem = "no reply within %d ms" % (args.listen or master.core.reply_ms)
        code = NO_REPLY
    if args.format == "xml":
        longs = [f for f in frames if f[0] == fr.START_LONG]
        if longs:
            decoding.render(longs, args, merge=len(longs) > 1)
    elif args.format == "json":
        output.emit_json(result, args)
    else:
        lines = ["sent   %s" % " ".join("%02X" % b for b in sent),
                 "reply  %s" % (" ".join("%02X" % b for b in reply) or "(nothing)")]
        for item in result["frames"]:
            lines.append(output.telegram_table(item) if "header" in item else output.frame_table(item))
        output.emit_text("\n".join(lines))
    if problem:
        raise CliError(problem, code)
    return OK


def _exchange(master, data, expect_reply, listen_ms):
    """Write data; collect what comes back until the line is quiet. No
    retries and no framing: raw shows the line as it is."""
    t = master.transport
    p = master.core
    while t.read(0):
        pass  # a late answer to something earlier is not this reply
    t.write(data)
    on_line = p.bits_ms(11 * len(data))
    if not expect_reply:
        time.sleep((on_line + p.settle_ms) / 1000)
        return b""
    reply = bytearray(t.read(on_line + (listen_ms or p.reply_ms)))
    while reply:
        more = t.read(p.char_timeout_ms)
        if not more:
            break
        reply += more
    return bytes(reply)


# -- the commands' arguments (mbus.cli.build_parser reads COMMANDS) ---------------------------

def _arg(*flags, **options):
    return flags, options


# name, function, help, description, arguments, device options, output formats
COMMANDS = (
    ("request", cmd_request, "read one meter (all its telegrams)",
     "Read a meter by primary address (0..250; 253 = the meter selected with `mbus select`, 254 = whoever "
     "answers) or by secondary address (16 hex digits, F = any), following its multi-telegram answer.",
     (_arg("address", metavar="ADDRESS"),
      _arg("--single", action="store_true", help="read one telegram only"),
      _arg("--max-frames", type=int, default=16, metavar="N", help="telegrams to read at most (16)"),
      _arg("--raw", action="store_true", help="print the frames as hex, one per line")), True, "xml"),
    ("scan-primary", cmd_scan_primary, "find meters by primary address",
     "Send SND_NKE to every primary address in the range; an E5h means a meter, a garbled answer means "
     "several meters share the address. Ctrl-C prints what was found so far.",
     (_arg("--first", type=int, default=0, metavar="A", help="first address (0)"),
      _arg("--last", type=int, default=250, metavar="A", help="last address (250)"),
      _arg("--read", action="store_true", help="also read every address that answered: a garbled telegram is "
           "a collision that identical E5h answers hid (a telegram per meter)")), True, "plain"),
    ("scan-secondary", cmd_scan_secondary, "find meters by secondary address",
     "Wildcard search over secondary addresses (identification, manufacturer, version, medium), splitting "
     "every nibble where several meters answer, then a verification pass with the found meters deselected. "
     "Ctrl-C prints what was found so far.",
     (_arg("mask", nargs="?", default=rq.WILDCARD, metavar="MASK",
           help="start mask, F = any nibble (default FFFFFFFFFFFFFFFF)"),
      _arg("--no-verify", action="store_true", help="skip the verification pass")), True, "plain"),
    ("select", cmd_select, "select a meter by secondary address",
     "Select the meter matching MASK (F = any nibble), so that primary address 253 (FDh) reaches it: "
     "`mbus request 253` reads it afterwards.",
     (_arg("mask", metavar="MASK"),), True, "plain"),
    ("set-address", cmd_set_address, "give a meter a new primary address",
     "Write a new primary address into the meter at ADDRESS (primary or secondary). Refuses when another "
     "meter already answers at NEW, and checks the meter answers there afterwards.",
     (_arg("address", metavar="ADDRESS"), _arg("new", metavar="NEW"),
      _arg("--force", action="store_true", help="do not check that NEW is free first")), True, "plain"),
    ("switch-baudrate", cmd_switch_baudrate, "make a meter talk at another baud rate",
     "Tell the meter at ADDRESS to switch to RATE (300, 600, 1200, 2400, 4800, 9600, 19200 or 38400 baud) "
     "after its acknowledgement.",
     (_arg("address", metavar="ADDRESS"), _arg("rate", type=int, metavar="RATE")), True, "plain"),
    ("reset", cmd_reset, "application reset of a meter",
     "Send an application reset (SND_UD, CI 50h) to ADDRESS: the meter restarts its telegram sequence. "
     "255 resets every meter (no answer).",
     (_arg("address", metavar="ADDRESS"),
      _arg("--subcode", type=int, metavar="N", help="application reset subcode byte")), True, "plain"),
    ("raw", cmd_raw, "send bytes, print the reply",
     "Send BYTES (hex, e.g. 10 5B 01 5C 16) as they are and print what comes back until the line is quiet, "
     "decoded where it forms frames.",
     (_arg("bytes", nargs="+", metavar="BYTES"),
      _arg("--listen", type=int, metavar="MS", help="wait this long for the first reply byte")), True, "xml"),
)
