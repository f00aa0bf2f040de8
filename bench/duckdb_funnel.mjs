// bench/duckdb_funnel.mjs DBFILE STEPS WITHIN_US R — the DuckDB peer of
// `engram funnel` (bench/funnel.sh runs it) over a database made by
// duckdb_load.mjs.
//
// STEPS is engram's --steps text (TYPE or TYPE:PAGE_URL, comma-separated).
// The query, generated for those steps, is what engram computes
// (docs/FUNNELS.md): per stream, for every distinct first-step time t1,
// the greedy chain — each next step the stream's earliest event of that
// step strictly after the one before, found with an ASOF join — cut where
// it leaves the window (t_k - t1 <= WITHIN); a stream's level is its best
// chain's, and its times for the medians those of the earliest-starting
// chain of that level.  Then per step: users reaching it and the median
// time from the step before.  Runs it R + 1 times (the first a warm-up, not
// reported) and prints one JSON line: the rows of the last run and the
// seconds of the others.  Times are of the query alone (runAndReadAll),
// not node's start-up nor opening the database.
import { DuckDBInstance, version } from '@duckdb/node-api';

const [dbfile, stepsText, withinText, runsText] = process.argv.slice(2);
if (!dbfile || !stepsText || !withinText) {
  console.error('usage: node duckdb_funnel.mjs DBFILE STEPS WITHIN_US [R]');
  process.exit(2);
}
const q = (s) => `'${s.replaceAll("'", "''")}'`;
const steps = stepsText.split(',').map((s) => {
  const i = s.indexOf(':');
  return i < 0 ? { type: s } : { type: s.slice(0, i), url: s.slice(i + 1) };
});
const K = steps.length, W = BigInt(withinText);
const types = [...new Set(steps.map((s) => s.type))];
const ks = [...Array(K).keys()].map((i) => i + 1);   // 1 … K

// One CTE per step: the distinct times of the stream's events matching it.
const stepCtes = steps.map((s, i) => `s${i + 1} AS (SELECT DISTINCT stream, t FROM e
  WHERE type = ${q(s.type)}${s.url === undefined ? '' : ` AND url = ${q(s.url)}`})`);
// The greedy chain from each first-step time (ASOF: the nearest later one).
const asof = ks.slice(1).map((k) => `  ASOF LEFT JOIN s${k} ON s${k}.stream = s1.stream AND s${k}.t > s${k - 1}.t`);
// The level: the first step whose time is missing or out of the window.
// (A missing t_k makes t_{k+1} meaningless, so the test stops there.)
const level = `CASE ${ks.slice(1).map((k) => `WHEN NOT coalesce(t${k} - t1 <= ${W}, false) THEN ${k - 1}`).join('\n    ')}
    ELSE ${K} END`;
const SQL = `WITH e AS (
  SELECT stream, epoch_us(time) AS t, type, data->>'page_url' AS url FROM events
  WHERE type IN (${types.map(q).join(', ')})),
${stepCtes.join(',\n')},
c AS (
  SELECT s1.stream, ${ks.map((k) => `s${k}.t AS t${k}`).join(', ')}
  FROM s1
${asof.join('\n')}),
lv AS (SELECT stream, ${ks.map((k) => `t${k}`).join(', ')}, ${level} AS level FROM c),
u AS (
  SELECT stream, max(level) AS level,
    arg_min([${ks.map((k) => `t${k}`).join(', ')}], (-level, t1)) AS ts
  FROM lv GROUP BY stream),
st AS (SELECT unnest(range(1, ${K + 1})) AS step)
SELECT step, count(*) FILTER (level >= step) AS users,
  median(ts[step] - ts[step - 1]) FILTER (level >= step AND step > 1) / 1e6 AS median_s
FROM u, st GROUP BY step ORDER BY step`;

const db = await DuckDBInstance.create(dbfile);
const con = await db.connect();
await con.run("SET TimeZone = 'UTC'");
const runs = Number(runsText || 3), res = { duckdb: version(), s: [] };
let rows;
for (let i = 0; i <= runs; i++) {
  const t0 = performance.now();
  rows = (await con.runAndReadAll(SQL)).getRows();
  if (i) res.s.push(+((performance.now() - t0) / 1000).toFixed(4));
}
res.median_s = [...res.s].sort((a, b) => a - b)[(res.s.length - 1) >> 1];
res.rows = rows.map(([step, users, med]) => ({
  step: Number(step), users: Number(users), median_time: med === null ? null : Number(med),
}));
if (process.env.SHOW_SQL) console.error(SQL);
console.log(JSON.stringify(res));
