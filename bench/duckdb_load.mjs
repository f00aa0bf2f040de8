// bench/duckdb_load.mjs FILE DBFILE — the DuckDB peer for `engram append`.
//
// Loads an NDJSON file of events into a table of a persistent (on-disk)
// DuckDB database, CHECKPOINTs so the data is in the database file (DuckDB
// fsyncs it), and prints one JSON line:
//   {"rows":N,"load_s":…,"total_s":…,"duckdb":"v…"}
// load_s is CREATE TABLE … AS + CHECKPOINT; total_s adds opening the
// database (as engram's wall time includes opening its store).  Neither
// includes node's start-up: run.sh times the whole process separately.
//
// Columns are given explicitly rather than inferred, to ask DuckDB for the
// same work engram does: parse the id (UUID) and time (timestamp), keep the
// envelope strings, and store `data` as JSON text without shredding it (its
// keys differ by event type, so inference would make a wide STRUCT of mostly
// NULLs).  It also spares DuckDB the sampling pass of type inference, so if
// anything this favours DuckDB (inferred types measured ~10% slower).
// DuckDB runs with its defaults (one thread per core).
//
// @duckdb/node-api is pinned to 1.5.5-r.5 (DuckDB v1.5.5): the newest whose
// platform packages are all published, which `npm ci` needs.
import { DuckDBInstance, version } from '@duckdb/node-api';
import { existsSync } from 'node:fs';

const [file, dbfile] = process.argv.slice(2);
if (!file || !dbfile) {
  console.error('usage: node duckdb_load.mjs FILE DBFILE');
  process.exit(2);
}
if (existsSync(dbfile)) {
  console.error(`${dbfile} exists; give a fresh database file`);
  process.exit(2);
}
const q = (s) => `'${s.replaceAll("'", "''")}'`;
const columns = `{id: 'UUID', stream: 'VARCHAR', type: 'VARCHAR',
  time: 'TIMESTAMPTZ', actor: 'VARCHAR', data: 'JSON'}`;

const t0 = performance.now();
const db = await DuckDBInstance.create(dbfile);
const con = await db.connect();
const t1 = performance.now();
await con.run(`CREATE TABLE events AS SELECT * FROM read_json(${q(file)},
  format = 'newline_delimited', columns = ${columns})`);
await con.run('CHECKPOINT');
const t2 = performance.now();
const rows = Number((await con.runAndReadAll('SELECT count(*) FROM events')).getRows()[0][0]);
con.closeSync();
db.closeSync();

console.log(JSON.stringify({
  rows,
  load_s: +((t2 - t1) / 1000).toFixed(3),
  total_s: +((t2 - t0) / 1000).toFixed(3),
  duckdb: version(),
}));
