// bench/duckdb_metrics.mjs MODE DBFILE … — the DuckDB peer of `engram metrics
// --every 1h --agg avg,p99` (bench/metrics.sh runs it) over the raw samples.
//
//   load DBFILE NDJSON   the samples into a table samples(t, name, value, tags)
//                        (read_json of the same NDJSON engram appended: the
//                        output of engram gen metrics, times in RFC 3339 UTC)
//   check DBFILE         per hour and name: avg and the exact nearest-rank p99
//                        (the value of rank ceil(0.99 n)), as NDJSON
//   query DBFILE R       the query with quantile_disc, then approx_quantile,
//                        once untimed then R times each; one JSON line of seconds
//
// Times are of the query alone (every row fetched into node), not node's
// start-up, which engram's whole-process times include.
import { DuckDBInstance, version } from '@duckdb/node-api';

const [mode, dbfile, ...rest] = process.argv.slice(2);
const q = (s) => `'${s.replaceAll("'", "''")}'`;
const db = await DuckDBInstance.create(dbfile);
const con = await db.connect();
await con.run("SET TimeZone = 'UTC'");
const secs = (t0) => +((performance.now() - t0) / 1000).toFixed(4);
const median = (v) => [...v].sort((a, b) => a - b)[(v.length - 1) >> 1];
const hourly = (p99) => `SELECT time_bucket(INTERVAL 1 HOUR, t) AS time, name,
  avg(value) AS avg, ${p99} AS p99 FROM samples GROUP BY ALL`;

if (mode === 'load') {
  const t0 = performance.now();
  await con.run(`CREATE OR REPLACE TABLE samples AS SELECT time::TIMESTAMP AS t,
    type AS name, data.value AS value, data.tags AS tags
    FROM read_json(${q(rest[0])}, format = 'newline_delimited',
      columns = {kind: 'VARCHAR', type: 'VARCHAR', time: 'VARCHAR',
                 data: 'STRUCT(value DOUBLE, tags JSON, metric_type VARCHAR)'})`);
  console.log(JSON.stringify({ load_s: secs(t0) }));
} else if (mode === 'check') {
  const r = await con.runAndReadAll(`WITH b AS (SELECT time_bucket(INTERVAL 1 HOUR, t) AS tb, name, value
      FROM samples),
    r AS (SELECT tb, name, value, row_number() OVER (PARTITION BY tb, name ORDER BY value) AS rn,
      count(*) OVER (PARTITION BY tb, name) AS n, avg(value) OVER (PARTITION BY tb, name) AS a FROM b)
    SELECT strftime(tb, '%Y-%m-%dT%H:%M:%S.%fZ') AS time, name, a AS avg, value AS p99, n AS count
    FROM r WHERE rn = greatest(ceil(0.99 * n), 1) ORDER BY 1, 2`);
  const names = r.columnNames();
  for (const row of r.getRows())
    console.log(JSON.stringify(Object.fromEntries(row.map((v, i) =>
      [names[i], typeof v === 'bigint' ? Number(v) : v]))));
} else {
  const runs = Number(rest[0] || 5), res = { duckdb: version() };
  for (const [name, sql] of [['disc', hourly('quantile_disc(value, 0.99)')],
                             ['approx', hourly('approx_quantile(value, 0.99)')]]) {
    res[`${name}_s`] = [];
    for (let i = 0; i <= runs; i++) {
      const t0 = performance.now();
      const r = await con.runAndReadAll(sql);
      const s = secs(t0);
      if (i) res[`${name}_s`].push(s);
      res.rows = r.currentRowCount;
    }
    res[`${name}_median_s`] = median(res[`${name}_s`]);
  }
  console.log(JSON.stringify(res));
}
