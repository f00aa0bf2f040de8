// bench/duckdb_sessions.mjs EVENTS DBFILE GAP_US R OUT — the DuckDB peer of
// `engram sessions` (bench/sessions.sh runs it).
//
// Loads EVENTS (the output of `engram read`: the store's events, each once,
// with its position) into a table of a fresh database, page_url taken out
// of data at load time so that the query does not parse JSON (this favours
// DuckDB), then runs the sessionization a DuckDB user would write: LAG
// marks each event that comes a gap or more after the stream's event
// before it, a running SUM numbers the sessions, GROUP BY makes the rows
// (docs/SESSIONS.md shows the same SQL).  The timed runs wrap the query in
// an aggregate of a hash of every column, so that DuckDB computes all of
// them without handing 10^6 rows to node; one more run writes the rows to
// OUT (NDJSON) for bench/sessions.sh to compare with engram's.  Prints one
// JSON line: load seconds, the seconds of the R timed runs (after a
// warm-up), their median, the row count and DuckDB's version.
import { DuckDBInstance, version } from '@duckdb/node-api';
import { existsSync, writeFileSync } from 'node:fs';

const [events, dbfile, gapText, runsText, out] = process.argv.slice(2);
if (!events || !dbfile || !gapText || !out) {
  console.error('usage: node duckdb_sessions.mjs EVENTS DBFILE GAP_US R OUT');
  process.exit(2);
}
const q = (s) => `'${s.replaceAll("'", "''")}'`;
const gap = BigInt(gapText);
const db = await DuckDBInstance.create(dbfile);
const con = await db.connect();
await con.run("SET TimeZone = 'UTC'");
const t0 = performance.now();
if (!existsSync(dbfile) || !(await con.runAndReadAll(
  "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'")).getRows()[0][0]) {
  await con.run(`CREATE TABLE events AS SELECT pos, stream, type, time, session,
    data->>'page_url' AS page_url FROM read_json(${q(events)}, format = 'newline_delimited',
    columns = {pos: 'BIGINT', stream: 'VARCHAR', type: 'VARCHAR', time: 'TIMESTAMPTZ',
               session: 'VARCHAR', data: 'JSON'})`);
  await con.run('CHECKPOINT');
}
const load = (performance.now() - t0) / 1000;

const PV = "type IN ('page_view', 'screen_view')";
const SQL = `WITH e AS (
  SELECT stream, epoch_us(time) AS t, pos, type, session, page_url,
    CASE WHEN epoch_us(time) - lag(epoch_us(time)) OVER w >= ${gap} THEN 1 ELSE 0 END AS new
  FROM events WINDOW w AS (PARTITION BY stream ORDER BY time, pos)),
s AS (
  SELECT *, sum(new) OVER (PARTITION BY stream ORDER BY t, pos ROWS UNBOUNDED PRECEDING) AS n
  FROM e)
SELECT stream, min(t) AS start, max(t) AS "end", count(*) AS events,
  count(*) FILTER (${PV}) AS page_views,
  arg_min(page_url, (t, pos)) FILTER (${PV} AND page_url IS NOT NULL) AS entry_page,
  arg_max(page_url, (t, pos)) FILTER (${PV} AND page_url IS NOT NULL) AS exit_page,
  count(DISTINCT nullif(session, '')) AS client_sessions
FROM s GROUP BY stream, n`;
const TIMED = `SELECT count(*), sum(hash(stream, start, "end", events, page_views, entry_page,
  exit_page, client_sessions)) FROM (${SQL})`;

const runs = Number(runsText || 3), res = { duckdb: version(), load_s: +load.toFixed(3), s: [] };
let rows = 0;
for (let i = 0; i <= runs; i++) {
  const t = performance.now();
  rows = Number((await con.runAndReadAll(TIMED)).getRows()[0][0]);
  if (i) res.s.push(+((performance.now() - t) / 1000).toFixed(4));
}
res.median_s = [...res.s].sort((a, b) => a - b)[(res.s.length - 1) >> 1];
res.rows = rows;
const all = (await con.runAndReadAll(`${SQL} ORDER BY stream, start`)).getRows();
writeFileSync(out, all.map(([stream, start, end, events, pv, entry, exit, cs]) => JSON.stringify({
  stream, start: Number(start), end: Number(end), events: Number(events), page_views: Number(pv),
  entry_page: entry, exit_page: exit, client_sessions: Number(cs),
})).join('\n') + '\n');
if (process.env.SHOW_SQL) console.error(SQL);
con.closeSync();
db.closeSync();
console.log(JSON.stringify(res));
