// bench/duckdb_columns.mjs EVENTS DBFILE OUTDIR — the DuckDB peer of
// bench/columns.sh: the engines on columns against DuckDB's queries on its
// loaded table.
//
// Loads EVENTS (the NDJSON of `engram gen clickstream`) with read_json's own
// type detection (data becomes a STRUCT), once into a table of a fresh
// database file DBFILE and once into an in-memory database, a row number
// as pos (DuckDB keeps the file's order).  Then serves commands on stdin,
// one a line, one answer a line on stdout, so that the driver alternates
// DuckDB's runs with engram's:
//   load              -> {"duckdb":…,"file_load_s":…,"mem_load_s":…,"rows":N}
//   run QUERY WHERE   -> seconds of one run of QUERY (page, type, sessions)
//                        on WHERE (file, mem)
//   dump QUERY        -> writes OUTDIR/QUERY.ndjson (the answer, from the
//                        in-memory table) and answers its row count
//   quit
// Times are of the query alone, every result row fetched into node
// (runAndReadAll) for the two window queries; the sessions query is
// wrapped in an aggregate over a hash of every column, as in
// bench/duckdb_sessions.mjs, so that DuckDB computes every column without
// handing 10^5-10^6 rows to node.  DuckDB runs with its defaults (one
// thread per core), times in UTC.
import { DuckDBInstance, version } from '@duckdb/node-api';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const [events, dbfile, outdir] = process.argv.slice(2);
if (!events || !dbfile || !outdir) {
  console.error('usage: node duckdb_columns.mjs EVENTS DBFILE OUTDIR');
  process.exit(2);
}
const q = (s) => `'${s.replaceAll("'", "''")}'`;
const secs = (t0) => +((performance.now() - t0) / 1000).toFixed(4);
const LOAD = `CREATE TABLE events AS SELECT *, row_number() OVER () AS pos
  FROM read_json(${q(events)}, format = 'newline_delimited')`;

// The three queries: hourly counts by page, count by type per hour, and
// sessions with a 30-minute gap (LAG in a subquery, a running SUM in the
// query around it, then GROUP BY: window calls cannot nest).
const PAGE = `SELECT time_bucket(INTERVAL 1 HOUR, time) AS window_start,
  data.page_url AS page_url, count(*) AS n FROM events GROUP BY 1, 2`;
const TYPE = `SELECT time_bucket(INTERVAL 1 HOUR, time) AS window_start,
  type, count(*) AS n FROM events GROUP BY 1, 2`;
const GAP = 1800000000n;
const PV = "type IN ('page_view', 'screen_view')";
const SESS = `WITH e AS (
  SELECT stream, epoch_us(time) AS t, pos, type, session, data.page_url AS page_url,
    CASE WHEN epoch_us(time) - lag(epoch_us(time)) OVER w >= ${GAP} THEN 1 ELSE 0 END AS new
  FROM events WINDOW w AS (PARTITION BY stream ORDER BY time, pos)),
s AS (
  SELECT *, sum(new) OVER (PARTITION BY stream ORDER BY t, pos ROWS UNBOUNDED PRECEDING) AS n
  FROM e)
SELECT stream, min(t) AS start, max(t) AS "end", count(*) AS events,
  count(*) FILTER (${PV}) AS page_views,
  arg_min(page_url, (t, pos)) FILTER (${PV} AND page_url IS NOT NULL) AS entry_page,
  arg_max(page_url, (t, pos)) FILTER (${PV} AND page_url IS NOT NULL) AS exit_page,
  count(DISTINCT nullif(session::VARCHAR, '')) AS client_sessions
FROM s GROUP BY stream, n`;
const TIMED = {
  page: PAGE,
  type: TYPE,
  sessions: `SELECT count(*), sum(hash(stream, start, "end", events, page_views, entry_page,
    exit_page, client_sessions)) FROM (${SESS})`,
};
const DUMP = {
  page: `SELECT strftime(window_start, '%Y-%m-%dT%H:%M:%S.%fZ') AS window_start, page_url, n
    FROM (${PAGE})`,
  type: `SELECT strftime(window_start, '%Y-%m-%dT%H:%M:%S.%fZ') AS window_start, type, n
    FROM (${TYPE})`,
  sessions: SESS,
};

async function open(path) {
  const t0 = performance.now();
  const db = await DuckDBInstance.create(path);
  const con = await db.connect();
  await con.run("SET TimeZone = 'UTC'");
  await con.run(LOAD);
  if (path !== ':memory:') await con.run('CHECKPOINT');
  return { db, con, load: secs(t0) };
}

const plain = (v) => (typeof v === 'bigint' ? Number(v) : v);
let file, mem;
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, name, where] = line.trim().split(/\s+/);
  if (cmd === 'load') {
    file = await open(dbfile);
    mem = await open(':memory:');
    const n = (await mem.con.runAndReadAll('SELECT count(*) FROM events')).getRows()[0][0];
    console.log(JSON.stringify({ duckdb: version(), file_load_s: file.load, mem_load_s: mem.load,
      rows: Number(n) }));
  } else if (cmd === 'run') {
    const { con } = where === 'file' ? file : mem;
    const t0 = performance.now();
    await con.runAndReadAll(TIMED[name]);
    console.log(secs(t0));
  } else if (cmd === 'dump') {
    const r = await mem.con.runAndReadAll(DUMP[name]);
    const names = r.columnNames();
    writeFileSync(`${outdir}/${name}.ndjson`, r.getRows().map((row) => JSON.stringify(
      Object.fromEntries(row.map((v, i) => [names[i], plain(v)]))) + '\n').join(''));
    console.log(r.currentRowCount);
  } else if (cmd === 'quit') {
    break;
  }
}
rl.close();
for (const d of [file, mem]) {
  if (!d) continue;
  d.con.closeSync();
  d.db.closeSync();
}
process.exit(0);
