#!/usr/bin/python3
"""tests/sql/prop.py ENGRAM EXTENSION [--seed S] [--queries N] [--keep-going]
— the property test of SQL over the log (issue 20).

The oracle: every query over the events table answers what SQLite answers
over a plain table holding the same rows.  The plain table (`ev`) is loaded
from `engram read --format ndjson`, never from SQL: every field as read,
data and meta as the exact JSON text engram prints (each line is cut at its
values' boundaries, so "1.50" stays "1.50" and key order and escapes stay as
printed), time_us and recorded_us computed here from the RFC 3339 text.
The rows through the virtual table come from the loadable extension, in both
its forms: engram_events('DIR') and CREATE VIRTUAL TABLE … USING engram(DIR).
Both run on one connection of Debian's python3, whose sqlite3 module loads
extensions (a pyenv python3 usually cannot: call /usr/bin/python3).

1. A store of bank, orders and clickstream events (--late, --dup), appended
   in several appends and batches so that `recorded` differs between them,
   plus hand-written events: metric and error kinds, no actor, session or
   meta, an empty stream, ids and streams that look like numbers, differ
   only in case or hold a NUL, times at the ends of years 0000 and 9999.
2. Random queries: conjunctions, disjunctions and negations of conditions on
   every column (the pushable ones most: =, IN lists with NULL, missing
   values, numbers and blobs; <, <=, >, >=, BETWEEN with integers, reals,
   numeric and other text, NULL, blobs; times as full timestamps, prefixes,
   odd strings and numbers; COLLATE NOCASE; CAST), random ORDER BY and
   LIMIT/OFFSET, aggregates, subqueries, self-joins and joins with a TEMP
   table of mixed values.  Rows are compared as lists when ORDER BY fixes
   the order, else as multisets; a LIMIT without a total order must give
   that many rows of the full answer.
3. known_at and as_of (hidden columns, no plain equivalent) against
   `recorded_us <= K` and `time_us <= K` on the plain table.
4. While a writer appends (a loop of `engram append` processes): queries
   stay self-consistent (count = max(pos), never a partial batch, one
   head for a whole statement however long it is stepped), and queries
   bounded by pos <= H still equal the plain table loaded at head H.

Seeded: the seed is printed first; a mismatch prints the seed, the query
(and a shrunk one that still fails), the plan and the first differing rows.
Exit 0 when every query agrees, 1 otherwise.
"""
import argparse
import collections
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

COLS = ["pos", "id", "stream", "version", "type", "kind", "time", "recorded", "actor",
        "session", "data", "meta", "time_us", "recorded_us", "schema_version"]
# The virtual table's declared types, so that the plain table's columns
# have the same affinities.
PLAIN_SCHEMA = ("CREATE TABLE ev(pos INTEGER, id TEXT, stream TEXT, version INTEGER, type TEXT, "
                "kind TEXT, time TEXT, recorded TEXT, actor TEXT, session TEXT, data TEXT JSON, "
                "meta TEXT JSON, time_us INTEGER, recorded_us INTEGER, schema_version INTEGER)")
INT_COLS = ["pos", "version", "time_us", "recorded_us"]
NAME_COLS = ["stream", "type", "kind", "id"]          # pushed: = and IN
TIME_COLS = ["time", "recorded"]                     # pushed: ranges on text
OTHER_TEXT = ["actor", "session"]                     # never pushed

# The times engram stores: years 0000 to 9999.
TIME_MIN, TIME_MAX = -62167219200000000, 253402300799999999

E = None        # the engram binary
FAILS = []      # (what, query) of the mismatches so far


# ------------------------------------------------------------------ times

def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (any year)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def us_of(text):
    """Epoch microseconds of engram's printed form 2025-01-02T03:04:05.678901Z."""
    assert len(text) == 27 and text[10] == "T" and text[26] == "Z", text
    days = days_from_civil(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    secs = int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
    return (days * 86400 + secs) * 1000000 + int(text[20:26])


def fmt_us(us):
    """engram's printed form of a time (years 0000-9999)."""
    days, rest = divmod(us, 86400 * 1000000)
    y, m, d = civil_from_days(days)
    secs, frac = divmod(rest, 1000000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (y, m, d, secs // 3600, secs // 60 % 60,
                                                   secs % 60, frac)


# ----------------------------------------------------------------- stores

def child_env():
    """The environment of the engram processes: not the ASan runtime that
    `make SAN=1 sql-check` preloads into python3 (a sanitized engram links
    its own), nor the leak check it turns off for python3."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    opts = [o for o in env.get("ASAN_OPTIONS", "").split(":") if o and o != "detect_leaks=0"]
    if opts:
        env["ASAN_OPTIONS"] = ":".join(opts)
    else:
        env.pop("ASAN_OPTIONS", None)
    return env


def engram(store, *args, data=None):
    p = subprocess.run([E, "-d", store] + list(args), input=data, capture_output=True, env=child_env())
    if p.returncode:
        sys.exit("prop.py: engram %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                         p.stderr.decode()[-500:]))
    return p.stdout


def gen(*args):
    p = subprocess.run([E, "gen"] + list(args), capture_output=True, check=True, env=child_env())
    return p.stdout


def hand_events():
    """Events the generators do not make: kinds, missing fields, names
    that look like numbers, differ in case or hold a NUL, extreme times."""
    ev = [
        {"id": "42", "stream": "007", "type": "100", "kind": "metric",
         "time": "2025-01-02T00:00:00Z", "data": {"value": 1.50}, "meta": {"host": "a"}},
        {"id": "042", "stream": "7", "type": "1e2", "kind": "error",
         "time": "2025-01-02T00:00:00.000001Z", "data": {"message": "x"}},
        {"id": "1.5", "stream": "5", "type": "5", "kind": "metric", "time": 1735776000000,
         "data": {"value": -2}},
        {"id": "5", "stream": "1.5", "type": "5.0", "time": "2025-01-01T23:59:59.999999Z"},
        {"id": "ABC", "stream": "Acct", "type": "T", "actor": "Alice", "session": "s1"},
        {"id": "abc", "stream": "acct", "type": "t", "actor": "alice", "session": "S1"},
        {"id": "x\u0000y", "stream": "s\u0000t", "type": "a\u0000b", "actor": "a\u0000"},
        {"id": "x", "stream": "s", "type": "a"},
        {"id": "\u00e9", "stream": "\u00c4B", "type": "\u00fc", "meta": {"k": "\u00e9\"\\/"}},
        {"id": " 7", "stream": " 7", "type": "7 ", "data": {"n": [1, 2.50, {"x": None}]}},
        {"id": "far-1", "stream": "far", "type": "t", "time": "0000-01-01T00:00:00Z"},
        {"id": "far-2", "stream": "far", "type": "t", "time": "9999-12-31T23:59:59.999999Z"},
        {"id": "far-3", "stream": "far", "type": "t", "time": "1969-12-31T23:59:59.999999Z"},
        {"id": "far-4", "stream": "far", "type": "t", "time": 0},
        {"id": "far-5", "stream": "far", "type": "t", "time": "2025-01-02T00:00:00+01:00"},
        {"stream": "", "type": "empty-stream"},
        {"type": "no-stream", "kind": "error", "data": {"message": "disk full"}},
        {"id": "9223372036854775807", "stream": "9223372036854775808", "type": "-1"},
    ]
    for i in range(12):
        ev.append({"stream": "host-%d" % (i % 3), "type": "cpu", "kind": "metric",
                   "time": "2025-01-0%dT%02d:00:00Z" % (1 + i % 3, i),
                   "data": {"value": i / 4}})
    for i in range(8):
        ev.append({"stream": "svc-%d" % (i % 2), "type": "exception", "kind": "error",
                   "actor": "svc", "data": {"message": "boom %d" % i}})
    return "".join(json.dumps(e) + "\n" for e in ev).encode()


def make_mix(store, rng):
    """A store of a few thousand events of every shape, in many batches."""
    s = [str(rng.randrange(1 << 30)) for _ in range(4)]
    engram(store, "append", "--sync", "none",
           data=gen("bank", "--events", "1500", "--accounts", "60", "--seed", s[0]))
    engram(store, "append", "--sync", "none", "--batch", "300",
           data=gen("orders", "--events", "1500", "--late", "0.2", "--seed", s[1]))
    engram(store, "append", "--sync", "none", "--batch", "97",
           data=gen("clickstream", "--events", "2500", "--users", "80", "--days", "3",
                    "--late", "0.1", "--dup", "0.1", "--seed", s[2]))
    engram(store, "append", "--sync", "none", data=hand_events())
    engram(store, "append", "--heartbeat", "2025-01-02T00:00:00Z", "--sync", "none")
    engram(store, "append", "--sync", "none", "--batch", "50",
           data=gen("clickstream", "--events", "500", "--users", "20", "--days", "1",
                    "--start", "2025-01-03T00:00:00Z", "--seed", s[3]))


_DEC = json.JSONDecoder()


def parse_line(line):
    """One line of engram read: {field: (value, exact JSON text)}."""
    out = {}
    i = 1
    while True:
        while line[i] in " \t":
            i += 1
        key, i = _DEC.raw_decode(line, i)
        while line[i] in " \t:":
            i += 1
        start = i
        val, i = _DEC.raw_decode(line, i)
        out[key] = (val, line[start:i])
        while line[i] in " \t":
            i += 1
        if line[i] == "}":
            return out
        assert line[i] == ",", line
        i += 1


def read_rows(store):
    """The plain table's rows from engram read, in log order."""
    rows = []
    for line in engram(store, "read", "--format", "ndjson").decode().splitlines():
        f = parse_line(line)
        row = []
        for c in COLS[:10]:
            row.append(f[c][0])
        for c in ("data", "meta"):
            row.append(None if f[c][0] is None else f[c][1])
        row += [us_of(f["time"][0]), us_of(f["recorded"][0])]
        row.append(f["schema_version"][0] if "schema_version" in f else None)
        rows.append(tuple(row))
    return rows


def load_plain(db, rows):
    db.execute("DROP TABLE IF EXISTS ev")
    db.execute(PLAIN_SCHEMA)
    # rowid = pos, as in the virtual table
    db.executemany("INSERT INTO ev(rowid, %s) VALUES (?, %s)" % (", ".join(COLS), ", ".join("?" * len(COLS))),
                   [(r[0],) + r for r in rows])


# ---------------------------------------------------------------- values

def lit(v):
    """A Python value as an SQL literal."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, bytes):
        return "x'%s'" % v.hex()
    if "\0" in v:
        return "(" + "||char(0)||".join(lit(p) for p in v.split("\0")) + ")"
    return "'%s'" % v.replace("'", "''")


class Gen:
    """Random SQL over one store's rows."""

    def __init__(self, rng, rows, dir_):
        self.r = rng
        self.rows = rows
        self.dir = dir_
        self.n = len(rows)
        self.vals = {c: sorted(set(r[i] for r in rows if r[i] is not None), key=repr)
                     for i, c in enumerate(COLS)}
        self.anchor = None

    def pick(self, xs):
        return xs[self.r.randrange(len(xs))]

    def chance(self, p):
        return self.r.random() < p

    # Values for a column, the interesting ones often.
    def text_val(self, col):
        r = self.r.random()
        if r < 0.45 and self.vals.get(col):
            return lit(self.pick(self.vals[col]))
        if r < 0.55:
            other = self.pick(["stream", "type", "id", "kind"])
            return lit(self.pick(self.vals[other]))
        if r < 0.62 and self.vals.get(col):
            v = self.pick(self.vals[col])
            return lit(self.pick([v.upper(), v.lower(), v.swapcase()]))
        if r < 0.67 and self.vals.get(col):
            v = self.pick(self.vals[col])
            return lit(v[:self.r.randrange(len(v) + 1)])
        if r < 0.72 and self.vals.get(col):
            v = self.pick(self.vals[col])
            return lit(v.encode())              # a BLOB never equals text
        if r < 0.80:
            return self.pick(["NULL", "''", "'nope'", "5", "7", "42", "1.5", "100", "100.0", "1e2",
                              "-1", "0", "9223372036854775807", "9223372036854775808",
                              "'007'", "' 7'", "'5.0'", "'x'||char(0)||'y'", "'s'||char(0)||'t'",
                              "char(0)", "'zzz'", "'~'", "x''", "x'00'"])
        if r < 0.90:
            v = self.text_val(col)
            return "CAST(%s AS %s)" % (v, self.pick(["INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC"]))
        return self.pick(["'metric'", "'error'", "'event'", "'Metric'", "'metrics'", "'account-000001'",
                          "'user-000001'", "'page_view'", "'deposit'", "'engram.heartbeat'"])

    def time_val(self, col):
        r = self.r.random()
        if r < 0.35:
            return lit(self.pick(self.vals[col]))
        if r < 0.6:
            v = self.pick(self.vals[col])
            return lit(v[:self.r.randrange(4, 27)])
        if r < 0.7:
            v = self.pick(self.vals[col])
            us = us_of(v) + self.pick([-1, 1, -1000000, 999999])
            if TIME_MIN <= us <= TIME_MAX:
                return lit(fmt_us(us))
            return lit(v)
        if r < 0.78:
            v = self.pick(self.vals[col])
            return lit(self.pick([v.replace("T", " "), v.lower(), v[:-1], v + "0", v[:19] + "Z",
                                  v[:19] + "+00:00"]))
        if r < 0.9:
            return self.pick(["'2025-01-02'", "'2025-01-02T00:00:00Z'", "'2025'", "'2026'", "'2025-01'",
                              "'0000'", "'9999'", "'10000'", "'9999-12-31T23:59:59.999999Z'",
                              "'0000-01-01T00:00:00.000000Z'", "'abc'", "''", "'2025-13-99'", "'~'",
                              "' 2025'", "'1969-12-31T23:59:59.999999Z'", "'1970'"])
        return self.pick(["2025", "2025.5", "0", "-1", "20250102", "1e20", "NULL",
                          "x'32303235'", "CAST('2025' AS INTEGER)", "CAST(2025 AS TEXT)",
                          "CAST('2025-01-02' AS BLOB)"])

    def int_val(self, col):
        r = self.r.random()
        if col == "pos":
            v = self.r.randrange(-2, self.n + 3)
        elif col == "version":
            v = self.r.randrange(-1, 40)
        else:
            v = self.pick(self.vals[col]) + self.pick([0, 0, 0, 1, -1, 1000000])
        if r < 0.5:
            return str(v)
        if r < 0.6:
            return repr(v + self.pick([0.5, -0.5, 0.0, 0.25]))
        if r < 0.7:
            return lit(self.pick([str(v), "%d.0" % v, " %d" % v, "%d " % v, "%d.5" % v, "0x%x" % abs(v),
                                  "%dabc" % v, "+%d" % v]))
        if r < 0.75:
            return "CAST(%s AS %s)" % (lit(str(v)), self.pick(["INTEGER", "REAL", "TEXT", "NUMERIC", "BLOB"]))
        if r < 0.85:
            return self.pick(["NULL", "'abc'", "''", "x'31'", "x''", "9223372036854775807",
                              "-9223372036854775808", "9223372036854775807.0", "1e19", "-1e19",
                              "9.2e18", "'9223372036854775808'", "-0.0", "0.5"])
        return str(self.r.randrange(-2, self.n + 3))

    def val(self, col):
        # Values of one row (the anchor) often, so that conjunctions of
        # several pushed conditions still select rows.
        if self.anchor and self.chance(0.5) and col in COLS:
            v = self.anchor[COLS.index(col)]
            if col == "pos" and self.chance(0.5):
                v += self.r.randrange(-3, 4)
            if v is not None:
                return lit(v)
        if col in INT_COLS:
            return self.int_val(col)
        if col in TIME_COLS:
            return self.time_val(col)
        return self.text_val(col)

    # Conditions.
    def atom(self, a=""):
        col = self.pick(NAME_COLS * 3 + INT_COLS * 3 + TIME_COLS * 3 + OTHER_TEXT + ["rowid", "data", "meta"])
        c = a + col
        if col == "rowid":
            col = "pos"
        r = self.r.random()
        if col in ("data", "meta"):
            return self.pick(["%s IS NULL" % c, "%s IS NOT NULL" % c, "%s->>'amount' > 100" % c,
                              "json_extract(%s, '$.device') = 'web'" % c, "%s = '{}'" % c,
                              "%s->>'host' = 'a'" % c, "%s LIKE '%%order%%'" % c])
        if r < 0.35:
            op = self.pick(["=", "=", "==", "<", "<=", ">", ">=", "!=", "<>", "IS", "IS NOT"])
            v = self.val(col)
            if self.chance(0.15):
                flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
                return "%s %s %s" % (v, flip.get(op, op), c)
            return "%s %s %s" % (c, op, v)
        if r < 0.55:
            k = self.pick([0, 1, 1, 2, 3, 5])
            vs = ", ".join(self.val(col) for _ in range(k))
            if self.chance(0.2) and vs:
                vs += ", " + vs.split(", ")[0]           # a value twice
            return "%s %sIN (%s)" % (c, "NOT " if self.chance(0.15) else "", vs)
        if r < 0.65:
            return "%s %sBETWEEN %s AND %s" % (c, "NOT " if self.chance(0.1) else "", self.val(col),
                                                self.val(col))
        if r < 0.72:
            return "%s IN (SELECT %s FROM vals WHERE k %% %d = %d)" % (
                c, self.pick(["i", "r", "s", "b", "n"]), self.pick([2, 3, 5]), self.r.randrange(2))
        if r < 0.8 and col not in INT_COLS:
            op = self.pick(["=", "<", ">=", "IN"])
            if op == "IN":
                return "%s COLLATE NOCASE IN (%s, %s)" % (c, self.val(col), self.val(col))
            if self.chance(0.5):
                return "%s %s %s COLLATE NOCASE" % (c, op, self.val(col))
            return "%s COLLATE NOCASE %s %s" % (c, op, self.val(col))
        if r < 0.85:
            return "%s IS %sNULL" % (c, self.pick(["", "NOT "]))
        if r < 0.9:
            return "+%s %s %s" % (c, self.pick(["=", "<", ">="]), self.val(col))
        if r < 0.95 and col not in INT_COLS:
            v = self.pick(self.vals[col]) if self.vals.get(col) else "x"
            return "%s LIKE %s" % (c, lit(v[:self.r.randrange(len(v) + 1)] + "%"))
        return "%s %s %s" % (c, self.pick(["<", ">="]), self.val(col))

    def pushable(self, a="", near=False):
        """A condition engram takes whole (so that LIMIT is pushed too)."""
        col = self.pick(NAME_COLS + INT_COLS + TIME_COLS + ["pos", "pos", "id"])
        if near or (self.anchor and col in ("pos", "id") and self.chance(0.5)):
            col = col if col in ("pos", "id") else self.pick(["pos", "id"])
            # the anchor and rows just before it: a list whose first
            # members may fail the other conditions
            at = self.anchor[0]
            near = sorted(set(max(1, at - self.r.randrange(12)) for _ in range(5)) | {at})
            vs = [lit(self.rows[p - 1][COLS.index(col)]) for p in near]
            return "%s%s IN (%s)" % (a, col, ", ".join(vs))
        if col in NAME_COLS or (col == "pos" and self.chance(0.5)):
            vs = [self.val(col) for _ in range(self.pick([1, 1, 2, 3, 6]))]
            if len(vs) == 1 and self.chance(0.5):
                return "%s%s = %s" % (a, col, vs[0])
            return "%s%s IN (%s)" % (a, col, ", ".join(vs))
        if self.chance(0.3):
            return "%s%s BETWEEN %s AND %s" % (a, col, self.val(col), self.val(col))
        return "%s%s %s %s" % (a, col, self.pick(["<", "<=", ">", ">=", "="]), self.val(col))

    def cond(self, a="", depth=0):
        r = self.r.random()
        if depth < 2 and r < 0.15:
            return "(%s) OR (%s)" % (self.conj(a, depth + 1), self.conj(a, depth + 1))
        if depth < 2 and r < 0.2:
            return "NOT (%s)" % self.conj(a, depth + 1)
        return self.atom(a)

    def conj(self, a="", depth=0):
        return " AND ".join(self.cond(a, depth) for _ in range(self.r.randint(1, 3)))

    def select_list(self):
        r = self.r.random()
        if r < 0.3:
            return "*"
        if r < 0.5:
            return "pos"
        cols = self.r.sample(COLS, self.r.randint(1, 5))
        return ", ".join(cols)

    def order(self):
        r = self.r.random()
        if r < 0.35:
            return None
        return self.pick(["pos", "pos DESC", "rowid DESC", "pos ASC", "time, pos", "time DESC, pos DESC",
                          "stream, pos", "stream DESC, pos DESC", "recorded_us DESC, id",
                          "type COLLATE NOCASE, pos", "kind, version DESC, pos", "id"])

    def simple(self):
        """A structured SELECT (shrinkable): dict of its parts."""
        self.anchor = self.pick(self.rows) if self.chance(0.6) else None
        atoms = []
        if self.chance(0.4):
            if self.anchor and self.chance(0.5):
                atoms.append(self.pushable(near=True))
            atoms += [self.pushable() for _ in range(self.r.randint(0, 3))]
        else:
            atoms = [self.cond() for _ in range(self.r.randint(0, 4))]
        q = {"sel": self.select_list(), "atoms": atoms,
             "order": self.order(), "limit": None, "offset": None}
        if self.chance(0.5):
            q["limit"] = self.pick([0, 1, 1, 2, 3, 5, 17, 100, -1])
            if self.chance(0.3):
                q["offset"] = self.pick([0, 1, 3, 50])
        return q


def render(q, t):
    sql = "SELECT %s FROM %s" % (q["sel"], t)
    if q["atoms"]:
        sql += " WHERE " + " AND ".join("(%s)" % a for a in q["atoms"])
    if q["order"]:
        sql += " ORDER BY " + q["order"]
    if q["limit"] is not None:
        sql += " LIMIT %d" % q["limit"]
        if q["offset"] is not None:
            sql += " OFFSET %d" % q["offset"]
    return sql


# ------------------------------------------------------------- comparing

def run(db, sql):
    try:
        return db.execute(sql).fetchall(), None
    except sqlite3.Error as e:
        return None, str(e)


def verdict(db, vt_sql, plain_sql, ordered, limit=None, offset=None, full_sql=None):
    """None when the virtual table answers what the plain table does, else
    what differs."""
    got, gerr = run(db, vt_sql)
    want, werr = run(db, plain_sql)
    if gerr or werr:
        if gerr and werr:
            return None
        return "error through the %s only: %s" % ("virtual table" if gerr else "plain table",
                                                 gerr or werr)
    if limit is not None and not ordered:
        # no total order: any `limit` rows of the full answer
        full, _ = run(db, full_sql)
        n = len(full) - (offset or 0)
        n = max(0, n if limit < 0 else min(limit, n))
        if len(got) != n:
            return "%d rows, expected %d (LIMIT without ORDER BY, %d in all)" % (len(got), n, len(full))
        extra = collections.Counter(got) - collections.Counter(full)
        if extra:
            return "rows not in the answer: %r" % list(extra)[:3]
        return None
    if ordered:
        if got == want:
            return None
        i = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        return "%d rows, expected %d; first difference at row %d: %r vs %r" % (
            len(got), len(want), i, got[i:i + 1], want[i:i + 1])
    g, w = collections.Counter(got), collections.Counter(want)
    if g == w:
        return None
    return "%d rows, expected %d; extra %r; missing %r" % (len(got), len(want), list(g - w)[:3],
                                                          list(w - g)[:3])


class Checker:
    def __init__(self, db, gen, forms, seed, keep_going):
        self.db, self.g, self.forms, self.seed = db, gen, forms, seed
        self.keep_going = keep_going
        self.n = 0

    def form(self):
        return self.g.pick(self.forms)

    def fail(self, what, sql, extra=""):
        FAILS.append((what, sql))
        print("MISMATCH (seed %d): %s\n  query: %s%s" % (self.seed, what, sql, extra))
        try:
            plan = self.db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            print("  plan: %s" % " | ".join(str(p[-1]) for p in plan))
        except sqlite3.Error:
            pass
        sys.stdout.flush()
        if not self.keep_going or len(FAILS) >= 20:
            sys.exit(1)

    def check(self, tpl, ordered, limit=None, offset=None, tpl_full=None):
        """tpl: SQL with {T} for the table; compared both ways."""
        self.n += 1
        t = self.form()
        vt_sql = tpl.replace("{T}", t)
        why = verdict(self.db, vt_sql, tpl.replace("{T}", "ev"), ordered, limit, offset,
                      tpl_full.replace("{T}", "ev") if tpl_full else None)
        if why:
            self.fail(why, vt_sql)
        return why

    def check_simple(self, q, extra_atom=None):
        if extra_atom:
            q = dict(q, atoms=q["atoms"] + [extra_atom])
        ordered = q["order"] is not None
        full = dict(q, limit=None, offset=None)
        self.n += 1
        t = self.form()
        why = verdict(self.db, render(q, t), render(q, "ev"), ordered, q["limit"], q["offset"],
                      render(full, "ev"))
        if why:
            small = self.shrink(q, t)
            self.fail(why, render(q, t), "\n  shrunk: %s" % render(small, t) if small != q else "")
        return why

    def shrink(self, q, t):
        """A smaller query that still fails (greedy)."""
        def fails(x):
            full = dict(x, limit=None, offset=None)
            return verdict(self.db, render(x, t), render(x, "ev"), x["order"] is not None,
                           x["limit"], x["offset"], render(full, "ev")) is not None
        changed = True
        while changed:
            changed = False
            cands = [dict(q, atoms=q["atoms"][:i] + q["atoms"][i + 1:]) for i in range(len(q["atoms"]))]
            cands += [dict(q, offset=None), dict(q, limit=None, offset=None), dict(q, order=None),
                      dict(q, sel="pos")]
            for c in cands:
                if c != q and fails(c):
                    q, changed = c, True
                    break
        return q


# ---------------------------------------------------------------- phases

def random_queries(ck, g, count):
    for _ in range(count):
        r = g.r.random()
        if r < 0.6:
            ck.check_simple(g.simple())
        elif r < 0.7:
            w = g.conj()
            ck.check("SELECT count(*), min(pos), max(pos), total(version), count(DISTINCT stream), "
                     "max(time), min(recorded_us) FROM {T} WHERE " + w, True)
            ck.check("SELECT type, kind, count(*), max(pos) FROM {T} WHERE %s GROUP BY type, kind" % w, False)
        elif r < 0.8:
            # the TEMP table's values as the right side of a join condition
            col = g.pick(COLS[:10] + ["time_us", "recorded_us"])
            vc = g.pick(["i", "r", "s", "b", "n"])
            op = g.pick(["=", "=", "<", ">=", "IS"])
            join = g.pick(["JOIN", "CROSS JOIN"])
            tail = (" AND " + g.conj("e.")) if g.chance(0.5) else ""
            ck.check("SELECT e.pos, v.k FROM vals v %s {T} e ON e.%s %s v.%s%s" % (join, col, op, vc, tail),
                     False)
        elif r < 0.9:
            # self-joins: the inner side's conditions come from the outer row
            outer = g.pick(["a.stream IN (%s, %s)" % (g.val("stream"), g.val("stream")),
                            "a.pos BETWEEN %d AND %d" % ((lambda p: (p, p + 40))(g.r.randrange(1, g.n))),
                            "a.type = %s" % g.val("type") + " AND a.pos < %d" % g.r.randrange(g.n),
                            "a.id IN (%s, %s, %s)" % (g.val("id"), g.val("id"), g.val("id"))])
            on = g.pick(["b.stream = a.stream AND b.pos < a.pos",
                         "b.pos = a.pos + 1",
                         "b.pos IN (a.pos - 1, a.pos, a.version)",
                         "b.id = a.id",
                         "b.type = a.type AND b.time >= a.time AND b.pos <> a.pos",
                         "b.time_us BETWEEN a.time_us - 60000000 AND a.time_us",
                         "b.recorded = a.recorded AND b.stream = a.stream",
                         "b.kind = a.kind AND b.pos > a.pos - 3 AND b.pos <= a.pos"])
            ck.check("SELECT a.pos, b.pos FROM {T} a JOIN {T} b ON %s WHERE %s" % (on, outer), False)
            ck.check("SELECT a.pos FROM {T} a WHERE %s AND EXISTS (SELECT 1 FROM {T} b WHERE %s) "
                     "ORDER BY a.pos DESC" % (outer, on), True)
        else:
            w = g.conj()
            n = g.pick([0, 1, 7, 30])
            ck.check("SELECT count(*), sum(pos) FROM (SELECT pos FROM {T} WHERE %s ORDER BY pos DESC LIMIT %d)"
                     % (w, n), True)
            ck.check("SELECT * FROM {T} WHERE pos = (SELECT max(pos) FROM {T} WHERE %s)" % w, True)
            ck.check("SELECT pos, stream FROM {T} WHERE stream IN (SELECT stream FROM {T} WHERE %s) "
                     "AND %s" % (w, g.atom()), False)


def time_forms(g, us):
    """Ways to write time us that engram reads as exactly us."""
    forms = [lit(fmt_us(us))]
    t = fmt_us(us)
    if us % 1000000 == 0:
        forms.append(lit(t[:19] + "Z"))
    if us % 1000 == 0:
        forms += [str(us // 1000), lit(str(us // 1000)), lit(t[:23] + "Z")]
    if us % 86400000000 == 0:
        forms.append(lit(t[:10]))
    # the same instant two hours east
    if us + 7200 * 1000000 <= TIME_MAX:
        s = fmt_us(us + 7200 * 1000000)
        forms.append(lit(s[:26] + "+02:00"))
    return forms


def time_travel(ck, g, dir_, count):
    """known_at / as_of against recorded_us <= K / time_us <= K."""
    rec = g.vals["recorded_us"]
    tim = g.vals["time_us"]
    for _ in range(count):
        def k_of(vals):
            r = g.r.random()
            if r < 0.5:
                return g.pick(vals) + g.pick([0, 0, -1, 1])
            if r < 0.7:
                return g.pick(vals) // 86400000000 * 86400000000   # a midnight: the date form
            if r < 0.85:
                return g.pick(vals) // 1000 * 1000
            return g.pick([0, 1735689600000000, vals[0] - 1, vals[-1], vals[-1] + 1])
        # times engram can write as text: years 0000 to 9999
        ka, ao = (min(max(k_of(v), TIME_MIN), TIME_MAX) for v in (rec, tim))
        kf, af = g.pick(time_forms(g, ka)), g.pick(time_forms(g, ao))
        q = g.simple()
        if g.chance(0.3):
            # an OR of two pushed conditions: SQLite may read each branch
            # through the table and check the rest itself
            a, b = g.r.sample(NAME_COLS, 2)
            q["atoms"].append("%s = %s OR %s IN (%s, %s)" % (a, g.val(a), b, g.val(b), g.val(b)))
        which = g.r.randrange(3)
        hidden, plain = [], []
        if which in (0, 2):
            hidden.append("known_at = %s" % kf)
            plain.append("recorded_us <= %d" % ka)
        if which in (1, 2):
            hidden.append("as_of = %s" % af)
            plain.append("time_us <= %d" % ao)
        ordered = q["order"] is not None
        t = ck.form()
        hq = dict(q, atoms=q["atoms"] + hidden)
        pq = dict(q, atoms=q["atoms"] + plain)
        ck.n += 1
        why = verdict(ck.db, render(hq, t), render(pq, "ev"), ordered, q["limit"], q["offset"],
                      render(dict(pq, limit=None, offset=None), "ev"))
        if why:
            ck.fail(why, render(hq, t), "\n  plain: " + render(pq, "ev"))
        # the hidden columns show the time given (as given, or in engram's form)
        sql = "SELECT known_at, as_of FROM %s WHERE %s LIMIT 1" % (t, " AND ".join(hidden))
        got, err = run(ck.db, sql)
        given = ck.db.execute("SELECT %s, %s" % (kf, af)).fetchone()
        for i, (ok_, us) in enumerate(((which in (0, 2), ka), (which in (1, 2), ao))):
            shown = got[0][i] if got else None
            if err or (got and (shown not in (fmt_us(us), given[i]) if ok_ else shown is not None)):
                ck.fail("%s shows %r for %s" % (("known_at", "as_of")[i], err or shown, (kf, af)[i]), sql)
    # the table-valued form: engram_events(DIR, known_at)
    k = g.pick(rec)
    ck.n += 1
    why = verdict(ck.db, "SELECT pos FROM engram_events(%s, %s)" % (lit(dir_), lit(fmt_us(k))),
                  "SELECT pos FROM ev WHERE recorded_us <= %d" % k, False)
    if why:
        ck.fail(why, "SELECT pos FROM engram_events(%s, %s)" % (lit(dir_), lit(fmt_us(k))))
    # a time engram cannot read is an error naming the column
    for bad in ("'yesterday'", "'2025-13-01'", "1.5", "x'00'", "NULL", "''"):
        for col in ("known_at", "as_of"):
            sql = "SELECT count(*) FROM %s WHERE %s = %s" % (ck.form(), col, bad)
            got, err = run(ck.db, sql)
            if not err or "%s: expected" % col not in err:
                ck.fail("a bad %s gave %r" % (col, err or got), sql)


# ------------------------------------------------------- a writer appends

class Writer(threading.Thread):
    """engram append in a loop: batches of BATCH events, stream w-N each."""
    BATCH = 5

    def __init__(self, store):
        super().__init__(daemon=True)
        self.store, self.stop, self.batches, self.err = store, threading.Event(), 0, None
        self.env = child_env()

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            lines = "".join(json.dumps({"id": "w-%d-%d" % (n, k), "stream": "w-%d" % n, "type": "tick",
                                        "data": {"k": k}}) + "\n" for k in range(self.BATCH))
            p = subprocess.run([E, "-d", self.store, "append", "--sync", "none"], input=lines.encode(),
                               capture_output=True, env=self.env)
            if p.returncode:
                self.err = p.stderr.decode()
                return
            self.batches = n
            time.sleep(0.005)   # leave the readers a share of the CPU


def while_appending(ck, g, store, h, seconds):
    """Self-consistency under a writer, and the oracle on pos <= h."""
    w = Writer(store)
    w.start()
    t_end = time.time() + seconds
    heads = []
    long_checked = 0

    def expect(cond, what, sql):
        if not cond:
            ck.fail(what, sql)

    rounds = 0
    while time.time() < t_end or rounds < 2:
        t = ck.form()
        # a statement stepped slowly across appends sees one head throughout
        if rounds % 3 == 0:
            sql = "SELECT pos FROM %s ORDER BY pos" % t
            ck.n += 1
            cur = ck.db.execute(sql)
            got = cur.fetchmany(200)
            before = w.batches
            waited = time.time() + 3
            while w.batches < before + 3 and time.time() < waited:
                time.sleep(0.01)
            got += cur.fetchall()
            now = ck.db.execute("SELECT max(pos) FROM %s" % t).fetchone()[0]
            expect(got == list(zip(range(1, len(got) + 1))), "a slow statement's rows are not 1..%d" % len(got), sql)
            long_checked += now > len(got)
        rounds += 1
        sql = "SELECT count(*), max(pos), min(pos) FROM %s" % t
        ck.n += 1
        c, mx, mn = ck.db.execute(sql).fetchone()
        expect(c == mx and mn == 1 and mx >= h, "count %d, max %d, min %d (head was %d)" % (c, mx, mn, h), sql)
        expect(not heads or mx >= heads[-1], "the head went back from %d to %d" % (heads[-1] if heads else 0, mx), sql)
        heads.append(mx)
        sql = ("SELECT (SELECT count(*) FROM {T}), (SELECT max(pos) FROM {T}), "
               "(SELECT count(*) FROM {T} a JOIN {T} b ON b.pos = a.pos)").replace("{T}", t)
        ck.n += 1
        a, b, j = ck.db.execute(sql).fetchone()
        expect(a == b == j, "one statement saw heads %d, %d and %d" % (a, b, j), sql)
        # never a part of a batch
        sql = ("SELECT stream, count(*) FROM %s WHERE stream >= 'w-' AND stream < 'w.' "
               "GROUP BY stream HAVING count(*) <> %d" % (t, Writer.BATCH))
        ck.n += 1
        rows = ck.db.execute(sql).fetchall()
        expect(not rows, "partial batches seen: %r" % rows[:3], sql)
        # the oracle on what was there when the plain table was loaded
        for _ in range(3):
            ck.check_simple(g.simple(), "pos <= %d" % h)
    w.stop.set()
    w.join()
    if w.err:
        sys.exit("prop.py: the writer failed: %s" % w.err)
    grew = heads[-1] > heads[0] if heads else False
    if not grew or not long_checked:
        ck.fail("the writer's appends were never seen (heads %s, slow checks %d)"
                % (heads[:1] + heads[-1:], long_checked), "SELECT max(pos) FROM events")
    return w.batches, len(heads)


# ------------------------------------------------------------------ main

def main():
    global E
    ap = argparse.ArgumentParser()
    ap.add_argument("engram")
    ap.add_argument("extension")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SQL_PROP_SEED") or 0) or None)
    ap.add_argument("--queries", type=int, default=1200)
    ap.add_argument("--writer-seconds", type=float, default=5)
    ap.add_argument("--keep-going", action="store_true")
    args = ap.parse_args()
    E = os.path.abspath(args.engram)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1 << 31)
    print("prop.py: seed %d (again: SQL_PROP_SEED=%d)" % (seed, seed))
    sys.stdout.flush()
    rng = random.Random(seed)
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="engram-sqlprop-")
    try:
        mix = os.path.join(tmp, "mix")
        make_mix(mix, rng)
        rows = read_rows(mix)
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1))

        db = sqlite3.connect(":memory:")
        db.enable_load_extension(True)
        db.load_extension(os.path.abspath(args.extension))
        load_plain(db, rows)
        db.execute("CREATE TEMP TABLE vals(k INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n)")
        g = Gen(rng, rows, mix)
        vals = []
        for k in range(24):
            vals.append((k, g.r.randrange(-1, len(rows) + 2) if k % 4 else g.pick(g.vals["time_us"]),
                         g.r.randrange(0, len(rows)) + g.pick([0.0, 0.5]),
                         g.pick(g.vals[g.pick(["stream", "type", "id", "kind", "time", "recorded"])]),
                         g.pick(g.vals["stream"]).encode() if k % 3 else None,
                         g.pick([None, 5, 7, "5", "007", 1.5, b"s", "page_view", "metric", g.pick(g.vals["id"])])))
        db.executemany("INSERT INTO vals VALUES (?, ?, ?, ?, ?, ?)", vals)
        db.execute("CREATE VIRTUAL TABLE temp.vt USING engram(%s)" % lit(mix))
        forms = ["engram_events(%s)" % lit(mix), "vt"]
        ck = Checker(db, g, forms, seed, args.keep_going)
        t1 = time.time()
        random_queries(ck, g, args.queries)
        time_travel(ck, g, mix, max(50, args.queries // 10))
        t2 = time.time()
        print("prop.py: %d events (%d record times), %d queries in %.1fs (store built in %.1fs)"
              % (len(rows), len(g.vals["recorded_us"]), ck.n, t2 - t1, t1 - t0))

        # a second store, appended to while it is queried
        live = os.path.join(tmp, "live")
        engram(live, "append", "--sync", "none", "--batch", "400",
               data=gen("clickstream", "--events", "2000", "--users", "50", "--late", "0.1",
                        "--dup", "0.05", "--seed", str(rng.randrange(1 << 30))))
        lrows = read_rows(live)
        h = len(lrows)
        db2 = sqlite3.connect(":memory:")
        db2.enable_load_extension(True)
        db2.load_extension(os.path.abspath(args.extension))
        load_plain(db2, lrows)
        db2.execute("CREATE TEMP TABLE vals AS SELECT * FROM (SELECT 1 k, 1 i, 1.0 r, 's' s, x'' b, NULL n)")
        db2.execute("CREATE VIRTUAL TABLE temp.vt USING engram(%s)" % lit(live))
        g2 = Gen(rng, lrows, live)
        ck2 = Checker(db2, g2, ["engram_events(%s)" % lit(live), "vt"], seed, args.keep_going)
        batches, rounds = while_appending(ck2, g2, live, h, args.writer_seconds)
        t3 = time.time()
        print("prop.py: while %d batches were appended, %d queries in %d rounds in %.1fs"
              % (batches, ck2.n, rounds, t3 - t2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILS:
        print("prop.py: %d mismatches (seed %d)" % (len(FAILS), seed))
        sys.exit(1)
    print("prop.py: ok (%.1fs)" % (time.time() - t0))


if __name__ == "__main__":
    main()
