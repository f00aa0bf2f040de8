"""errors_check.py — the plain recomputation behind t_errors.sh.

check_groups(GOT, EVENTS, OPTS): the rows of `engram errors` (ndjson) equal
the error events of `engram read` (EVENTS) grouped by type — gen errors
makes one bug per type, which version 2 of the grouping puts in one group
each — and counted as docs/ERRORS.md says: count, first_seen, last_seen,
users, sessions, first_release, regressed, the hourly trend, and the order.
check_series(GOT, EVENTS, OPTS): `engram errors --every` likewise.
explicit_fp(version, text): the fingerprint of an explicit data.fingerprint
string, computed here independently (SHA-256 over length-prefixed parts).
"""
import hashlib
import json
from datetime import datetime, timedelta, timezone

HOUR = 3600 * 10**6


def us(s):
    d = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return (d - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def fmt(t):
    s, f = divmod(t, 10**6)
    return datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % f


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def taken(events, o):
    out = []
    for e in events:
        if e["kind"] != "error" or e["stream"].startswith("$"):
            continue
        t = us(e["time"])
        d = e["data"] if isinstance(e["data"], dict) else {}
        if "since" in o and t < us(o["since"]):
            continue
        if "until" in o and t > us(o["until"]):
            continue
        if "service" in o and d.get("service") != o["service"]:
            continue
        if "release" in o and d.get("release") != o["release"]:
            continue
        out.append((t, e["pos"], e, d))
    return out


def check_groups(got_path, events_path, opts):
    o = json.loads(opts)
    quiet = o.get("quiet_us", 7 * 24 * HOUR)
    occ = taken(load(events_path), o)
    got = load(got_path)
    by_type = {}
    for t, pos, e, d in occ:
        by_type.setdefault(e["type"], []).append((t, pos, e, d))
    if not occ:
        assert got == [], got
        return
    end = us(o["until"]) if "until" in o else max(t for t, _, _, _ in occ)
    tstart = (end // HOUR - 23) * HOUR
    assert len(got) == len(by_type), (len(got), sorted(by_type))
    seen = set()
    for row in got:
        typ = row["title"].split(": ")[0]
        assert typ in by_type and typ not in seen, (typ, row)
        seen.add(typ)
        xs = sorted(by_type[typ], key=lambda x: (x[0], x[1]))
        ts = [x[0] for x in xs]
        want = {
            "count": len(xs),
            "first_seen": fmt(ts[0]),
            "last_seen": fmt(ts[-1]),
            "users": len({x[2]["actor"] for x in xs if x[2]["actor"]}),
            "sessions": len({x[2]["session"] for x in xs if x[2]["session"]}),
            "first_release": xs[0][3].get("release"),
            "regressed": any(b - a >= quiet for a, b in zip(ts, ts[1:])),
            "trend": [sum(1 for t in ts if tstart + h * HOUR <= t < tstart + (h + 1) * HOUR)
                      for h in range(24)],
        }
        for k, v in want.items():
            assert row[k] == v, (typ, k, row[k], v)
    keys = [(-r["count"], -us(r["last_seen"]), r["fingerprint"]) for r in got]
    assert keys == sorted(keys), "order"


def check_series(got_path, events_path, opts, fps_path):
    o = json.loads(opts)
    every = o["every_us"]
    occ = taken(load(events_path), o)
    fp_of = {r["title"].split(": ")[0]: r["fingerprint"] for r in load(fps_path)}
    want = {}
    for t, _, e, _ in occ:
        k = ((t // every) * every, fp_of[e["type"]])
        want[k] = want.get(k, 0) + 1
    got = load(got_path)
    rows = [(us(r["time"]), r["fingerprint"]) for r in got]
    assert rows == sorted(rows), "series order"
    assert {(us(r["time"]), r["fingerprint"]): r["count"] for r in got} == want


def explicit_fp(version, text):
    def part(b):
        return len(b).to_bytes(4, "little") + b
    m = part(b"engram-fp-v%d" % version) + part(b"explicit") + part(text.encode())
    return hashlib.sha256(m).hexdigest()[:32]
