# Rendering results: JSON (the default, the mbus.decode contract), readable
# tables for people, and libmbus's XML (mbus.cli.libmbus_xml) for old scripts.
import json
import sys

FORMATS = ("json", "table", "xml")


def add_options(parser, xml=True):
    g = parser.add_argument_group("output")
    g.add_argument("-f", "--format", choices=FORMATS if xml else FORMATS[:2], default="json",
                   help="json (default), table%s" % (", or xml as libmbus prints it" if xml else ""))
    g.add_argument("--indent", type=int, default=2, metavar="N",
                   help="JSON indentation; 0 prints one line (default 2)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress display, no notes on stderr")


def emit_json(obj, args, out=None):
    out = out or sys.stdout
    indent = args.indent if args.indent and args.indent > 0 else None
    out.write(json.dumps(obj, indent=indent, ensure_ascii=False, separators=None if indent else (",", ":")))
    out.write("\n")
    out.flush()


def emit_text(text, out=None):
    out = out or sys.stdout
    out.write(text if text.endswith("\n") else text + "\n")
    out.flush()


def note(args, text):
    """A remark for the person at the terminal, on stderr (never in the data)."""
    if not getattr(args, "quiet", False):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


# -- tables -------------------------------------------------------------------------

def columns(rows, right=()):
    """Rows of cells as aligned text; the first row is the heading."""
    rows = [[_cell(c) for c in r] for r in rows]
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.rjust(w) if k in right else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _cell(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def telegram_table(t):
    """A decoded telegram (mbus.decode / mbus.merge) for people."""
    h = t.get("header") or {}
    f = t.get("frame") or {}
    lines = []
    if h.get("id") is not None:
        lines.append("meter %s  %s  version %s  %s  secondary address %s" % (
            h["id"], h.get("manufacturer"), h.get("version"), h.get("medium"), h.get("secondary_address")))
        status = "%02X" % h["status"] if isinstance(h.get("status"), int) else "-"
        flags = h.get("status_flags")
        lines.append("primary address %s  access number %s  status %s%s  signature %04X" % (
            f.get("a"), h.get("access_number"), status, " (%s)" % ", ".join(flags) if flags else "",
            h.get("signature") or 0))
    if "error" in t:
        lines.append("application error %s: %s" % (t["error"].get("code"), t["error"].get("message")))
    if "alarm" in t:
        lines.append("alarm: %s" % (t["alarm"],))
    records = t.get("records") or []
    if records:
        rows = [("#", "function", "storage", "tariff", "subunit", "quantity", "value", "unit")]
        for k, r in enumerate(records):
            value = r.get("value")
            if value is None and r.get("invalid"):
                value = "invalid: %s" % r["invalid"]
            quantity = r.get("quantity")
            if r.get("modifiers"):
                quantity = "%s (%s)" % (quantity, ", ".join(r["modifiers"]))
            if r.get("record_error"):
                quantity = "%s [%s]" % (quantity, r["record_error"])
            rows.append((k, r.get("function"), r.get("storage"), r.get("tariff"), r.get("subunit"), quantity,
                         value, r.get("unit") or ""))
        lines.append(columns(rows, right=(0, 2, 3, 4, 6)))
    elif "error" not in t:
        lines.append("no records")
    if t.get("manufacturer_data"):
        lines.append("manufacturer data: %s" % t["manufacturer_data"])
    if t.get("more_records_follow"):
        lines.append("more records follow (the meter has another telegram)")
    return "\n".join(lines)


def frame_table(f):
    """A frame that carries no telegram (E5h, a master's short or control frame)."""
    fr = f["frame"]
    if fr["type"] == "ack":
        return "E5h acknowledgement"
    parts = ["%s frame" % fr["type"]]
    for key in ("c", "a", "ci"):
        if fr.get(key) is not None:
            parts.append("%s %02Xh" % (key.upper(), fr[key]))
    return "  ".join(parts)
