#!/usr/bin/python3
"""tests/features/prop.py ENGRAM [--seed S] [--seeds N] [--events N] [--keep] [--no-shrink]
— the property test of `engram features` (issue 22, docs/FEATURES.md).

The oracle: every feature of every label row equals a plain recomputation
here, from the events as `engram read --format ndjson` prints them, by the
semantics of docs/FEATURES.md: an event counts for feature f of row (e, c, k)
when its entity is e, its type is one of f's types, lo <= time < c (<= c
with "inclusive"), recorded <= k, and it is no heartbeat and in no $ stream.

For each seed:
1. A small store of events of types a, b and c about 3-8 customers
   (data.customer: strings, numbers, and a few absent, null, true or an
   object, which have no entity) in 3-8 streams, with numbers and strings
   at data.v and data.s.  Many are late by hours (recorded > time), a few
   early; recorded comes in runs of equal values (loads every 10 minutes),
   given on every line through `engram append --keep-recorded` in two
   calls; sometimes a heartbeat after them.
2. Random label rows, CSV or NDJSON: cutoffs equal to event times and to
   event times plus a window (both bounds exactly), before every event,
   after every event, in RFC 3339 with offsets or epoch ms; entities never
   seen; with --cutoff-known-at sometimes a known_at earlier or later than
   the cutoff, or equal to an event's recorded.
3. A random spec with every aggregate (count sum avg min max first last
   count_distinct since_last ratio, with and without types and window),
   ttl, inclusive, and sometimes projection features (a projection keyed
   by the spec's entity with a sum and a count field).
4. `engram features SPEC --labels L --format ndjson --out O --leakage-report
   --leakage-out F`: every value equals the oracle's, the label columns
   pass through unchanged and in order, and for every feature the leakage
   report's rows_differ equals the number of rows whose guarded value
   differs from the naive one (the same computation without recorded <= k),
   abs_diff equals the sum of |guarded - naive| (null as 0; first and last
   add 0), and each example is a differing row with the late events that
   made it differ.  The same run as CSV has the same rows (null as an
   empty field), and `--entity E --at C --known-at K` gives the features
   of label rows (E, C, K).  Then more events are appended and `engram features
   --check O.manifest.json` must still exit 0 (the manifest's head bounds
   what it reads).

Exact kinds (count, count_distinct: integers; sum, min, max, projection
sums: decimals) are compared exactly; avg, ratio and since_last (doubles)
to 1e-12 relative.  Seeded: the seed is printed first; on a mismatch the
seed, the first difference and a shrunk case (one label row, the feature
and what it needs, as few events as still differ) are printed.
Exit 0 when every seed agrees, 1 otherwise.
"""
import argparse
import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal, localcontext

E = None                     # the engram binary
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US = 1
MS = 1000
SEC = 1000000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = None                    # set in main: 2025-03-01T00:00:00Z
SPAN = 6 * DAY               # events happen in [T0, T0 + SPAN)
FAR_KNOWN_AT = "2030-01-01T00:00:00Z"   # after the wall clock: heartbeats' and --check's appends are known
MISSING = object()           # a path that is not there


# ------------------------------------------------------------- JSON, times

class Num:
    """A JSON number with its text, so that count_distinct can key numbers
    by their JSON text (1 and 1.0 differ) and sums stay exact."""
    __slots__ = ("text", "dec")

    def __init__(self, text):
        self.text = text
        self.dec = Decimal(text)

    def __eq__(self, other):
        return isinstance(other, Num) and self.dec == other.dec

    def __hash__(self):
        return hash(self.dec)

    def __repr__(self):
        return self.text


def loads(text):
    return json.loads(text, parse_int=Num, parse_float=Num)


def jtext(v):
    """The JSON text of a parsed value (compact; numbers as written)."""
    if isinstance(v, Num):
        return v.text
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jtext(x)
                              for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(jtext(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def jeq(a, b):
    """JSON values equal, numbers by value."""
    if isinstance(a, Num) or isinstance(b, Num):
        return isinstance(a, Num) and isinstance(b, Num) and a.dec == b.dec
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(jeq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(jeq, a, b))
    return type(a) is type(b) and a == b


def parse_time(v):
    """Epoch microseconds of an RFC 3339 text (any offset) or epoch ms."""
    if isinstance(v, Num):
        v = v.text
    if isinstance(v, int) or (isinstance(v, str) and v.lstrip("-").isdigit()):
        return int(v) * MS
    dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    return (dt - EPOCH) // timedelta(microseconds=1)


def fmt_time(us, offset_min=0):
    """RFC 3339 with microseconds, in UTC (Z) or at an offset."""
    dt = EPOCH + timedelta(microseconds=us)
    if offset_min == 0:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.astimezone(timezone(timedelta(minutes=offset_min))).isoformat(timespec="microseconds")


def dur_us(text):
    """A duration like 1h30m, 36h, 2d in microseconds."""
    units = {"us": US, "ms": MS, "s": SEC, "m": MIN, "h": HOUR, "d": DAY}
    total, num, i = 0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit():
            num += ch
            i += 1
            continue
        unit = text[i:i + 2] if text[i:i + 2] in ("us", "ms") else ch
        total += int(num) * units[unit]
        num, i = "", i + len(unit)
    return total


# ------------------------------------------------------------- the store

def engram(store, args, data=None, cwd=None, ok=(0,)):
    p = subprocess.run([E, "-d", store] + args, input=data, capture_output=True, cwd=cwd)
    if p.returncode not in ok:
        raise EngramError("engram %s exited %d: %s" % (" ".join(args), p.returncode,
                                                        p.stderr.decode(errors="replace")[-800:]),
                          p.returncode)
    return p


class Fail(Exception):
    """A difference from the oracle (or an engram that failed)."""


class ValueFail(Fail):
    """A feature's value differs from the oracle's."""


class LeakFail(Fail):
    """The leakage report differs from the oracle's."""


class CheckFail(Fail):
    """features --check disagreed: nothing to shrink."""


class EngramError(Fail):
    """An engram command exited with an unexpected code."""

    def __init__(self, msg, code):
        Fail.__init__(self, msg)
        self.code = code


def event_line(ev):
    """One input line; data is written by hand so that number texts and
    string escapes are exactly what the event holds."""
    parts = ['"%s":%s' % (k, raw) for k, raw in ev["data"]]
    return ('{"id":%s,"stream":%s,"type":%s,"time":%s,"recorded":%s,"data":{%s}}'
            % (json.dumps(ev["id"]), json.dumps(ev["stream"]), json.dumps(ev["type"]),
               json.dumps(ev["time_in"]), json.dumps(ev["rec_in"]), ",".join(parts)))


def make_events(rng, n):
    """Events sorted by recorded (the order --keep-recorded needs)."""
    custs = []
    for i in range(rng.randint(3, 8)):
        r = rng.random()
        if r < 0.2:
            custs.append(str(100 + i))
        elif r < 0.3:
            custs += [str(100 + i), '"%d"' % (100 + i)]   # one entity, as a number and a string
        else:
            custs.append(json.dumps("cust-%d" % i))
    streams = ["s%d" % i for i in range(rng.randint(3, 8))] + ["7"]
    no_entity = ["null", "true", '{"id":1}']
    vals = ["1", "2", "-3", "0.1", "0.2", "12.34", "1.50", "100", "1e2", "-0.05", "7",
            '"12"', '"x"', "null"]
    svals = ['"red"', '"blue"', '"r\\u00e9d"', '"réd"', "1", "1.0", "2.5", '{"k":1}', '"green"']
    events = []
    for i in range(n):
        t = T0 + rng.randrange(SPAN)
        if rng.random() < 0.85:
            t -= t % MS
        if events and rng.random() < 0.1:
            t = rng.choice(events)["t"]           # ties in (time, pos)
        r = rng.random()
        if r < 0.3:
            lateness = rng.randrange(HOUR, 12 * HOUR)
        elif r < 0.35:
            lateness = -rng.randrange(1, 30 * MIN)  # early: recorded before its time
        elif r < 0.45:
            lateness = 0
        else:
            lateness = rng.randrange(0, 5 * MIN)
        rec = t + lateness
        if rng.random() < 0.5:                    # delivered by a load: runs of equal recorded
            rec += (-rec) % (10 * MIN)
        data = []
        r = rng.random()
        if r < 0.88:
            data.append(("customer", rng.choice(custs)))
        elif r < 0.96:
            data.append(("customer", rng.choice(no_entity)))
        if rng.random() < 0.85:
            data.append(("v", rng.choice(vals)))
        if rng.random() < 0.8:
            data.append(("s", rng.choice(svals)))
        rng.shuffle(data)
        events.append({"id": "e%d" % i, "stream": rng.choice(streams), "type": rng.choice("abc"),
                       "t": t, "r": rec, "data": data})
    events.sort(key=lambda ev: ev["r"])
    for ev in events:
        ev["time_in"] = fmt_time(ev["t"])
        # recorded as epoch ms where it is whole, sometimes: both forms are accepted
        ev["rec_in"] = ev["r"] // MS if ev["r"] % MS == 0 and rng.random() < 0.3 else fmt_time(ev["r"])
    return events


def build_store(case, tmp):
    store = os.path.join(tmp, "store")
    shutil.rmtree(store, ignore_errors=True)
    evs = case["events"]
    cut = case["split"] if 0 < case["split"] < len(evs) else len(evs)
    for n, part in enumerate((evs[:cut], evs[cut:])):
        if part:
            engram(store, ["append", "--keep-recorded", "--sync", "none"],
                   data="".join(event_line(ev) + "\n" for ev in part).encode())
        if n == 0 and part and case.get("warm"):
            # the derived entity table built from the first part, then
            # brought up to date with the second by the run under test
            engram(store, ["features", "spec.json", "--entity", "nobody"], cwd=tmp)
    if case["heartbeat"] is not None:
        engram(store, ["append", "--heartbeat", fmt_time(case["heartbeat"]), "--sync", "none"])
    read = engram(store, ["read", "--format", "ndjson"]).stdout.decode()
    got = [loads(line) for line in read.splitlines() if line.strip()]
    given = {ev["id"]: ev for ev in evs}
    for x in got:
        x["t"] = parse_time(x["time"])
        x["r"] = parse_time(x["recorded"])
        x["pos"] = x["pos"].dec
        ev = given.get(x["id"])
        if ev is not None and (x["r"] != ev["r"] or x["t"] != ev["t"]):
            raise Fail("append --keep-recorded: event %s read back with time %s recorded %s, "
                       "given %s %s" % (x["id"], x["time"], x["recorded"], ev["time_in"], ev["rec_in"]))
    return store, got


# ------------------------------------------------------------- the oracle

def entity_of(x, path):
    """The entity text of an event: a string as its text, a number as its
    JSON text, anything else (or nothing) no entity."""
    if x.get("type") == "engram.heartbeat" or (x.get("stream") or "").startswith("$"):
        return None
    v = value_at(x, path)
    if isinstance(v, str):
        return v
    if isinstance(v, Num):
        return v.text
    return None


def value_at(x, path):
    v = x
    for part in path.split("."):
        if not isinstance(v, dict) or part not in v:
            return MISSING
        v = v[part]
    return v


def counting(events, spec, feat, e, c, k, guarded):
    """The events that count for feat in row (e, c, k); naive: without
    the recorded <= k condition."""
    lo = None
    for d in (feat.get("window"), spec.get("ttl")):
        if d is not None:
            lo = max(lo if lo is not None else c - dur_us(d), c - dur_us(d))
    inclusive = spec.get("inclusive", False)
    types = feat.get("types")
    out = []
    for x in events:
        if entity_of(x, spec["entity"]) != e:
            continue
        if types is not None and x["type"] not in types:
            continue
        if lo is not None and x["t"] < lo:
            continue
        if x["t"] > c or (x["t"] == c and not inclusive):
            continue
        if guarded and x["r"] > k:
            continue
        out.append(x)
    return out


def exact_div(a, b):
    with localcontext() as ctx:
        ctx.prec = 80
        return float(Decimal(a) / Decimal(b))


def numeric(v):
    """A value's number as a Decimal (None: null or not a number)."""
    if v is None:
        return None
    kind, x = v
    if kind in ("int", "dec"):
        return Decimal(x)
    if kind == "float":
        return Decimal(x)
    return None


def as_number(v):
    """A value as the leakage report's abs_diff sees it: a number, else 0."""
    n = numeric(v)
    if n is None and v is not None and v[0] == "json" and isinstance(v[1], Num):
        n = v[1].dec
    return n if n is not None else Decimal(0)


def aggregate(feat, xs, c):
    """(kind, value) or None for null; xs are the counting events."""
    agg = next(a for a in AGGS if a in feat)
    path = feat.get(agg)
    if agg == "count":
        return ("int", len(xs))
    if agg in ("sum", "avg", "min", "max"):
        nums = [value_at(x, path).dec for x in xs if isinstance(value_at(x, path), Num)]
        if agg == "sum":
            return ("dec", sum(nums, Decimal(0)))
        if not nums:
            return None
        if agg == "avg":
            return ("float", exact_div(sum(nums, Decimal(0)), len(nums)))
        return ("dec", min(nums) if agg == "min" else max(nums))
    if agg in ("first", "last"):
        have = [x for x in xs if value_at(x, path) is not MISSING]
        if not have:
            return None
        pick = (min if agg == "first" else max)(have, key=lambda x: (x["t"], x["pos"]))
        return ("json", value_at(pick, path))
    if agg == "count_distinct":
        seen = set()
        for x in xs:
            v = value_at(x, path)
            if v is not MISSING:
                seen.add(v if isinstance(v, str) else jtext(v))
        return ("int", len(seen))
    if agg == "since_last":
        if not xs:
            return None
        return ("float", exact_div(c - max(x["t"] for x in xs), dur_us(path)))
    raise AssertionError(agg)


AGGS = ["count", "sum", "avg", "min", "max", "first", "last", "count_distinct", "since_last",
        "ratio", "projection"]


def proj_value(events, spec, proj, field, e, c, k, guarded):
    """The projection's field for key e as of event time c (< c, or <= c
    with inclusive) known at k; None when the key has no state."""
    inclusive = spec.get("inclusive", False)
    # A projection keeps the string "101" and the number 101 apart: the
    # string's state when it has one under these times, else the number's.
    by_kind = {True: [], False: []}
    for x in events:
        if entity_of(x, proj["key"]) != e:       # (heartbeats and $ streams have none)
            continue
        if "types" in proj and x["type"] not in proj["types"]:
            continue
        if x["t"] > c or (x["t"] == c and not inclusive):
            continue
        if guarded and x["r"] > k:
            continue
        by_kind[isinstance(value_at(x, proj["key"]), str)].append(x)
    xs = by_kind[True] or by_kind[False]
    # the late events listed are those of the entity, both kinds
    both = by_kind[True] + by_kind[False]
    if not xs:
        return None, both
    return aggregate(proj["fields"][field], xs, c), both


def row_values(case, events, e, c, k, guarded):
    """name -> (value, events that counted) for one row."""
    spec = case["spec"]
    out = {}

    def get(name):
        if name in out:
            return out[name][0]
        feat = spec["features"][name]
        if "ratio" in feat:
            a, b = (get(n) for n in feat["ratio"])
            na, nb = numeric(a), numeric(b)
            if na is None or nb is None or nb == 0:
                v = None
            elif a[0] in ("int", "dec") and b[0] in ("int", "dec"):
                # exact operands: the double nearest the exact quotient (an
                # exact zero has no sign)
                v = ("float", exact_div(na, nb) if na != 0 else 0.0)
            else:
                v = ("float", float(na) / float(nb))   # a double operand: IEEE division
            xs = [x for n in feat["ratio"] for x in out[n][1]]
        elif "projection" in feat:
            v, xs = proj_value(events, spec, case["proj"], feat["field"], e, c, k, guarded)
        else:
            xs = counting(events, spec, feat, e, c, k, guarded)
            v = aggregate(feat, xs, c)
        out[name] = (v, xs)
        return v

    for name in spec["features"]:
        get(name)
    return out


def same(exp, got):
    """An engine's JSON value equals the oracle's (kind, value)."""
    if exp is None:
        return got is None
    kind, x = exp
    if kind == "json":
        return got is not None and jeq(x, got)
    if not isinstance(got, Num):
        return False
    if kind == "int":
        return got.dec == x and not any(ch in got.text for ch in ".eE")
    if kind == "dec":
        return got.dec == x
    return close(float(got.dec), x, 1e-12)


def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300) or a == b


def differ(a, b):
    """Guarded and naive values differ (both the oracle's)."""
    if a is None or b is None:
        return (a is None) != (b is None)
    if a[0] == "json":
        return not jeq(a[1], b[1])
    return a[1] != b[1]


def show(v):
    if v is None:
        return "null"
    return jtext(v[1]) if v[0] == "json" else str(v[1])


# ------------------------------------------------------------- labels, spec

WINDOWS = ["90m", "6h", "1d", "36h", "2d", "1h30m"]


def make_spec(rng, entity_path):
    feats = []
    for agg in AGGS[:9]:
        for _ in range(rng.randint(1, 2)):
            f = {}
            if agg == "count":
                f["count"] = True
            elif agg in ("sum", "avg", "min", "max"):
                f[agg] = "data.v"
            elif agg in ("first", "last", "count_distinct"):
                f[agg] = "data.s"
            else:
                f[agg] = rng.choice(["1d", "1h", "30m", "1s"])
            if rng.random() < 0.6:
                f["types"] = sorted(rng.sample("abc", rng.randint(1, 2)))
            if rng.random() < 0.6:
                f["window"] = rng.choice(WINDOWS)
            feats.append(["%s_%d" % (agg, len(feats)), f])
    spec = {"entity": entity_path}
    if rng.random() < 0.4:
        spec["ttl"] = rng.choice(["3d", "4d", "2d12h"])
    r = rng.random()
    if r < 0.4:
        spec["inclusive"] = True
    elif r < 0.6:
        spec["inclusive"] = False
    proj = None
    if "ttl" not in spec and rng.random() < 0.6:
        proj = {"name": "p", "key": entity_path, "fields": {"total": {"sum": "data.v"}, "n": {"count": True}}}
        if rng.random() < 0.6:
            proj["types"] = sorted(rng.sample("abc", 2))
        feats.append(["proj_total", {"projection": "proj.json", "field": "total"}])
        feats.append(["proj_n", {"projection": "proj.json", "field": "n"}])
    numeric_names = [n for n, f in feats if "first" not in f and "last" not in f]
    for i in range(rng.randint(2, 4)):
        # operands: numeric features, or a ratio made before (no cycles)
        a, b = rng.sample(numeric_names, 2)
        name = "ratio_%d" % i
        feats.append([name, {"ratio": [a, b]}])
        numeric_names.append(name)
    rng.shuffle(feats)
    spec["features"] = dict(feats)
    spec["labels"] = {}                       # filled by make_labels
    return spec, proj


def make_labels(rng, case, events):
    spec = case["spec"]
    path = spec["entity"]
    ent_events = {}
    for ev in events:
        x = {"type": ev["type"], "stream": ev["stream"], "data": loads("{%s}" % ",".join(
            '"%s":%s' % kv for kv in ev["data"]))}
        e = entity_of(x, path)
        if e is not None:
            ent_events.setdefault(e, []).append(ev)
    ents = sorted(ent_events)
    known_at = rng.random() < 0.6
    ent_col = rng.choice(["customer", "user id", "who,where"])
    cut_col = rng.choice(["label_time", "as of"])
    spec["labels"] = {"entity": ent_col, "cutoff": cut_col}
    cols = [ent_col, cut_col, "row", "y"] + (["known_at"] if known_at else [])
    rng.shuffle(cols)
    windows = [dur_us(f["window"]) for f in spec["features"].values() if "window" in f]
    if "ttl" in spec:
        windows.append(dur_us(spec["ttl"]))
    rows = []
    for i in range(rng.randint(12, 30)):
        r = rng.random()
        if r < 0.8 and ents:
            e = rng.choice(ents)
        elif r < 0.9:
            e = "nobody"
        elif path == "stream" and case["heartbeat"] is not None:
            e = "engram.heartbeat"
        elif path == "data.customer" and case["proj"] is None:
            e = "true"                       # a boolean customer is no entity
        else:
            e = "nobody-%d" % i
        evs = ent_events.get(e) or events
        late = [ev for ev in evs if ev["r"] > ev["t"]]
        r = rng.random()
        if r < 0.3 and late:
            ev = rng.choice(late)            # a cutoff while a late event was on its way
            c = ev["t"] + 1 + rng.randrange(ev["r"] - ev["t"])
        elif r < 0.5:
            c = rng.choice(evs)["t"]         # a cutoff at an event's time exactly
        elif r < 0.6 and windows:
            c = rng.choice(evs)["t"] + rng.choice(windows)   # an event at lo exactly
        elif r < 0.65:
            c = T0 - rng.randrange(DAY)      # before every event
        elif r < 0.7:
            c = T0 + SPAN + DAY              # after every event
        else:
            c = T0 + rng.randrange(SPAN)
        if rng.random() < 0.5:
            c -= c % MS
        k = c
        row = {}
        if known_at:
            r = rng.random()
            if r < 0.15:
                k = rng.choice(evs)["r"]     # recorded <= k with equality
            elif r < 0.2:
                k = parse_time(FAR_KNOWN_AT)
            else:
                k = c + rng.choice([-3 * HOUR, -HOUR, -10 * MIN, 0, 30 * MIN, 2 * HOUR, 13 * HOUR, 3 * DAY])
            row["known_at"] = time_text(rng, k)
        row[ent_col] = e
        row[cut_col] = time_text(rng, c)
        row["row"] = str(i + 1)
        row["y"] = rng.choice(["0", "1", 'say "hi", twice'])
        rows.append({"cells": {col: row[col] for col in cols}, "e": e, "c": c, "k": k})
    case["label_cols"] = cols
    case["known_at"] = known_at
    case["rows"] = rows
    case["ndjson"] = rng.random() < 0.4
    if case["ndjson"]:
        # NDJSON passes values through as given: make some numbers
        for row in rows:
            cells = row["cells"]
            if cells["row"].isdigit():
                cells["row"] = Num(cells["row"])
            if cells[ent_col].isdigit() and rng.random() < 0.5:
                cells[ent_col] = Num(cells[ent_col])
            for col in (cut_col, "known_at"):
                if col in cells and cells[col].isdigit():
                    cells[col] = Num(cells[col])


def time_text(rng, us):
    r = rng.random()
    if us % MS == 0 and r < 0.3:
        return str(us // MS)
    if r < 0.5:
        return fmt_time(us, rng.choice([120, -330, 345]))
    return fmt_time(us)


def write_labels(case, path):
    cols = case["label_cols"]
    with open(path, "w", newline="") as f:
        if case["ndjson"]:
            for row in case["rows"]:
                f.write("{" + ",".join(json.dumps(c) + ":" + jtext(row["cells"][c]) for c in cols) + "}\n")
        else:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(cols)
            for row in case["rows"]:
                w.writerow([row["cells"][c] for c in cols])


# ------------------------------------------------------------- one run

def run_case(case, tmp, check_manifest=True):
    """Builds the store, runs engram features, compares.  Raises Fail."""
    spec = case["spec"]
    with open(os.path.join(tmp, "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)
    if case["proj"] is not None:
        with open(os.path.join(tmp, "proj.json"), "w") as f:
            json.dump(case["proj"], f, indent=1)
    store, events = build_store(case, tmp)
    head = max((x["pos"] for x in events), default=0)
    labels = "labels.ndjson" if case["ndjson"] else "labels.csv"
    write_labels(case, os.path.join(tmp, labels))
    for name in ("out.ndjson", "out.ndjson.manifest.json", "leak.ndjson"):
        if os.path.exists(os.path.join(tmp, name)):
            os.unlink(os.path.join(tmp, name))
    args = ["features", "spec.json", "--labels", labels, "--format", "ndjson", "--out", "out.ndjson",
            "--leakage-report", "--leakage-out", "leak.ndjson"]
    if case["known_at"]:
        args += ["--cutoff-known-at", "known_at"]
    engram(store, args, cwd=tmp)
    with open(os.path.join(tmp, "out.ndjson")) as f:
        out = [json.loads(line, parse_int=Num, parse_float=Num, object_pairs_hook=list)
               for line in f if line.strip()]
    with open(os.path.join(tmp, "leak.ndjson")) as f:
        leak = [loads(line) for line in f if line.strip()]

    rows = case["rows"]
    names = list(spec["features"])
    if len(out) != len(rows):
        raise Fail("%d output rows for %d label rows" % (len(out), len(rows)))
    guarded, naive = [], []
    for i, (row, got) in enumerate(zip(rows, out)):
        g = row_values(case, events, row["e"], row["c"], row["k"], True)
        n = row_values(case, events, row["e"], row["c"], row["k"], False)
        guarded.append(g)
        naive.append(n)
        keys = [kv[0] for kv in got]
        if keys != case["label_cols"] + names:
            raise Fail("row %d: columns %s, expected %s" % (i + 1, keys, case["label_cols"] + names))
        vals = dict(got)
        for col in case["label_cols"]:
            if not jeq(row["cells"][col], unlist(vals[col])):
                raise Fail("row %d: label column %r is %s, given %s" % (
                    i + 1, col, jtext(unlist(vals[col])), jtext(row["cells"][col])))
        for name in names:
            if not same(g[name][0], unlist(vals[name])):
                raise ValueFail(mismatch(case, i, name, g[name], unlist(vals[name]), events))
    check_leakage(case, leak, guarded, naive, events)
    check_csv(case, store, tmp, args, out)
    check_serving(case, store, tmp, out)
    if check_manifest:
        check_manifest_file(case, store, tmp, head)


def check_csv(case, store, tmp, args, out):
    """The same run as CSV: the same rows, null as an empty field, label
    cells of a CSV file as they were (RFC 4180 quoting both ways)."""
    args = [a for a in args if a not in ("--leakage-report",)]
    args = args[:args.index("--format")] + ["--format", "csv"] + args[args.index("--format") + 2:]
    args = args[:args.index("--out")] + args[args.index("--out") + 2:]
    args = args[:args.index("--leakage-out")] + args[args.index("--leakage-out") + 2:]
    text = engram(store, args + ["--manifest", "csv.manifest.json"], cwd=tmp).stdout.decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    names = case["label_cols"] + list(case["spec"]["features"])
    if not rows or rows[0] != names:
        raise ValueFail("--format csv: header %s, expected %s" % (rows[:1], names))
    if len(rows) - 1 != len(out):
        raise ValueFail("--format csv: %d rows, expected %d" % (len(rows) - 1, len(out)))
    for i, (cells, got) in enumerate(zip(rows[1:], out)):
        vals = dict(got)
        for col, cell in zip(names, cells):
            v = unlist(vals[col])
            if col in case["label_cols"] and not case["ndjson"]:
                ok = cell == case["rows"][i]["cells"][col]
            elif v is None:
                ok = cell == ""
            elif isinstance(v, Num):
                ok = cell != "" and Decimal(cell) == v.dec
            elif isinstance(v, str):
                ok = cell == v
            else:
                ok = True                       # an object: its JSON text, not compared here
            if not ok:
                raise ValueFail("--format csv row %d column %r: %r, but ndjson says %s" % (
                    i + 1, col, cell, jtext(v) if v is not None else "null"))


def check_serving(case, store, tmp, out):
    """engram features SPEC --entity E --at C --known-at K gives the
    features of label row (E, C, K): training and serving agree."""
    names = list(case["spec"]["features"])
    for i in sorted(random.Random(len(out)).sample(range(len(out)), min(3, len(out)))):
        row = case["rows"][i]
        p = engram(store, ["features", "spec.json", "--entity", row["e"], "--at", fmt_time(row["c"]),
                           "--known-at", fmt_time(row["k"]), "--format", "ndjson"], cwd=tmp)
        got = loads(p.stdout.decode())
        want = dict(out[i])
        for name in names:
            if not jeq(unlist(want[name]), got.get(name)):
                raise ValueFail("--entity %r --at %s --known-at %s: %s = %s, but label row %d has %s" % (
                    row["e"], fmt_time(row["c"]), fmt_time(row["k"]), name,
                    jtext(got.get(name)) if got.get(name) is not None else "null", i + 1,
                    jtext(unlist(want[name])) if want[name] is not None else "null"))


def unlist(v):
    """Values parsed with object_pairs_hook=list back to dicts."""
    if isinstance(v, list) and v and all(isinstance(p, tuple) for p in v):
        return {p[0]: unlist(p[1]) for p in v}
    if isinstance(v, list):
        return [unlist(x) for x in v]
    return v


def mismatch(case, i, name, exp, got, events):
    row = case["rows"][i]
    v, xs = exp
    return ("row %d (entity %r, cutoff %s, known_at %s), feature %s = %s: engram says %s, expected %s "
            "(from %d events: %s)" % (
                i + 1, row["e"], fmt_time(row["c"]), fmt_time(row["k"]), name,
                json.dumps(case["spec"]["features"][name]), jtext(got) if got is not None else "null",
                show(v), len(xs), ", ".join("pos %s" % x["pos"] for x in xs[:12])))


def check_leakage(case, leak, guarded, naive, events):
    names = list(case["spec"]["features"])
    got_names = [line.get("feature") for line in leak]
    if got_names != names:
        raise LeakFail("leakage report: features %s, expected %s" % (got_names, names))
    by_pos = {x["pos"]: x for x in events}
    for line, name in zip(leak, names):
        feat = case["spec"]["features"][name]
        diffs = [i for i in range(len(guarded)) if differ(guarded[i][name][0], naive[i][name][0])]
        if not isinstance(line.get("rows"), Num) or line["rows"].dec != len(guarded):
            raise LeakFail("leakage report %s: rows %s, expected %d" % (name, line.get("rows"), len(guarded)))
        got_d = line.get("rows_differ")
        if not isinstance(got_d, Num) or got_d.dec != len(diffs):
            raise LeakFail("leakage report %s: rows_differ %s, expected %d (rows %s)" % (
                name, got_d, len(diffs), [i + 1 for i in diffs]))
        # null, and any value that is not a number (a string from first
        # or last), counts as 0; a number from first or last counts.
        # (doubles may be subtracted as printed or as binary values: allow
        # for their rounding, relative to the values, not the difference)
        total, mag = Decimal(0), Decimal(0)
        for i in diffs:
            a, b = as_number(guarded[i][name][0]), as_number(naive[i][name][0])
            total += abs(a - b)
            mag += abs(a) + abs(b)
        got_a = line.get("abs_diff")
        if not isinstance(got_a, Num) or abs(got_a.dec - total) > Decimal("1e-9") * total + Decimal("1e-14") * mag:
            raise LeakFail("leakage report %s: abs_diff %s, expected %s" % (name, got_a, total))
        examples = line.get("examples")
        if not isinstance(examples, list) or len(examples) != min(5, len(diffs)):
            raise LeakFail("leakage report %s: %s examples, expected %d" % (
                name, len(examples) if isinstance(examples, list) else examples, min(5, len(diffs))))
        for ex in examples:
            check_example(case, name, ex, diffs, guarded, naive, by_pos)


def check_example(case, name, ex, diffs, guarded, naive, by_pos):
    r = ex.get("row")
    if not isinstance(r, Num) or int(r.dec) - 1 not in diffs:
        raise LeakFail("leakage report %s: example row %s is not a row that differs (%s)" % (
            name, r, [i + 1 for i in diffs]))
    i = int(r.dec) - 1
    row = case["rows"][i]
    ent = ex.get("entity")
    if (ent.text if isinstance(ent, Num) else ent) != row["e"]:
        raise LeakFail("leakage report %s row %d: entity %s, expected %r" % (name, i + 1, ent, row["e"]))
    for key, want in (("cutoff", row["c"]), ("known_at", row["k"])):
        try:
            ok = parse_time(ex.get(key)) == want
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise LeakFail("leakage report %s row %d: %s %s, expected %s" % (
                name, i + 1, key, ex.get(key), fmt_time(want)))
    for key, want in (("value", guarded[i][name][0]), ("naive_value", naive[i][name][0])):
        if not same(want, ex.get(key)):
            raise LeakFail("leakage report %s row %d: %s %s, expected %s" % (
                name, i + 1, key, jtext(ex.get(key)), show(want)))
    late = {x["pos"] for x in naive[i][name][1]} - {x["pos"] for x in guarded[i][name][1]}
    got = ex.get("late_events")
    if not isinstance(got, list) or not got:
        raise LeakFail("leakage report %s row %d: no late_events (expected pos %s)" % (name, i + 1, [int(p) for p in sorted(late)]))
    got_pos = []
    for le in got:
        p = le.get("pos")
        x = by_pos.get(p.dec if isinstance(p, Num) else None)
        if x is None or x["pos"] not in late or le.get("id") != x["id"] \
                or parse_time(le.get("time")) != x["t"] or parse_time(le.get("recorded")) != x["r"]:
            raise LeakFail("leakage report %s row %d: late event %s is not one of %s (or its id/time/recorded "
                       "differ)" % (name, i + 1, jtext(le), [int(p) for p in sorted(late)]))
        got_pos.append(x["pos"])
    # Every late event counts for a count: all of them are responsible
    # (those not shown are counted in late_events_more).  For other
    # aggregates an engine may name only those that changed the value (the
    # late maximum, the late last value), so a subset will do.
    more = ex.get("late_events_more", Num("0"))
    if "count" in case["spec"]["features"][name] and (
            len(set(got_pos)) != len(got_pos) or len(got_pos) + int(more.dec) != len(late)):
        raise LeakFail("leakage report %s row %d: late events pos %s, expected %s" % (
            name, i + 1, [int(p) for p in sorted(got_pos)], [int(p) for p in sorted(late)]))


def check_manifest_file(case, store, tmp, head):
    mpath = os.path.join(tmp, "out.ndjson.manifest.json")
    if not os.path.exists(mpath):
        raise Fail("no out.ndjson.manifest.json")
    with open(mpath) as f:
        m = loads(f.read())
    if not isinstance(m.get("head"), dict) or m["head"].get("pos") != Num(str(head)) \
            or m.get("rows") != Num(str(len(case["rows"]))):
        raise Fail("manifest: head %s rows %s, expected pos %d and %d rows" % (
            jtext(m.get("head")), m.get("rows"), head, len(case["rows"])))
    # Events appended after the run, known now and happening before every
    # cutoff: they would change rows known at FAR_KNOWN_AT if --check read
    # past the manifest's head.
    extra = []
    for row in case["rows"]:
        if row["e"] == "engram.heartbeat":
            continue
        if case["spec"]["entity"] == "stream":
            extra.append('{"stream":%s,"type":"a","time":"%s","data":{"v":5,"s":"late"}}'
                         % (json.dumps(row["e"]), fmt_time(T0 - 2 * DAY)))
        else:
            cust = json.dumps(row["e"])
            extra.append('{"stream":"s1","type":"a","time":"%s","data":{"customer":%s,"v":5,"s":"late"}}'
                         % (fmt_time(T0 - 2 * DAY), cust))
    engram(store, ["append", "--sync", "none"], data=("\n".join(extra) + "\n").encode())
    p = engram(store, ["features", "--check", "out.ndjson.manifest.json"], cwd=tmp, ok=(0, 1, 2, 3))
    if p.returncode != 0:
        raise CheckFail("features --check after more appends exited %d: %s" % (
            p.returncode, p.stderr.decode(errors="replace")[-500:]))


# ------------------------------------------------------------- shrinking

def needs(spec, name):
    """name and the features its ratios read."""
    out, todo = [], [name]
    while todo:
        n = todo.pop()
        if n not in out:
            out.append(n)
            todo += spec["features"][n].get("ratio", [])
    return out


def shrink(case, tmp, first):
    """A smaller case that still fails: one label row, the failing feature
    (and its operands), then as few events as still fail."""
    def fails(c):
        try:
            run_case(c, tmp, check_manifest=False)
        except Fail as f:
            return type(f) is type(first)
        return False

    budget = [200]

    def try_(c):
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        return fails(c)

    if not fails(case):
        return case                            # the --check part failed: nothing to shrink
    # one row: the first that fails alone
    for i in range(len(case["rows"])):
        c = dict(case, rows=[case["rows"][i]])
        if try_(c):
            case = c
            break
    # one feature (with what it reads), when that still fails
    for name in sorted(case["spec"]["features"], key=lambda n: len(needs(case["spec"], n))):
        keep = needs(case["spec"], name)
        spec = dict(case["spec"], features={n: f for n, f in case["spec"]["features"].items() if n in keep})
        c = dict(case, spec=spec)
        if try_(c):
            case = c
            break
    # events: drop chunks, then single events
    size = max(1, len(case["events"]) // 2)
    while size >= 1:
        i = 0
        while i < len(case["events"]):
            evs = case["events"][:i] + case["events"][i + size:]
            c = dict(case, events=evs, split=min(case["split"], len(evs)))
            if try_(c):
                case = c
            else:
                i += size
        size //= 2
    for hb in (None,):
        if case["heartbeat"] is not None and try_(dict(case, heartbeat=hb)):
            case = dict(case, heartbeat=hb)
    return case


def print_case(case, tmp):
    try:
        run_case(case, tmp, check_manifest=False)
        why = "(passes alone)"
    except Fail as f:
        why = str(f)
    print("  shrunk case: %s" % why)
    split = 0 < case["split"] < len(case["events"])
    print("  events (engram append --keep-recorded%s%s):" % (
        ", split after %d" % case["split"] if split else "",
        ", features --entity nobody run after the first part" if case.get("warm") else ""))
    for ev in case["events"]:
        print("    " + event_line(ev))
    if case["heartbeat"] is not None:
        print("    then engram append --heartbeat %s" % fmt_time(case["heartbeat"]))
    print("  spec: " + json.dumps(case["spec"]))
    if any("projection" in f for f in case["spec"]["features"].values()):
        print("  proj.json: " + json.dumps(case["proj"]))
    buf = io.StringIO()
    path = os.path.join(tmp, "shown")
    write_labels(case, path)
    with open(path) as f:
        buf.write(f.read())
    print("  labels (%s%s):" % ("ndjson" if case["ndjson"] else "csv",
                                 ", --cutoff-known-at known_at" if case["known_at"] else ""))
    for line in buf.getvalue().splitlines():
        print("    " + line)


# ------------------------------------------------------------- main

def one_seed(seed, n_events, tmp, do_shrink):
    rng = random.Random(seed)
    events = make_events(rng, n_events)
    entity_path = rng.choice(["data.customer", "stream"])
    spec, proj = make_spec(rng, entity_path)
    case = {"events": events, "split": rng.randrange(len(events) + 1),
            "heartbeat": T0 + rng.randrange(SPAN) if rng.random() < 0.5 else None,
            "spec": spec, "proj": proj}
    make_labels(rng, case, events)
    case["warm"] = rng.random() < 0.5
    try:
        run_case(case, tmp)
    except Fail as f:
        print("FAIL seed %d: %s" % (seed, f))
        # A usage error (exit 2: an option or spec the engram refuses)
        # fails the same way whatever the case; there is nothing to shrink.
        if do_shrink and not isinstance(f, CheckFail) and getattr(f, "code", 0) != 2:
            print_case(shrink(case, tmp, f), tmp)
        return False
    return True


def main():
    global E, T0
    ap = argparse.ArgumentParser()
    ap.add_argument("engram")
    ap.add_argument("--seed", type=int, help="run this seed only")
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--events", type=int, default=120)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--no-shrink", action="store_true")
    opt = ap.parse_args()
    E = os.path.abspath(opt.engram)
    T0 = parse_time("2025-03-01T00:00:00Z")
    first = opt.seed if opt.seed is not None else random.SystemRandom().randrange(1 << 31)
    seeds = [opt.seed] if opt.seed is not None else [first + i for i in range(opt.seeds)]
    print("features prop: seeds %d..%d (repeat one with --seed N)" % (seeds[0], seeds[-1]))
    base = tempfile.mkdtemp(prefix="engram-feat-")
    failed = 0
    try:
        for seed in seeds:
            tmp = os.path.join(base, str(seed))
            os.makedirs(tmp)
            if not one_seed(seed, opt.events, tmp, not opt.no_shrink):
                failed += 1
                break
    finally:
        if opt.keep:
            print("kept " + base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    if failed:
        return 1
    print("features prop: %d seeds agree" % len(seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
