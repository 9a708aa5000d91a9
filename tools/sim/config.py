"""The simulator's JSON config (documented in README, section "Simulator").

{"baudrate": 2400, "seed": 1, "corpus": "path", "echo": false,
 "defaults": {slave keys applied to every slave},
 "faults": {"no_reply": p, "bad_checksum": p, "truncate": p, "noise": p, "slow": p, "echo": p,
            "collision": p, "slow_ms": 250},
 "slaves": [
   {"name": "heat", "primary": 1, "secondary": "16 hex (optional)",
    "telegrams": ["test-frames/x.hex", {"file": "...", "more_records_follow": true}, {"hex": "68 ..."}],
    "response_delay_bits": 11, "response_delay_ms": 5, "wildcards": "nibble" | "byte",
    "count_access": false, "faults": {...}},
   {"generate": {"count": 10, "template": "test-frames/x.hex", "id_start": "12345600", "id_step": 1,
                 "primary_start": 1, "manufacturer": "2D2C", "version": "01", "medium": "07"}}]}

A fault value is a probability, or {"probability": p, "limit": n} to stop
after n injections.
"""
import json
import os
import random

from sim import telegrams as tg
from sim.slave import Slave

FAULTS = ("no_reply", "bad_checksum", "truncate", "noise", "slow", "echo", "collision")
SLAVE_KEYS = ("name", "primary", "secondary", "telegrams", "response_delay_bits", "response_delay_ms",
              "wildcards", "count_access", "faults", "baudrate")
GENERATE_KEYS = ("count", "template", "id_start", "id_step", "primary_start", "manufacturer", "version",
                 "medium", "name")
TOP_KEYS = ("baudrate", "seed", "corpus", "echo", "defaults", "faults", "slaves", "comment")


class ConfigError(ValueError):
    pass


class Bus:
    """Everything the server needs: line settings and the slaves."""

    def __init__(self, baudrate, seed, echo, faults, slaves):
        self.baudrate = baudrate
        self.seed = seed
        self.echo = echo
        self.faults = faults
        self.slaves = slaves


def _unknown(d, allowed, where):
    extra = sorted(set(d) - set(allowed))
    if extra:
        raise ConfigError("%s: unknown key(s) %s (allowed: %s)" % (where, ", ".join(extra), ", ".join(allowed)))


def check_faults(faults, where):
    if not isinstance(faults, dict):
        raise ConfigError("%s: faults must be an object" % where)
    _unknown(faults, FAULTS + ("slow_ms",), where + " faults")
    out = {}
    for k, v in faults.items():
        if k == "slow_ms":
            if not isinstance(v, (int, float)) or v < 0:
                raise ConfigError("%s: slow_ms must be a number >= 0" % where)
            out[k] = v
            continue
        limit = None
        if isinstance(v, dict):
            _unknown(v, ("probability", "limit"), "%s fault %s" % (where, k))
            limit = v.get("limit")
            v = v.get("probability", 1.0)
        if not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ConfigError("%s: fault %s must be a probability 0..1" % (where, k))
        out[k] = [float(v), limit]
    return out


def _telegram(entry, corpus, where):
    if isinstance(entry, str):
        entry = {"file": entry}
    if not isinstance(entry, dict):
        raise ConfigError("%s: a telegram is a file name or an object" % where)
    _unknown(entry, ("file", "hex", "more_records_follow"), where)
    more = entry.get("more_records_follow", False)
    try:
        if "hex" in entry:
            data = tg.from_hex(entry["hex"])
            tg.frame.parse(data)
        elif "file" in entry:
            path = entry["file"]
            data = tg.load(path if os.path.isabs(path) else os.path.join(corpus, path))
        else:
            raise ConfigError("%s: a telegram needs 'file' or 'hex'" % where)
    except (OSError, ValueError, tg.frame.FrameError) as e:
        raise ConfigError("%s: %s" % (where, e))
    return tg.with_more_records(data) if more else data


def _slave(d, defaults, corpus, rng, baudrate, index):
    where = "slave %d" % index
    merged = dict(defaults)
    merged.update(d)
    _unknown(merged, SLAVE_KEYS, where)
    name = merged.get("name") or "meter%d" % index
    where = "slave %d (%s)" % (index, name)
    raw = merged.get("telegrams")
    if not raw:
        raise ConfigError("%s: needs at least one telegram" % where)
    if not isinstance(raw, list):
        raw = [raw]
    frames = [_telegram(t, corpus, "%s telegram %d" % (where, i + 1)) for i, t in enumerate(raw)]
    secondary = merged.get("secondary")
    try:
        if secondary is not None:
            secondary = tg.rq.normalize_secondary(secondary)
            frames = [tg.with_secondary(f, secondary) for f in frames]
        else:
            secondary = tg.secondary_of(frames[0])
    except ValueError as e:
        raise ConfigError("%s: %s" % (where, e))
    if tg.more_records_follow(frames[-1]):
        frames.append(tg.closing(frames[-1]))  # a sequence must end somewhere
    if "response_delay_ms" in merged:
        delay = merged["response_delay_ms"] * baudrate / 1000
    elif merged.get("response_delay_bits") is not None:
        delay = merged["response_delay_bits"]
    else:
        delay = rng.randint(11, 44)  # meters differ; EN 13757-2 allows 11..330 bit times + 50 ms
    try:
        return Slave(name, merged.get("primary", 0), secondary, frames, response_delay_bits=delay,
                     wildcards=merged.get("wildcards", "nibble"),
                     faults=check_faults(merged.get("faults", {}), where),
                     count_access=bool(merged.get("count_access", False)), baudrate=merged.get("baudrate"))
    except ValueError as e:
        raise ConfigError("%s: %s" % (where, e))


def _generate(g, index, corpus):
    """Expand a generate entry: count meters from one template telegram, with
    consecutive identification numbers and optional header overrides."""
    where = "slaves[%d].generate" % index
    _unknown(g, GENERATE_KEYS, where)
    for k in ("count", "template", "id_start"):
        if k not in g:
            raise ConfigError("%s: needs %r" % (where, k))
    base = tg.secondary_of(_telegram(g["template"], corpus, where))
    tail = (g.get("manufacturer") or base[8:12]) + (g.get("version") or base[12:14]) + (g.get("medium") or base[14:16])
    try:
        first = int(str(g["id_start"]), 10)
    except ValueError:
        raise ConfigError("%s: id_start must be 8 decimal digits" % where)
    out = []
    for i in range(g["count"]):
        entry = {"name": "%s%d" % (g.get("name", "gen"), i + 1), "telegrams": [g["template"]],
                 "secondary": "%08d%s" % (first + i * g.get("id_step", 1), tail)}
        if "primary_start" in g:
            entry["primary"] = g["primary_start"] + i
        out.append(entry)
    return out


def load(path, seed=None):
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError("cannot read config %s: %s" % (path, e))
    if not isinstance(cfg, dict):
        raise ConfigError("%s: the config must be a JSON object" % path)
    return build(cfg, os.path.dirname(os.path.abspath(path)), seed)


def build(cfg, base=".", seed=None):
    _unknown(cfg, TOP_KEYS, "config")
    baudrate = cfg.get("baudrate", 2400)
    if baudrate not in tg.rq.BAUDRATES:
        raise ConfigError("config: baudrate must be one of %s" % (tg.rq.BAUDRATES,))
    seed = cfg.get("seed", 0) if seed is None else seed
    rng = random.Random(seed)
    corpus = cfg.get("corpus")
    corpus = tg.corpus_dir() if corpus is None else os.path.join(base, corpus)
    defaults = cfg.get("defaults", {})
    _unknown(defaults, SLAVE_KEYS, "defaults")
    slaves = []
    for i, d in enumerate(cfg.get("slaves", [])):
        if not isinstance(d, dict):
            raise ConfigError("slaves[%d] must be an object" % i)
        if "generate" in d:
            for e in _generate(d["generate"], i, corpus):
                slaves.append(_slave(e, defaults, corpus, rng, baudrate, len(slaves) + 1))
        else:
            slaves.append(_slave(d, defaults, corpus, rng, baudrate, len(slaves) + 1))
    if not slaves:
        raise ConfigError("config: no slaves")
    return Bus(baudrate, seed, bool(cfg.get("echo", False)), check_faults(cfg.get("faults", {}), "config"), slaves)
