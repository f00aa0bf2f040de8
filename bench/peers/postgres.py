"""bench/peers/postgres.py — the PostgreSQL peer of bench/compare.sh
(psycopg2 over TCP on loopback, from Debian's packages).

  start DIR PORT           initdb a cluster in DIR, start it on 127.0.0.1:PORT
  stop DIR                 stop it
  clone PORT NAME          a fresh copy of the database as NAME (PORT/NAME below)
  load PORT FILE           W1: COPY FILE (NDJSON) into a fresh table, one transaction
  scan PORT OUT            W2: count by type, hourly counts by data.page_url
  bank PORT FILE           W3: bank events into bank(stream, type, time, cents)
  asof PORT PAIRS OUT      W3: each "account<TAB>time" line's balance at that time
  incr PORT OUT BATCH...   W4: per batch: COPY it in, then re-run the hourly query
  sessions PORT OUT        W5: 30-minute-gap sessions with window functions

The server keeps its defaults (fsync on, synchronous_commit on) but for
shared_buffers = 1GB and max_wal_size = 4GB, the usual advice for a bulk
load on a machine this size.  Each command prints one JSON line of seconds
timed inside the process; answers go to files as TSV.
"""
import os
import subprocess
import time

import psycopg2

from common import main, tsv

# COPY takes each NDJSON line whole as one text field: csv with a quote and
# a delimiter that JSON text never holds, so nothing in it is unescaped.
COPY = "COPY raw FROM STDIN WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
RAW = "CREATE TEMP TABLE raw(line text)"
EVENTS = """CREATE TABLE events(pos bigserial, id text NOT NULL, stream text,
  type text NOT NULL, time timestamptz NOT NULL, session text, data jsonb)"""
INSERT = """INSERT INTO events(id, stream, type, time, session, data)
  SELECT r.* FROM raw, jsonb_to_record(line::jsonb)
  AS r(id text, stream text, type text, time timestamptz, session text, data jsonb)"""
# Indexes built after the bulk load, in the same transaction (faster than
# keeping them up row by row).
INDEXES = """ALTER TABLE events ADD PRIMARY KEY (pos);
ALTER TABLE events ADD UNIQUE (id);
CREATE INDEX events_stream ON events(stream)"""
TYPES = "SELECT type, count(*) FROM events GROUP BY type"
HOURLY = """SELECT to_char(date_trunc('hour', time), 'YYYY-MM-DD"T"HH24'), data->>'page_url', count(*)
  FROM events GROUP BY date_trunc('hour', time), data->>'page_url'"""
BANK = """CREATE TABLE bank(pos bigserial PRIMARY KEY, stream text, type text,
  time timestamptz, cents bigint)"""
BANK_INSERT = """INSERT INTO bank(stream, type, time, cents)
  SELECT j->>'stream', j->>'type', (j->>'time')::timestamptz,
         round((j->'data'->>'amount')::numeric * 100)::bigint
  FROM (SELECT line::jsonb AS j FROM raw OFFSET 0) s"""
ASOF = """PREPARE asof(text, timestamptz) AS
  SELECT coalesce(sum(CASE WHEN type IN ('withdrawal', 'fee') THEN -cents ELSE cents END), 0)
  FROM bank WHERE stream = $1 AND time <= $2
  AND type IN ('account_opened', 'deposit', 'withdrawal', 'fee', 'account_closed')"""
ISO = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
SESSIONS = f"""WITH e AS (
  SELECT stream, time, pos,
    CASE WHEN time - lag(time) OVER w >= interval '30 minutes' THEN 1 ELSE 0 END AS new
  FROM events WINDOW w AS (PARTITION BY stream ORDER BY time, pos)),
s AS (
  SELECT stream, time, sum(new) OVER (PARTITION BY stream ORDER BY time, pos
    ROWS UNBOUNDED PRECEDING) AS n
  FROM e)
SELECT stream, to_char(min(time), '{ISO}'), to_char(max(time), '{ISO}'), count(*)
FROM s GROUP BY stream, n"""


def sh(cmd):
    if os.geteuid() == 0:   # the server will not run as root
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd="/")   # its cwd may be closed to it


def start(d, port):
    os.makedirs(d, exist_ok=True)
    if os.geteuid() == 0:
        subprocess.run(["chown", "postgres", d], check=True)
    sh(["initdb", "-D", d + "/data", "--auth=trust", "-U", "postgres", "-E", "UTF8",
        "--locale=C"])
    sh(["pg_ctl", "-D", d + "/data", "-l", d + "/log", "-w", "start", "-o",
        f"-c listen_addresses=127.0.0.1 -p {port} -k {d} -c shared_buffers=1GB "
        "-c max_wal_size=4GB"])
    return {"version": connect(port).server_version}


def stop(d):
    sh(["pg_ctl", "-D", d + "/data", "-m", "fast", "-w", "stop"])
    return {}


def connect(port):
    """PORT, or PORT/DATABASE (default: postgres)."""
    port, _, name = port.partition("/")
    db = psycopg2.connect(host="127.0.0.1", port=int(port), user="postgres", dbname=name or "postgres")
    db.cursor().execute("SET TimeZone = 'UTC'")
    db.commit()
    return db


def copy_in(cur, path):
    with open(path, encoding="utf-8") as f:
        cur.copy_expert(COPY, f)


def clone(port, name):
    """A copy of the database postgres as NAME (for runs that change it)."""
    db = connect(port)
    db.autocommit = True
    db.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
    db.close()
    db = psycopg2.connect(host="127.0.0.1", port=int(port), user="postgres", dbname="template1")
    db.autocommit = True
    db.cursor().execute(f"CREATE DATABASE {name} TEMPLATE postgres STRATEGY FILE_COPY")
    db.close()
    return {}


def bulk(port, path, table, create, insert, indexes):
    """One transaction: a fresh table, the lines COPYed in, each turned
    into a row, then the indexes.  Returns the seconds and the cursor."""
    t0 = time.perf_counter()
    db = connect(port)
    cur = db.cursor()
    for sql in (f"DROP TABLE IF EXISTS {table}", RAW, create):
        cur.execute(sql)
    copy_in(cur, path)
    cur.execute(insert)
    cur.execute(indexes)
    cur.execute("DROP TABLE raw")
    db.commit()
    return time.perf_counter() - t0, cur


def load(port, path):
    s, cur = bulk(port, path, "events", EVENTS, INSERT, INDEXES)
    cur.execute("SELECT count(*), pg_total_relation_size('events') FROM events")
    rows, size = cur.fetchone()
    return {"s": s, "rows": rows, "bytes": size}


def query(cur, sql):
    cur.execute(sql)
    return cur.fetchall()


def timed_query(cur, sql, out):
    t0 = time.perf_counter()
    rows = query(cur, sql)
    s = time.perf_counter() - t0
    tsv(out, rows)
    return s


def scan(port, out):
    cur = connect(port).cursor()
    return {"types_s": timed_query(cur, TYPES, out + "/types.tsv"),
            "hourly_s": timed_query(cur, HOURLY, out + "/hourly.tsv")}


def bank(port, path):
    return {"s": bulk(port, path, "bank", BANK, BANK_INSERT,
                      "CREATE INDEX bank_stream_time ON bank(stream, time)")[0]}


def asof(port, pairs, out):
    db = connect(port)
    db.autocommit = True
    cur = db.cursor()
    cur.execute("ANALYZE bank")
    cur.execute(ASOF)
    qs = [line.rstrip("\n").split("\t") for line in open(pairs, encoding="utf-8")]
    t0 = time.perf_counter()
    res = []
    for q in qs:
        cur.execute("EXECUTE asof(%s, %s)", q)
        res.append(cur.fetchone()[0])
    s = time.perf_counter() - t0
    tsv(out, ((q[0], q[1], c) for q, c in zip(qs, res)))
    return {"s": s, "queries": len(qs)}


def incr(port, out, batches):
    db = connect(port)
    cur = db.cursor()
    cur.execute(RAW)
    ins = qry = 0.0
    for b in batches:
        t0 = time.perf_counter()
        copy_in(cur, b)
        cur.execute(INSERT)
        cur.execute("TRUNCATE raw")
        db.commit()
        t1 = time.perf_counter()
        rows = query(cur, HOURLY)
        qry += time.perf_counter() - t1
        ins += t1 - t0
    tsv(out, rows)
    return {"insert_s": ins, "query_s": qry, "s": ins + qry, "batches": len(batches)}


def sessions(port, out):
    return {"s": timed_query(connect(port).cursor(), SESSIONS, out)}


main(__doc__, {"start": (start, 2), "stop": (stop, 1), "clone": (clone, 2), "load": (load, 2),
                "scan": (scan, 2), "bank": (bank, 2), "asof": (asof, 3),
                "incr": (incr, 2, "batches"), "sessions": (sessions, 2)})
