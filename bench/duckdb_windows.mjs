// bench/duckdb_windows.mjs MODE DBFILE … — the DuckDB peer of `engram windows`
// (bench/windows.sh runs it) over a database made by duckdb_load.mjs.
//
//   check DBFILE          the hourly count, count(DISTINCT stream) and sum of
//                         duration_ms per page, as tab-separated lines
//                         (window start as engram prints it), for the check
//   replay DBFILE R       the windows query with approx_quantile, then with
//                         quantile_cont, R + 1 times each (the first is a
//                         warm-up, not reported); one JSON line of seconds
//   incr DBFILE FILE…     per file: INSERT its events (not timed), then the
//                         query with approx_quantile (timed); one JSON line
//
// Times are of the query alone (runAndReadAll: every result row fetched into
// node), not of node's start-up or opening the database, which engram's
// whole-process times include.  No ORDER BY (engram's table is ordered).
// DuckDB runs with its defaults (one thread per core), times in UTC.
import { DuckDBInstance, version } from '@duckdb/node-api';

const [mode, dbfile, ...rest] = process.argv.slice(2);
if (!['check', 'replay', 'incr'].includes(mode) || !dbfile) {
  console.error('usage: node duckdb_windows.mjs check|replay|incr DBFILE [R | FILE…]');
  process.exit(2);
}
const q = (s) => `'${s.replaceAll("'", "''")}'`;
const columns = `{id: 'UUID', stream: 'VARCHAR', type: 'VARCHAR',
  time: 'TIMESTAMPTZ', actor: 'VARCHAR', data: 'JSON'}`;   // as duckdb_load.mjs
// examples/pageviews_hourly.json as SQL: tumbling hours by data.page_url.
const windows = (p95) => `SELECT time_bucket(INTERVAL 1 HOUR, time) AS window_start,
  data->>'page_url' AS page_url, count(*) AS views, count(DISTINCT stream) AS users,
  sum(dur) AS ms, avg(dur) AS avg_ms, ${p95} AS p95_ms
  FROM (SELECT time, stream, data, (data->>'duration_ms')::DOUBLE AS dur FROM events
        WHERE type IN ('page_view', 'screen_view'))
  GROUP BY 1, 2`;
const APPROX = windows('approx_quantile(dur, 0.95)');
const EXACT = windows('quantile_cont(dur, 0.95)');

const db = await DuckDBInstance.create(dbfile);
const con = await db.connect();
await con.run("SET TimeZone = 'UTC'");
const secs = (t0) => +((performance.now() - t0) / 1000).toFixed(4);
const median = (v) => [...v].sort((a, b) => a - b)[(v.length - 1) >> 1];
// Run sql, fetching every row; returns [seconds, rows].
async function timed(sql) {
  const t0 = performance.now();
  const r = await con.runAndReadAll(sql);
  return [secs(t0), r.currentRowCount];
}

if (mode === 'check') {
  const r = await con.runAndReadAll(`SELECT
    strftime(window_start, '%Y-%m-%dT%H:%M:%S.%fZ'), coalesce(page_url, ''), views, users, ms
    FROM (${APPROX})`);
  const out = r.getRows().map((row) => row.map(String).join('\t'));
  process.stdout.write(out.join('\n') + '\n');
} else if (mode === 'replay') {
  const runs = Number(rest[0] || 3), res = { duckdb: version() };
  for (const [name, sql] of [['approx', APPROX], ['exact', EXACT]]) {
    res[`${name}_s`] = [];
    for (let i = 0; i <= runs; i++) {
      const [s, rows] = await timed(sql);
      if (i) res[`${name}_s`].push(s);
      res.rows = rows;
    }
    res[`${name}_median_s`] = median(res[`${name}_s`]);
  }
  console.log(JSON.stringify(res));
} else {
  const t = [];
  let insert = 0, rows = 0;
  for (const file of rest) {
    const t0 = performance.now();
    await con.run(`INSERT INTO events SELECT * FROM read_json(${q(file)},
      format = 'newline_delimited', columns = ${columns})`);
    insert += (performance.now() - t0) / 1000;
    const [s, n] = await timed(APPROX);
    t.push(s);
    rows = n;
  }
  const count = Number((await con.runAndReadAll('SELECT count(*) FROM events')).getRows()[0][0]);
  console.log(JSON.stringify({
    batches: t.length, total_s: +t.reduce((a, b) => a + b, 0).toFixed(4),
    median_ms: +(median(t) * 1000).toFixed(3), max_ms: +(Math.max(...t) * 1000).toFixed(3),
    insert_s: +insert.toFixed(3), rows: count, windows: rows, duckdb: version(),
  }));
}
con.closeSync();
db.closeSync();
