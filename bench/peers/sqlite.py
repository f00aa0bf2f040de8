"""bench/peers/sqlite.py — the SQLite peer of bench/compare.sh (Python's
sqlite3 module on Debian's libsqlite3; statements are prepared once and
cached by the module, as an application's would be).

  load DB FILE             W1: FILE (NDJSON) into a fresh table, one transaction
  scan DB OUT              W2: count by type, hourly counts by data.page_url
  bank DB FILE             W3: bank events into bank(stream, type, time, cents)
  asof DB PAIRS OUT        W3: each "account<TAB>time" line's balance at that time
  incr DB OUT BATCH...     W4: per batch: insert it, then re-run the hourly query

Each prints one JSON line of seconds timed inside the process; answers go
to files as TSV for the driver to compare.  Times are ISO 8601 UTC text as
the generator writes them (one format: text order is time order).
"""
import os
import sqlite3
import time

from common import main, tsv

EVENTS = """CREATE TABLE events(pos INTEGER PRIMARY KEY, id TEXT NOT NULL,
  stream TEXT, type TEXT NOT NULL, time TEXT NOT NULL, session TEXT, data TEXT)"""
# Built after a bulk load, in the same transaction (faster than row by row).
INDEXES = """CREATE UNIQUE INDEX events_id ON events(id);
CREATE INDEX events_stream ON events(stream);"""
# One line of NDJSON in, one row out: SQLite's own JSON functions parse it.
INSERT = """INSERT INTO events(id, stream, type, time, session, data)
  SELECT j->>'id', j->>'stream', j->>'type', j->>'time', j->>'session', j->'data'
  FROM (SELECT ? AS j)"""
TYPES = "SELECT type, count(*) FROM events GROUP BY type"
# substr of the ISO text is the hour (cheaper than strftime: favours SQLite)
HOURLY = """SELECT substr(time, 1, 13), data->>'page_url', count(*) FROM events
  GROUP BY 1, 2"""
BANK = """CREATE TABLE bank(pos INTEGER PRIMARY KEY, stream TEXT, type TEXT, time TEXT,
  cents INTEGER)"""
BANK_INDEX = "CREATE INDEX bank_stream_time ON bank(stream, time)"
BANK_INSERT = """INSERT INTO bank(stream, type, time, cents)
  SELECT j->>'stream', j->>'type', j->>'time', CAST(round((j->>'$.data.amount') * 100) AS INTEGER)
  FROM (SELECT ? AS j)"""
ASOF = """SELECT coalesce(sum(CASE WHEN type IN ('withdrawal', 'fee') THEN -cents ELSE cents END), 0)
  FROM bank WHERE stream = ? AND time <= ?
  AND type IN ('account_opened', 'deposit', 'withdrawal', 'fee', 'account_closed')"""


def connect(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")        # WAL fsynced at each commit
    db.execute("PRAGMA cache_size=-262144")      # 256 MiB: a bulk load spills less
    return db


def lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield (line,)


def insert(db, sql, path, then=""):
    db.execute("BEGIN")
    db.executemany(sql, lines(path))
    for s in filter(None, then.split(";")):
        db.execute(s)
    db.execute("COMMIT")


def load(dbfile, path):
    t0 = time.perf_counter()
    db = connect(dbfile)
    db.execute(EVENTS)
    insert(db, INSERT, path, INDEXES)
    s = time.perf_counter() - t0
    rows = db.execute("SELECT count(*) FROM events").fetchone()[0]
    db.close()
    size = sum(os.path.getsize(dbfile + x) for x in ("", "-wal", "-shm") if os.path.exists(dbfile + x))
    return {"s": s, "rows": rows, "bytes": size}


def timed_query(db, sql, out):
    t0 = time.perf_counter()
    rows = db.execute(sql).fetchall()
    s = time.perf_counter() - t0
    tsv(out, rows)
    return s


def scan(dbfile, out):
    db = connect(dbfile)
    return {"types_s": timed_query(db, TYPES, out + "/types.tsv"),
            "hourly_s": timed_query(db, HOURLY, out + "/hourly.tsv")}


def bank(dbfile, path):
    t0 = time.perf_counter()
    db = connect(dbfile)
    db.execute(BANK)
    insert(db, BANK_INSERT, path, BANK_INDEX)
    return {"s": time.perf_counter() - t0}


def asof(dbfile, pairs, out):
    db = connect(dbfile)
    qs = [line.rstrip("\n").split("\t") for line in open(pairs, encoding="utf-8")]
    t0 = time.perf_counter()
    res = [db.execute(ASOF, q).fetchone()[0] for q in qs]
    s = time.perf_counter() - t0
    tsv(out, ((q[0], q[1], c) for q, c in zip(qs, res)))
    return {"s": s, "queries": len(qs)}


def incr(dbfile, out, batches):
    db = connect(dbfile)
    ins = qry = 0.0
    for b in batches:
        t0 = time.perf_counter()
        insert(db, INSERT, b)
        t1 = time.perf_counter()
        rows = db.execute(HOURLY).fetchall()
        qry += time.perf_counter() - t1
        ins += t1 - t0
    tsv(out, rows)
    return {"insert_s": ins, "query_s": qry, "s": ins + qry, "batches": len(batches)}


main(__doc__, {"load": (load, 2), "scan": (scan, 2), "bank": (bank, 2), "asof": (asof, 3),
                "incr": (incr, 2, "batches")}, {"sqlite": sqlite3.sqlite_version})
