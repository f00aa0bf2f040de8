"""e2e.py — JSON helpers for the end-to-end tests (python3 standard library only).

loads() parses strict JSON keeping what a plain parse loses: objects become
lists of (key, value) pairs in input order and numbers become Num, a str
subclass holding the number's exact text.  Two values compare equal exactly
when they have the same keys in the same order, the same number text and
the same strings (after escapes are decoded).
"""
import datetime
import gc
import json
import re
import sys


class Num(str):
    """A JSON number, kept as its text."""

    def __repr__(self):
        return "Num(%s)" % str.__str__(self)

    def __eq__(self, other):
        return isinstance(other, Num) and str.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = str.__hash__


class Obj(list):
    """A JSON object: [(key, value), ...] in input order."""

    def get(self, key, default=None):
        for k, v in self:
            if k == key:
                return v
        return default

    def __eq__(self, other):
        return isinstance(other, Obj) and list.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None

    def keys(self):
        return [k for k, _ in self]

    def __contains__(self, key):
        return any(k == key for k, _ in self)

    def __getitem__(self, i):
        if isinstance(i, str):
            for k, v in self:
                if k == i:
                    return v
            raise KeyError(i)
        return list.__getitem__(self, i)


def _reject_constant(name):
    raise ValueError("not JSON: %s" % name)


# The checks keep every parsed row alive: without this the cyclic collector
# runs over them again and again and parsing gets several times slower.
gc.disable()

_DECODER = json.JSONDecoder(
    object_pairs_hook=Obj,
    parse_float=Num,
    parse_int=Num,
    parse_constant=_reject_constant,
    strict=True,
)


def loads(text):
    """Strictly parse one JSON text (str or UTF-8 bytes)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # raises on invalid UTF-8
    v, end = _DECODER.raw_decode(text)
    if text[end:].strip():
        raise ValueError("trailing characters after JSON value")
    return v


def plain(v):
    """Render a parsed value for shell use: strings bare, null as null."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Num):
        return str.__str__(v)
    if isinstance(v, str):
        return v
    return dumps(v)


def dumps(v):
    """Serialise a parsed value back to compact JSON (keeps order and number text)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, Num):
        return str.__str__(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, Obj):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + dumps(x) for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dumps(x) for x in v) + "]"
    raise TypeError(type(v))


def load_ndjson(path):
    """Parse every non-empty line of an NDJSON file; returns a list of Obj."""
    rows = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(loads(line))
            except Exception as e:  # noqa: BLE001
                die("%s line %d is not valid JSON (%s): %r" % (path, n, e, line[:200]))
    return rows


def die(msg):
    print(msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        die(msg)


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$"
)
OUT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def time_us(v):
    """Epoch microseconds of an input time: RFC 3339 text (any offset, at
    most 6 fraction digits are significant) or integer epoch millis (Num)."""
    if isinstance(v, Num):
        return int(str.__str__(v)) * 1000
    m = _RFC3339.match(v)
    if not m:
        raise ValueError("not an RFC 3339 time: %r" % v)
    y, mo, d, h, mi, s, frac, off = m.groups()
    dt = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                           tzinfo=datetime.timezone.utc)
    us = (dt - EPOCH) // datetime.timedelta(microseconds=1)
    if frac:
        us += int((frac + "000000")[:6])
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        us -= sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60) * 1000000
    return us


def fmt_us(us):
    """RFC 3339 UTC text with 6 fraction digits, as engram prints times."""
    dt = EPOCH + datetime.timedelta(microseconds=us)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % dt.microsecond


def norm_time(v):
    return fmt_us(time_us(v))


EVENT_FIELDS = ["pos", "id", "stream", "version", "type", "kind", "time",
                "recorded", "actor", "session", "data", "meta"]


def check_event_shape(e, where):
    """Every field of a read row is present and well formed."""
    for k in EVENT_FIELDS:
        check(k in e, "%s: field %s missing: %s" % (where, k, dumps(e)[:300]))
    check(isinstance(e["pos"], Num) and int(e["pos"]) >= 1, "%s: bad pos %r" % (where, e["pos"]))
    check(OUT_TIME.match(e["time"] or ""), "%s: time not RFC 3339 UTC with 6 digits: %r" % (where, e["time"]))
    check(OUT_TIME.match(e["recorded"] or ""), "%s: recorded not RFC 3339 UTC with 6 digits: %r" % (where, e["recorded"]))
    check(e["kind"] in ("event", "metric", "error"), "%s: bad kind %r" % (where, e["kind"]))
    check(isinstance(e["data"], Obj), "%s: data is not an object" % where)


def check_dense(rows, where, start=1):
    for i, e in enumerate(rows):
        check(int(e["pos"]) == start + i,
              "%s: positions not dense: row %d has pos %s, expected %d" % (where, i + 1, e["pos"], start + i))


def sessionize(events, gap_us, types=None, pages=("page_view", "screen_view")):
    """Sessions by the definition (docs/SESSIONS.md), for comparing with
    engram sessions: per stream, the events sorted by (time, pos) split
    where one comes gap_us or more after the one before.  events are rows
    of engram read.  Returns rows keyed as engram prints them, but
    duration (float seconds) and without session ids."""
    by = {}
    for e in events:
        if e["type"] == "engram.heartbeat" or (types and e["type"] not in types):
            continue
        by.setdefault(e["stream"], []).append((time_us(e["time"]), int(e["pos"]), e))
    rows = []
    for stream in sorted(by, key=lambda s: s.encode()):
        evs = sorted(by[stream], key=lambda x: (x[0], x[1]))
        cur = []
        for x in evs + [None]:
            if cur and (x is None or x[0] - cur[-1][0] >= gap_us):
                pv = [y for y in cur if y[2]["type"] in pages]
                urls = [y for y in pv if y[2]["data"].get("page_url") is not None]
                cs = set(y[2]["session"] for y in cur if y[2]["session"])
                rows.append({
                    "stream": stream, "start": fmt_us(cur[0][0]), "end": fmt_us(cur[-1][0]),
                    "duration": (cur[-1][0] - cur[0][0]) / 1e6, "events": len(cur),
                    "page_views": len(pv),
                    "entry_page": urls[0][2]["data"].get("page_url") if urls else None,
                    "exit_page": urls[-1][2]["data"].get("page_url") if urls else None,
                    "client_sessions": len(cs)})
                cur = []
            if x is not None:
                cur.append(x)
    return rows


def check_sessions(got_path, events_path, gap_us, types=None, pages=("page_view", "screen_view")):
    """engram sessions output equals sessionize() of the events read."""
    want = sessionize(load_ndjson(events_path), gap_us, types, pages)
    got = load_ndjson(got_path)
    check(len(got) == len(want), "%d sessions, expected %d" % (len(got), len(want)))
    ids = set()
    for i, (g, w) in enumerate(zip(got, want)):
        for k, v in w.items():
            x = g.get(k)
            if k == "duration":
                ok = abs(float(str.__str__(x)) - v) < 1e-9
            elif isinstance(v, int):
                ok = isinstance(x, Num) and int(x) == v
            else:
                ok = plain(x) == plain(v) if v is not None else x is None
            check(ok, "session %d (%s from %s): %s is %r, expected %r"
                  % (i + 1, w["stream"], w["start"], k, x, v))
        check(re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                       g["session"]), "session %d: bad id %r" % (i + 1, g["session"]))
        ids.add(g["session"])
    check(len(ids) == len(got), "session ids repeat")
