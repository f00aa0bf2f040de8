#!/usr/bin/python3
"""tests/datasets/prop.py ENGRAM [--seed S] [--seeds N] [--events N] [--keep]
— the property test of `engram dataset` (issue 23, "filter on the last step").

The oracle never runs engram's dataset code: the base query's rows come
from `engram sql BASE`, are put into a plain table of Python's sqlite3
module, and each filter's verdict is SELECTed there (a NULL expression
fails).  For each seed:
1. A small store of events of type e (and some of type z, which the base
   leaves out) about 3-14 keys (integers, texts, sometimes the text "7"
   beside the integer 7, a real, rows with no key), with data fields n1
   (integer), r1 (real), t1 (text), n2 (integer), each absent or null now
   and then, appended in two calls with given recorded times.
2. A random spec: the base reads those fields of the e events, 3-6
   filters (comparisons, IN, IS NULL, LIKE, arithmetic, expressions NULL
   for some rows), random output columns, DISTINCT or not.
3. Checked against the oracle: `dataset rows --all` (every base row, its
   f_NAME flags and keep) and the same from SELECT * FROM dataset('NAME'),
   the final rows printed by build and by `rows`, rows --kept, explain
   (spec order and random --order permutations, --overlaps, --by a
   column), why for random keys (verdicts, the values each filter reads,
   the why text, the key's verdict).  Then more events are appended: the
   dataset built --known-at the first batch's last recorded time is not
   stale, and built again with --force is identical; built --as-of a time
   it holds the base rows of the events up to that time; built at the head
   it holds every base row, and is stale after one more append.
Seeded: the seed is printed first; the first mismatch is printed with its
seed.  Exit 0 when every seed agrees, 1 otherwise.
"""
import argparse
import itertools
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile

E = None
COLS = ["pos", "k", "n1", "r1", "t1", "n2"]
WORDS = ["red", "green", "blue", "gray", "Rust", "n1x", "it's", ""]


class Fail(Exception):
    pass


def engram(store, args, data=None, cwd=None, ok=(0,)):
    p = subprocess.run([E, "-d", store] + args, input=data, capture_output=True, cwd=cwd)
    if p.returncode not in ok:
        raise Fail("engram %s exited %d: %s" % (" ".join(args), p.returncode,
                                                 p.stderr.decode(errors="replace")[-800:]))
    return p


def ndjson(p):
    return [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]


def fmt_rec(i):
    """recorded times: one second apart from 2025-03-01, in order."""
    return "2025-03-01T%02d:%02d:%02dZ" % (i // 3600, i // 60 % 60, i % 60)


def make_events(rng, n):
    keys = [rng.randrange(1, 60) for _ in range(rng.randint(2, 8))]
    keys += ["u%d" % rng.randrange(100) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.5:
        keys.append(str(keys[0]))      # the text "7" beside the integer 7
    if rng.random() < 0.3:
        keys.append(rng.randrange(10) + 0.5)
    if rng.random() < 0.3:
        keys.append(rng.choice(("é \"q\"", "a,b", "tab\tx", "O'Neil")))
    keys = list(dict.fromkeys(keys))
    nullkeys = rng.random() < 0.3      # some rows with no key (NULL)
    evs = []
    for i in range(n):
        data = {} if nullkeys and rng.random() < 0.1 else {"k": rng.choice(keys)}
        for name, gen in (("n1", lambda: rng.randint(-5, 20)),
                          ("r1", lambda: round(rng.uniform(-3, 3), rng.choice((1, 2, 3)))),
                          ("t1", lambda: rng.choice(WORDS)),
                          ("n2", lambda: rng.randint(0, 4))):
            x = rng.random()
            if x < 0.12:
                continue            # absent: NULL in the base
            data[name] = None if x < 0.2 else gen()
        evs.append({"stream": "s%s" % data.get("k"), "type": "z" if rng.random() < 0.1 else "e",
                    "time": "2025-01-%02dT10:00:00Z" % rng.randint(1, 28),
                    "recorded": fmt_rec(i), "data": data})
    return evs


def append(store, evs):
    if evs:
        engram(store, ["append", "--keep-recorded", "--sync", "none"],
               data="".join(json.dumps(e) + "\n" for e in evs).encode())


BASE = ("SELECT pos, data->>'$.k' AS k, data->>'$.n1' AS n1, data->>'$.r1' AS r1, "
        "data->>'$.t1' AS t1, data->>'$.n2' AS n2 FROM events WHERE type = 'e' ORDER BY pos")


def make_filter(rng):
    """(sql, the base columns it reads)."""
    w = rng.choice(WORDS[:5])
    choices = [
        ("n1 > %d" % rng.randint(-3, 15), {"n1"}),
        ("n1 <= n2 * %d" % rng.randint(1, 5), {"n1", "n2"}),
        ("r1 >= %s" % rng.choice(("-1.5", "0", "0.25", "1")), {"r1"}),
        ("t1 IN ('%s', '%s')" % (w, rng.choice(WORDS[:5])), {"t1"}),
        ("t1 LIKE '%s%%'" % w[:rng.randint(1, 3)], {"t1"}),
        ("t1 NOT LIKE '%e%'", {"t1"}),
        ("n2 IS NULL", {"n2"}),
        ("n2 IS NOT NULL AND n2 <> %d" % rng.randint(0, 4), {"n2"}),
        ("n1 + n2 < %d" % rng.randint(0, 20), {"n1", "n2"}),
        ("(n1 %% 3) = %d" % rng.randint(0, 2), {"n1"}),
        ("n1 * r1 > %d" % rng.randint(-5, 5), {"n1", "r1"}),
        ("coalesce(n2, %d) >= 2" % rng.randint(0, 4), {"n2"}),
        ("n2 IN (1, 3) OR t1 = 'n1x'", {"n2", "t1"}),
        ("length(t1) BETWEEN 3 AND %d" % rng.randint(3, 5), {"t1"}),
        ("CASE WHEN n1 > 5 THEN r1 > 0 ELSE NULL END", {"n1", "r1"}),
    ]
    return rng.choice(choices)


def make_spec(rng, name):
    nf = rng.randint(3, 6)
    filters, seen = [], set()
    while len(filters) < nf:
        sql, reads = make_filter(rng)
        if sql in seen:
            continue
        seen.add(sql)
        filters.append({"name": "f%d_%s" % (len(filters), rng.choice(("a", "bb", "c"))),
                        "sql": sql, "why": "because %d" % len(filters), "reads": sorted(reads)})
    output = rng.choice((["k"], ["k", "t1"], ["k", "n1", "pos"], ["t1"]))
    spec = {"name": name, "key": "k", "base": BASE,
            "filters": [{"name": f["name"], "sql": f["sql"], "why": f["why"]} for f in filters],
            "output": output, "distinct": rng.random() < 0.6}
    return spec, filters


class Oracle:
    """The base rows in a plain sqlite3 table, verdicts SELECTed there."""

    def __init__(self, base_rows, filters):
        self.rows = base_rows
        self.filters = filters
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE TABLE base (%s)" % ", ".join(COLS))
        self.db.executemany("INSERT INTO base VALUES (%s)" % ",".join("?" * len(COLS)),
                            [[r[c] for c in COLS] for r in base_rows])
        # verdict[r][i]: 'pass', 'fail' or 'null'
        self.verdict = [[None] * len(filters) for _ in base_rows]
        for i, f in enumerate(filters):
            q = ("SELECT CASE WHEN (%s) IS NULL THEN 'null' WHEN (%s) THEN 'pass' "
                 "ELSE 'fail' END FROM base ORDER BY rowid" % (f["sql"], f["sql"]))
            for r, (v,) in enumerate(self.db.execute(q)):
                self.verdict[r][i] = v
        self.flag = [[1 if v == "pass" else 0 for v in row] for row in self.verdict]
        self.keys = list(dict.fromkeys(json.dumps(r["k"]) for r in base_rows))

    def count_sql(self, where):
        return self.db.execute("SELECT count(*) FROM base WHERE %s" % where).fetchone()[0]

    def final_rows(self, output, distinct):
        conds = " AND ".join("(%s)" % f["sql"] for f in self.filters)
        q = "SELECT %s %s FROM base WHERE %s ORDER BY rowid" % (
            "DISTINCT" if distinct else "", ", ".join(output), conds)
        return [list(t) for t in self.db.execute(q)]

    def explain(self, order, rows=None):
        rows = range(len(self.rows)) if rows is None else rows
        nf = len(self.filters)
        key = lambda r: json.dumps(self.rows[r]["k"])
        keys = set(key(r) for r in rows)
        kept_keys = set(key(r) for r in rows if all(self.flag[r]))
        out = []
        for n, i in enumerate(order):
            rf = sum(1 for r in rows if not self.flag[r][i])
            passing = set(key(r) for r in rows if self.flag[r][i])
            only = sum(1 for r in rows if not self.flag[r][i]
                       and all(self.flag[r][j] for j in range(nf) if j != i))
            without = set(key(r) for r in rows
                          if all(self.flag[r][j] for j in range(nf) if j != i))
            rem = [r for r in rows if all(self.flag[r][j] for j in order[:n + 1])]
            out.append({"filter": self.filters[i]["name"], "rows_failing": rf,
                        "keys_failing": len(keys - passing), "only_rows": only,
                        "only_keys": len(without - kept_keys), "rows_remaining": len(rem),
                        "keys_remaining": len(set(key(r) for r in rem))})
        return out


def differ(what, exp, got):
    raise Fail("%s differs:\n  expected %s\n  got      %s" % (what, json.dumps(exp), json.dumps(got)))


def same_value(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 1e-12 * max(1, abs(a))
    return a == b and type(a) == type(b)


def check_rows(o, spec, store):
    got = ndjson(engram(store, ["dataset", "rows", spec["name"], "--all", "--format", "ndjson"]))
    if len(got) != len(o.rows):
        differ("rows --all: the number of rows", len(o.rows), len(got))
    names = [f["name"] for f in o.filters]
    for r, (b, g) in enumerate(zip(o.rows, got)):
        want = list(COLS) + ["f_" + n for n in names] + ["keep"]
        if list(g.keys()) != want:
            differ("rows --all: row %d's columns" % r, want, list(g.keys()))
        for c in COLS:
            if not same_value(b[c], g[c]):
                differ("rows --all: row %d column %s" % (r, c), b[c], g[c])
        flags = [g["f_" + n] for n in names]
        if flags != o.flag[r] or g["keep"] != int(all(o.flag[r])):
            differ("rows --all: row %d (%s) flags %s" % (r, json.dumps(b), names),
                   o.flag[r] + [int(all(o.flag[r]))], flags + [g["keep"]])
    # the same through SQL: dataset('NAME') holds the same rows and flags
    q = "SELECT * FROM dataset('%s')" % spec["name"]
    sql = ndjson(engram(store, ["sql", q, "--format", "ndjson"]))
    if sql != got:
        differ("SELECT * FROM dataset('%s') against rows --all" % spec["name"], got, sql)


def check_final(o, spec, store, built):
    exp = o.final_rows(spec["output"], spec["distinct"])
    for what, got in (("build's final rows", built),
                      ("rows' final rows", ndjson(engram(store, ["dataset", "rows", spec["name"],
                                                                 "--format", "ndjson"])))):
        got = [[g[c] for c in spec["output"]] for g in got]
        key = lambda t: json.dumps(t)
        if sorted(map(key, exp)) != sorted(map(key, got)):
            differ(what + " (as a multiset; output %s distinct %s)"
                   % (spec["output"], spec["distinct"]), exp, got)
    got = ndjson(engram(store, ["dataset", "rows", spec["name"], "--kept", "--format", "ndjson"]))
    want = [r["pos"] for r, f in zip(o.rows, o.flag) if all(f)]
    if [g["pos"] for g in got] != want:
        differ("rows --kept: positions", want, [g["pos"] for g in got])


def check_explain(o, spec, store, rng):
    nf = len(o.filters)
    names = [f["name"] for f in o.filters]
    orders = [(None, list(range(nf)))]
    for _ in range(3):
        k = rng.randint(1, nf)
        first = rng.sample(range(nf), k)
        orders.append((first, first + [i for i in range(nf) if i not in first]))
    for first, order in orders:
        args = ["dataset", "explain", spec["name"], "--format", "ndjson"]
        if first is not None:
            args += ["--order", ",".join(names[i] for i in first)]
        got = ndjson(engram(store, args))
        exp = o.explain(order)
        if got != exp:
            differ("explain %s" % " ".join(args[3:]), exp, got)
    # --overlaps: rows failing both, by a separate SQL count per pair
    got = ndjson(engram(store, ["dataset", "explain", spec["name"], "--overlaps",
                                "--format", "ndjson"]))
    exp = []
    for i, fi in enumerate(o.filters):
        line = {"filter": fi["name"]}
        for fj in o.filters:
            line[fj["name"]] = o.count_sql("NOT ((%s) IS TRUE) AND NOT ((%s) IS TRUE)"
                                           % (fi["sql"], fj["sql"]))
        exp.append(line)
    if got != exp:
        differ("explain --overlaps", exp, got)
    # rows_failing by SQL as well, not only from the flags
    for i, f in enumerate(o.filters):
        n = o.count_sql("NOT ((%s) IS TRUE)" % f["sql"])
        if n != sum(1 for fl in o.flag if not fl[i]):
            differ("oracle self-check %s" % f["name"], n, sum(1 for fl in o.flag if not fl[i]))
    # --by a column: the table per value (compared per value, in SQLite's order)
    col = rng.choice(("t1", "n2", "k", "r1"))
    got = ndjson(engram(store, ["dataset", "explain", spec["name"], "--by", col,
                                "--format", "ndjson"]))
    vals = [v for (v,) in o.db.execute("SELECT DISTINCT %s FROM base ORDER BY %s" % (col, col))]
    exp = []
    for v in vals:
        rows = [r for r, b in enumerate(o.rows) if b[col] == v]
        for line in o.explain(list(range(nf)), rows):
            exp.append(dict([(col, v)] + list(line.items())))
    if got != exp:
        differ("explain --by %s" % col, exp, got)


def key_text(k):
    """A key as the commands print it."""
    if k is None:
        return "null"
    if isinstance(k, float):
        return repr(k)
    return str(k)


def check_why(o, spec, store, rng):
    for kj in rng.sample(o.keys, min(len(o.keys), 4)):
        # why takes the key as text: every row whose key prints so (7 and "7")
        kt = key_text(json.loads(kj))
        got = ndjson(engram(store, ["dataset", "why", spec["name"], kt, "--format", "ndjson"]))
        rows = [r for r, b in enumerate(o.rows) if key_text(b["k"]) == kt]
        kept = any(all(o.flag[r]) for r in rows)
        exp = []
        for r in rows:
            for i, f in enumerate(o.filters):
                v = o.verdict[r][i]
                exp.append({"key": kt, "row": r + 1,  # 1-based, as printed
                            "kept": all(o.flag[r]), "filter": f["name"],
                            "verdict": v,
                            "reads": {c: o.rows[r][c] for c in f["reads"]},
                            "why": None if v == "pass" else f["why"]})
        if len(got) != len(exp):
            differ("why %s: lines" % kt, exp, got)
        # rows of two keys printing alike (7 and "7") come key by key, not
        # in row order: compare by row
        got.sort(key=lambda g: g["row"])
        verdicts = set(g.get("key_verdict") for g in got)
        if len(verdicts) != 1 or (verdicts == {"kept"}) != kept:
            differ("why %s: key_verdict (kept: %s)" % (kt, kept), kept, sorted(map(str, verdicts)))
        for e, g in zip(exp, got):
            g = dict(g)
            g.pop("key_verdict", None)
            if set(g["reads"]) != set(e["reads"]) or \
               any(not (e["reads"][c] is None and g["reads"][c] is None)
                   and not same_value(e["reads"][c], g["reads"][c]) for c in e["reads"]):
                differ("why %s row %d filter %s (%s): reads" % (kt, e["row"], e["filter"],
                       [f["sql"] for f in o.filters if f["name"] == e["filter"]][0]),
                       e["reads"], g["reads"])
            g["reads"] = e["reads"]
            if g != e:
                differ("why %s" % kt, e, g)


def run_seed(seed, nev, tmp):
    rng = random.Random(seed)
    store = os.path.join(tmp, "store")
    shutil.rmtree(store, ignore_errors=True)
    evs = make_events(rng, nev)
    cut = rng.randint(nev // 2, nev - 1)
    append(store, evs[:cut])
    spec, filters = make_spec(rng, "ds%d" % (seed % 1000))
    path = os.path.join(tmp, "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    built = ndjson(engram(store, ["dataset", "build", path, "--format", "ndjson"]))
    base = ndjson(engram(store, ["sql", BASE, "--format", "ndjson"]))
    o = Oracle(base, filters)
    check_rows(o, spec, store)
    check_final(o, spec, store, built)
    check_explain(o, spec, store, rng)
    check_why(o, spec, store, rng)

    # known_at: built as of the first batch's recording, again after more
    # appends with --force, the same table; and the same as the plain one.
    k = evs[cut - 1]["recorded"]
    name = spec["name"]
    engram(store, ["dataset", "build", path, "--known-at", k])
    before = engram(store, ["dataset", "rows", name, "--all", "--format", "ndjson"]).stdout
    append(store, evs[cut:])
    lst = ndjson(engram(store, ["dataset", "list", "--format", "ndjson"]))
    # built known_at k, a rebuild reads no more of the log: not stale
    if [l.get("stale") for l in lst] != [False]:
        differ("dataset list after an append, a known_at build: stale", [False], lst)
    engram(store, ["dataset", "build", path, "--known-at", k, "--force"])
    after = engram(store, ["dataset", "rows", name, "--all", "--format", "ndjson"]).stdout
    if before != after:
        differ("rows --all of a build --known-at %s, rebuilt after appends" % k,
               before.decode(), after.decode())
    plain = ndjson(engram(store, ["dataset", "rows", name, "--all", "--format", "ndjson"]))
    if [r["pos"] for r in plain] != [r["pos"] for r in base]:
        differ("known_at build vs the first batch's base", [r["pos"] for r in base],
               [r["pos"] for r in plain])
    # as_of: only events with time <= T (the base's pos by their time)
    times = {r["pos"]: r["time_us"] for r in
             ndjson(engram(store, ["sql", "SELECT pos, time_us FROM events", "--format", "ndjson"]))}
    t = rng.choice(sorted(set(times.values())))
    tt = "2025-01-%02dT10:00:00Z" % (1 + (t - 1735725600000000) // 86400000000)
    engram(store, ["dataset", "build", path, "--as-of", tt])
    got = [r["pos"] for r in ndjson(engram(store, ["dataset", "rows", name, "--all",
                                                   "--format", "ndjson"]))]
    want = [r["pos"] for r in ndjson(engram(store, ["sql", BASE, "--format", "ndjson"]))
            if times[r["pos"]] <= t]
    if got != want:
        differ("rows --all of a build --as-of %s: positions" % tt, want, got)
    # and at the head now: the whole base again
    engram(store, ["dataset", "build", path])
    base2 = ndjson(engram(store, ["sql", BASE, "--format", "ndjson"]))
    check_rows(Oracle(base2, filters), spec, store)
    append(store, [dict(evs[0], recorded=fmt_rec(len(evs)))])
    lst = ndjson(engram(store, ["dataset", "list", "--format", "ndjson"]))
    if [l.get("stale") for l in lst] != [True]:
        differ("dataset list after an append, a build at the head: stale", [True], lst)


def main():
    global E
    ap = argparse.ArgumentParser()
    ap.add_argument("engram")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--events", type=int, default=60)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    E = os.path.abspath(a.engram)
    seed0 = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
    seeds = [seed0] if a.seed is not None else [seed0 + i for i in range(a.seeds)]
    print("datasets prop: seed %d (%d seeds, %d events)" % (seed0, len(seeds), a.events))
    tmp = tempfile.mkdtemp(prefix="dset_prop_")
    try:
        for s in seeds:
            try:
                run_seed(s, a.events, tmp)
            except Fail as e:
                print("FAIL seed %d (repeat: --seed %d): %s" % (s, s, e))
                print("spec: %s" % open(os.path.join(tmp, "spec.json")).read())
                return 1
        print("datasets prop: %d seeds agree" % len(seeds))
        return 0
    finally:
        if a.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
