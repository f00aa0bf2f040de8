#!/usr/bin/env python3
"""metrics_prop.py ENGRAM STORE SEED [QUERIES] — the property test of the
metric rollups: random samples of random series (late ones among them)
appended in batches; after each batch, random `engram metrics` queries
(--every, --since/--until on and off the rollups' boundaries, --by,
--where, names) must equal a plain recomputation from the raw samples.
Exact for count/min/max/last; sums and averages to 1e-9 relative (the
rollups add doubles in another order); percentiles within the sketch's
bound of the nearest-rank value.  Prints nothing on success."""
import json, math, random, subprocess, sys

ENGRAM, STORE, SEED = sys.argv[1], sys.argv[2], int(sys.argv[3])
NQ = int(sys.argv[4]) if len(sys.argv) > 4 else 12
rnd = random.Random(SEED)
T0 = 1735689600 * 10**6 + rnd.randrange(0, 86400) * 10**6   # 2025-01-01 + random
SPAN = 2 * 86400 * 10**6
NAMES = ["lat", "req_total"]
samples = []   # (pos, name, tags, value, time_us)


def eg(*args, stdin=None):
    p = subprocess.run([ENGRAM, "-d", STORE, *args], input=stdin, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit("engram %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p.stdout


def series_tags():
    t = {"endpoint": rnd.choice(["/a", "/b", "/c", "/d"])}
    if rnd.random() < 0.7:
        t["host"] = rnd.choice(["h1", "h2"])
    return t


SERIES = [(rnd.choice(NAMES), series_tags()) for _ in range(12)]


def batch(n):
    lines = []
    hi = max((s[4] for s in samples), default=T0 + SPAN // 4)
    for _ in range(n):
        name, tags = rnd.choice(SERIES)
        if samples and rnd.random() < 0.15:            # late: well before the newest
            t = rnd.randrange(T0, hi)
        else:
            t = min(T0 + SPAN - 1000, hi + rnd.randrange(0, 120) * 10**6)
        t -= t % 1000                                   # millisecond input
        if samples and rnd.random() < 0.03:            # a tie on time: last goes by pos
            t = rnd.choice(samples)[4]
        hi = max(hi, t)
        v = rnd.choice([rnd.uniform(-5, 500), float(rnd.randrange(0, 50)), 1e-3 * rnd.randrange(1, 999)])
        v = float(repr(v))
        samples.append((len(samples) + 1, name, tags, v, t))
        lines.append(json.dumps({"kind": "metric", "type": name, "time": t // 1000,
                                 "data": {"value": v, "tags": tags}}))
    eg("append", stdin="\n".join(lines) + "\n")


def iso(us):
    import datetime
    d = datetime.datetime.fromtimestamp(us // 10**6, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (us % 10**6)


def nearest_rank(vals, q):
    r = math.ceil(q * len(vals))
    return sorted(vals)[max(r, 1) - 1]


def expect(q):
    every, names, where, by, since, until = q
    sel = [s for s in samples
           if (not names or s[1] in names)
           and all(s[2].get(k) == v for k, v in where)]
    if not sel:
        return []
    lo = min(s[4] for s in sel)
    hi = max(s[4] for s in sel)
    S = since if since is not None else lo // every * every
    U = until if until is not None else (hi // every + 1) * every
    groups = {}
    for s in sel:
        if not (S <= s[4] < U):
            continue
        t = s[4] // every * every
        key = (t, s[1], tuple(s[2].get(b) for b in by))
        groups.setdefault(key, []).append(s)
    rows = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], tuple((v is not None, v or "") for v in k[2]))):
        g = groups[key]
        vals = [s[3] for s in g]
        last = max(g, key=lambda s: (s[4], s[0]))[3]
        span = min(key[0] + every, U) - max(key[0], S)
        rows.append({"time": key[0], "name": key[1], "by": list(key[2]), "count": len(g),
                     "sum": math.fsum(vals), "min": min(vals), "max": max(vals), "last": last,
                     "p50": nearest_rank(vals, 0.5), "p99": nearest_rank(vals, 0.99),
                     "rate": math.fsum(vals) / (span / 1e6)})
    return rows


def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-12


def parse_time(s):
    import datetime
    d = datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 10**6 + int(s[20:26])


def check(q):
    every, names, where, by, since, until = q
    args = ["--format", "ndjson", "metrics", *names, "--every", "%ds" % (every // 10**6),
            "--agg", "count,sum,avg,min,max,last,p50,p99,rate"]
    for k, v in where:
        args += ["--where", "%s=%s" % (k, v)]
    for b in by:
        args += ["--by", b]
    if since is not None:
        args += ["--since", iso(since)]
    if until is not None:
        args += ["--until", iso(until)]
    got = [json.loads(l) for l in eg(*args).splitlines()]
    want = expect(q)
    what = " ".join(args[2:])
    if len(got) != len(want):
        raise SystemExit("%s: %d rows, expected %d" % (what, len(got), len(want)))
    for g, w in zip(got, want):
        if parse_time(g["time"]) != w["time"] or g.get("name", names[0] if len(names) == 1 else None) != w["name"] \
           or [g[b] for b in by] != w["by"] or g["count"] != w["count"]:
            raise SystemExit("%s: row %s, expected %s" % (what, g, w))
        for k in ("min", "max", "last"):
            if g[k] != w[k]:
                raise SystemExit("%s: %s %r, expected %r (row %s)" % (what, k, g[k], w[k], g))
        for k in ("sum", "rate"):
            if not close(g[k], w[k], 1e-9):
                raise SystemExit("%s: %s %r, expected %r" % (what, k, g[k], w[k]))
        if not close(g["avg"], w["sum"] / w["count"], 1e-9):
            raise SystemExit("%s: avg %r, expected %r" % (what, g["avg"], w["sum"] / w["count"]))
        for k in ("p50", "p99"):
            if abs(g[k] - w[k]) > 0.005 * abs(w[k]) + 1e-12:
                raise SystemExit("%s: %s %r, expected %r within 0.5%%" % (what, k, g[k], w[k]))


def random_query():
    every = rnd.choice([60, 300, 3600, 7200, 86400, 90, 600]) * 10**6
    names = rnd.choice([[], [], ["lat"], ["req_total"], ["lat", "req_total"]])
    where = rnd.choice([[], [], [("endpoint", rnd.choice(["/a", "/b"]))], [("host", "h1")]])
    by = rnd.choice([[], [], ["endpoint"], ["host"], ["host", "endpoint"]])

    def edge():
        t = T0 + rnd.randrange(-3600, SPAN // 10**6 + 3600) * 10**6
        kind = rnd.random()
        if kind < 0.3:
            return t - t % (3600 * 10**6)
        if kind < 0.5:
            return t - t % (60 * 10**6)
        return t + rnd.randrange(0, 10**6)
    since = edge() if rnd.random() < 0.6 else None
    until = edge() if rnd.random() < 0.6 else None
    if since is not None and until is not None and since > until:
        since, until = until, since
    return (every, names, where, by, since, until)


for b in range(4):
    batch(rnd.randrange(150, 400))
    for _ in range(NQ):
        check(random_query())

# The rollups on disk hold the same answers: a query after reindex (the
# files dropped, rebuilt from the log) and after damage to each file (not
# trusted, rebuilt) equals the recomputation again.
qs = [random_query() for _ in range(4)] + [(3600 * 10**6, [], [], [], None, None),
                                           (60 * 10**6, [], [], ["endpoint"], None, None)]
for q in qs:
    check(q)
eg("reindex")
for q in qs:
    check(q)
import glob, os
for f in glob.glob(os.path.join(STORE, "idx", "metrics", "*", "*")):
    if os.path.basename(f) in ("lock", "spec.json") or os.path.getsize(f) < 40:
        continue
    with open(f, "r+b") as fh:
        fh.seek(os.path.getsize(f) // 2)
        c = fh.read(1)
        fh.seek(os.path.getsize(f) // 2)
        fh.write(bytes([c[0] ^ 0x5a]))
for q in qs:
    check(q)
