#!/usr/bin/python3
"""tests/columns/prop.py ENGRAM [--seed S] [--specs N] [--events N] [--small N] [--keep]
— the property test of the engines on columns (issue 26): funnels,
projections, SQL scans of events and features answer byte for byte the
same whether they read the column files (idx/col/) or the log.

The oracle is the log path itself: every random spec runs twice, once as
is and once with ENGRAM_NO_COLUMNS=1 (every engine reads the log), and the
two outputs (stdout) must be equal bytes.  The explain lines (--explain,
or EXPLAIN QUERY PLAN for SQL) say which path ran: every engine must have
run some spec on the columns with events from the column files, or the
test proves nothing and fails.

1. A store of --events random events (default 140000: two column blocks
   of 65536 and a tail after them), appended in three calls (record times
   differ), in random time order (late events), about 300 streams and an
   empty stream, kinds event, metric and error.  data holds: page_url and
   device (strings with escapes and unicode, sometimes absent or null),
   n (mixed types at one path: integers, big and negative ones, decimals,
   strings, null, true, objects, arrays, absent), a.b and a.c (nested;
   a is sometimes a number or absent), user (a string or a number), amount;
   a few objects repeat a member name (the first one counts).
2. Random specs per engine: funnels (steps with and without URLs, --by
   over envelope and data paths, --since/--until), projections (keys,
   sum/min/max/count/first/last/open over data and envelope paths, type
   filters; their derived files deleted so that each run folds from
   scratch), SQL aggregates over the columns the column files hold with
   conditions on time, kind, pos and recorded, and features (entity
   stream or data.user, every aggregate over data paths; a labels file of
   random entities and cutoffs; idx/feat deleted before each run).
3. After the first round, a few hundred more events are appended (the tail
   grows past where the column files end) and a second round runs.
4. Then the same again over a small store (--small events, default 3000)
   with column blocks of 64 events (ENGRAM_COL_BLOCK_EVENTS, colscan's test
   knob): many blocks, dictionaries growing from block to block.

Seeded: the seed is printed first; a mismatch prints the seed, the engine,
the spec and the first differing line.  Exit 0 when every spec agrees.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

T0 = 1735689600000          # 2025-01-01T00:00:00Z, ms
TYPES = ["view", "click", "cart", "buy", "search"]
URLS = ["https://ex.com/", "https://ex.com/cart", "https://ex.com/p?q=\"x\"",
        "https://ex.com/\u00fcber", "https://ex.com/\u6f22\u5b57", "https://ex.com/tab\tx",
        "https://ex.com/\U0001f600"]
DEVICES = ["desktop", "mobile", "tablet", "\u00e9cran"]


def ndjson_value(v):
    return json.dumps(v, ensure_ascii=random.random() < 0.5, separators=(",", ":"))


def mixed_n(r):
    k = r.random()
    if k < 0.35:
        return r.randint(-50, 500)
    if k < 0.45:
        return r.choice([2 ** 62, -(2 ** 62), 0, 10 ** 19])
    if k < 0.6:
        return r.choice(["1.50", "2.25e1", "-0.5"])   # decimal text, kept as written
    if k < 0.7:
        return r.choice(["n", "12", "\u00e9"])
    if k < 0.75:
        return None
    if k < 0.8:
        return True
    if k < 0.85:
        return {"x": r.randint(0, 3)}
    if k < 0.9:
        return [1, "two"]
    return "ABSENT"


def data_text(r):
    """The data object as JSON text (written here: decimals kept as
    written, a member name sometimes twice)."""
    parts = []
    if r.random() < 0.9:
        parts.append(("page_url", ndjson_value(r.choice(URLS)) if r.random() < 0.95 else "null"))
    if r.random() < 0.8:
        parts.append(("device", ndjson_value(r.choice(DEVICES))))
    n = mixed_n(r)
    if n != "ABSENT":
        if isinstance(n, str) and n[:1] in "-0123456789" and n not in ("12",):
            parts.append(("n", n))                      # a number's text as is
        else:
            parts.append(("n", ndjson_value(n)))
    k = r.random()
    if k < 0.6:
        inner = []
        if r.random() < 0.8:
            inner.append('"b":' + ndjson_value(r.choice([r.randint(0, 9), "s%d" % r.randint(0, 3), None])))
        if r.random() < 0.5:
            inner.append('"c":' + ndjson_value(r.randint(-5, 5)))
        parts.append(("a", "{" + ",".join(inner) + "}"))
    elif k < 0.7:
        parts.append(("a", str(r.randint(0, 9))))
    if r.random() < 0.85:
        u = r.randint(0, 40)
        parts.append(("user", ndjson_value("u%d" % u if r.random() < 0.8 else u)))
    if r.random() < 0.7:
        parts.append(("amount", ndjson_value(r.randint(1, 10000)) if r.random() < 0.7 else
                      "%d.%02d" % (r.randint(0, 99), r.randint(0, 99))))
    r.shuffle(parts)
    if parts and r.random() < 0.02:
        name, _ = r.choice(parts)
        parts.append((name, ndjson_value(r.randint(0, 9))))   # a repeated name
    return "{" + ",".join("%s:%s" % (json.dumps(k), v) for k, v in parts) + "}"


def events(r, n, start_i):
    out = []
    for i in range(n):
        t = T0 + (start_i + i) * 20000 + r.randint(0, 19999)
        if r.random() < 0.05:
            t -= r.randint(60000, 6 * 3600000)        # late
        s = "" if r.random() < 0.01 else "user-%03d" % r.randint(0, 299)
        typ = r.choice(TYPES)
        kind = r.choice(["event"] * 8 + ["metric", "error"])
        data = data_text(r)
        # a metric needs a numeric value, an error a message (checked at append)
        need = {"metric": '"value":1', "error": '"message":"m"'}.get(kind)
        if need:
            data = "{" + need + ("," if data != "{}" else "") + data[1:]
        line = '{"type":%s,"stream":%s,"time":%d,"kind":%s,"data":%s}' % (
            json.dumps(typ), json.dumps(s), t, json.dumps(kind), data)
        out.append(line)
    return "\n".join(out) + "\n"


class Run:
    def __init__(self, engram, store, seed):
        self.engram, self.store, self.seed = engram, store, seed
        self.cols = {}           # engine -> specs that ran on columns with column events
        self.n = 0
        self.fails = 0

    def engram_run(self, args, no_cols, stdin=None):
        env = dict(os.environ)
        env.pop("ENGRAM_NO_COLUMNS", None)
        if no_cols:
            env["ENGRAM_NO_COLUMNS"] = "1"
        p = subprocess.run([self.engram, "-d", self.store] + args, input=stdin, env=env,
                           capture_output=True)
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")

    def both(self, engine, args, spec_text, clean=None, explain=None):
        """Run args with and without columns; compare stdout bytes."""
        self.n += 1
        res = []
        for no_cols in (False, True):
            if clean:
                shutil.rmtree(os.path.join(self.store, "idx", clean), ignore_errors=True)
            res.append(self.engram_run(args, no_cols))
        (ra, oa, ea), (rb, ob, eb) = res
        if ra != rb or oa != ob:
            self.fails += 1
            la, lb = oa.split(b"\n"), ob.split(b"\n")
            i = next((k for k, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
            print("MISMATCH (seed %d) %s: exit %d vs %d\n  spec: %s\n  columns: %r\n  log:     %r\n"
                  "  stderr: %s | %s" % (self.seed, engine, ra, rb, spec_text,
                                         la[i:i + 1], lb[i:i + 1], ea.strip()[:300],
                                         eb.strip()[:300]))
            sys.stdout.flush()
            return
        if ra != 0:
            print("FAILED (seed %d) %s exit %d: %s\n  spec: %s" % (self.seed, engine, ra, ea.strip(),
                                                                  spec_text))
            self.fails += 1
            return
        if explain and explain(ea, oa):
            self.cols[engine] = self.cols.get(engine, 0) + 1


def explain_cols(err, _out):
    for line in err.splitlines():
        try:
            x = json.loads(line)
        except ValueError:
            continue
        if x.get("path") == "columns" and x.get("events_from_columns", 0) > 0:
            return True
    return False


def funnel_spec(r):
    steps = []
    for _ in range(r.randint(1, 4)):
        t = r.choice(TYPES)
        steps.append(t + (":" + r.choice(URLS) if r.random() < 0.4 else ""))
    args = ["--format", "ndjson", "funnel", "--steps", ",".join(steps),
            "--within", r.choice(["1m", "10m", "1h", "1d"]), "--explain"]
    by = r.choice([None, None, "stream", "type", "data.device", "data.n", "data.a.b", "data.a",
                   "data.page_url", "time", "actor"])
    if by:
        args += ["--by", by]
    if r.random() < 0.3:
        args += ["--since", str(T0 + r.randint(0, 10 ** 9))]
    if r.random() < 0.3:
        args += ["--until", str(T0 + r.randint(10 ** 9, 3 * 10 ** 9))]
    return args


def proj_spec(r, d, i):
    paths = ["data.n", "data.amount", "data.a.b", "data.a.c", "data.user"]
    fields = {}
    for j in range(r.randint(1, 5)):
        agg = r.choice(["sum", "min", "max", "count", "first", "last", "open"])
        f = {}
        if agg == "count":
            f["count"] = True
        elif agg == "open":
            o, c = r.sample(TYPES, 2)
            f["open"], f["close"] = [o], [c]
        elif agg in ("first", "last"):
            f[agg] = r.choice(paths + ["time", "pos"])
        else:
            f[agg] = r.choice(paths)
        if r.random() < 0.3 and agg != "open":
            f["types"] = r.sample(TYPES, r.randint(1, 3))
        fields["f%d" % j] = f
    spec = {"name": "p%d" % i, "key": r.choice(["stream", "stream", "data.user", "type",
                                                 "data.device", "data.a.b"]),
            "fields": fields, "snapshot_every": r.choice([1000, 50000, 100000])}
    if r.random() < 0.3:
        spec["types"] = r.sample(TYPES, r.randint(2, 4))
    path = os.path.join(d, "p%d.json" % i)
    with open(path, "w") as f:
        json.dump(spec, f)
    return path, json.dumps(spec)


SQL_WHERE = [
    "1", "time >= '2025-01-01T12:00:00Z'", "time_us < %d" % ((T0 + 10 ** 9) * 1000),
    "kind = 'metric'", "kind IN ('event', 'error')", "pos BETWEEN 1000 AND 70000",
    "pos > 65530", "recorded_us > 0", "time BETWEEN '2025-01-02' AND '2025-01-03'",
    "stream = ''", "type > 'c'",
]
SQL_SELECT = [
    "type, count(*), min(time), max(time_us), sum(pos)",
    "kind, count(*), sum(length(stream))",
    "substr(time, 1, 13) AS h, type, count(*)",
    "stream, count(*), max(recorded)",
    "count(*), min(pos), max(pos), sum(time_us % 1000)",
]


def sql_spec(r):
    sel = r.choice(SQL_SELECT)
    group = {"type": " GROUP BY type", "kind": " GROUP BY kind", "substr": " GROUP BY 1, 2",
             "stream": " GROUP BY stream", "count": ""}[sel.split(",")[0].split("(")[0].strip()]
    where = " AND ".join(r.sample(SQL_WHERE, r.randint(1, 2)))
    return "SELECT %s FROM events WHERE %s%s ORDER BY 1, 2" % (sel, where, group)


def feat_spec(r, d, i):
    paths = ["data.n", "data.amount", "data.a.b", "data.device"]
    feats = {}
    for j in range(r.randint(1, 6)):
        agg = r.choice(["count", "sum", "avg", "min", "max", "count_distinct", "last", "first"])
        f = {agg: True if agg == "count" else r.choice(paths)}
        if r.random() < 0.4:
            f["types"] = r.sample(TYPES, r.randint(1, 3))
        if r.random() < 0.4:
            f["window"] = r.choice(["1h", "1d", "7d"])
        feats["f%d" % j] = f
    spec = {"entity": r.choice(["stream", "data.user"]),
            "labels": {"entity": "e", "cutoff": "c"}, "features": feats}
    path = os.path.join(d, "f%d.json" % i)
    with open(path, "w") as f:
        json.dump(spec, f)
    ents = ["user-%03d" % k for k in range(0, 300, 7)] + ["u%d" % k for k in range(0, 40, 3)]
    lab = os.path.join(d, "l%d.csv" % i)
    with open(lab, "w") as f:
        f.write("e,c\n")
        for _ in range(40):
            f.write("%s,%d\n" % (r.choice(ents), T0 + r.randint(0, 3 * 10 ** 9)))
    return path, lab, json.dumps(spec)


def round_of(run, r, d, nspecs, tag):
    for i in range(nspecs):
        args = funnel_spec(r)
        run.both("funnel", args, " ".join(args), explain=explain_cols)
    for i in range(nspecs):
        path, text = proj_spec(r, d, i)
        run.both("project", ["--format", "ndjson", "project", path, "--explain"], text,
                 clean="proj", explain=explain_cols)
    for i in range(nspecs):
        q = sql_spec(r)
        plan = run.engram_run(["sql", "EXPLAIN QUERY PLAN " + q], False)[1].decode()
        run.both("sql", ["--format", "ndjson", "sql", q], q,
                 explain=lambda e, o, plan=plan: "; columns)" in plan)
    for i in range(nspecs):
        path, lab, text = feat_spec(r, d, i)
        run.both("features", ["--format", "csv", "features", path, "--labels", lab, "--explain"],
                 text, clean="feat", explain=explain_cols)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engram")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--specs", type=int, default=6, help="specs per engine and round")
    ap.add_argument("--events", type=int, default=140000)
    ap.add_argument("--small", type=int, default=3000,
                    help="events of the second store, in blocks of 64 (0: none)")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    print("tests/columns/prop.py: seed %d" % seed)
    sys.stdout.flush()
    r = random.Random(seed)
    random.seed(seed)           # ndjson_value's choices
    engram = os.path.abspath(a.engram)
    d = tempfile.mkdtemp(prefix="engram-colprop-")
    runs = []
    try:
        for nev, block in ((a.events, None), (a.small, 64)):
            if not nev:
                continue
            if block:
                os.environ["ENGRAM_COL_BLOCK_EVENTS"] = str(block)
            sub = os.path.join(d, "b%d" % (block or 0))
            os.mkdir(sub)
            run = Run(engram, os.path.join(sub, "store"), seed)
            runs.append(run)
            if one_store(run, r, sub, nev, a.specs):
                return 1
    finally:
        os.environ.pop("ENGRAM_COL_BLOCK_EVENTS", None)
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)
        else:
            print("kept %s" % d)
    fails = 0
    for run in runs:
        for engine in ("funnel", "project", "sql", "features"):
            if not run.cols.get(engine):
                print("FAILED (seed %d): no %s spec read the column files" % (seed, engine))
                run.fails += 1
        print("%s: %d specs, %s on columns: %s" % (
            os.path.basename(os.path.dirname(run.store)), run.n,
            ", ".join("%s %d" % kv for kv in sorted(run.cols.items())),
            "ok" if not run.fails else "%d FAILED" % run.fails))
        fails += run.fails
    return 1 if fails else 0


def one_store(run, r, d, nev, nspecs):
    """Build a store of nev events in d and run both rounds; 1 if an
    append failed."""
    engram, store = run.engram, run.store
    n1 = nev // 2
    n2 = nev - n1 - nev // 10
    at = 0
    for n in (n1, n2, nev - n1 - n2):
        p = subprocess.run([engram, "-d", store, "append"], input=events(r, n, at).encode(),
                           capture_output=True)
        if p.returncode:
            print("append failed: %s" % p.stderr.decode())
            return 1
        at += n
    round_of(run, r, d, nspecs, "first")
    p = subprocess.run([engram, "-d", store, "append"], input=events(r, 300, at).encode(),
                       capture_output=True)
    if p.returncode:
        print("append failed: %s" % p.stderr.decode())
        return 1
    round_of(run, r, d, max(1, nspecs // 2), "second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
