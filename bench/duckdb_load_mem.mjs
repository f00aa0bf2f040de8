// bench/duckdb_load_mem.mjs FILE — the DuckDB peer of bench/append.sh: loads
// an NDJSON file into a table of an in-memory database with read_json's own
// type detection (no column list: DuckDB samples the file and infers the
// types, the way a user would load it) and prints one JSON line:
//   {"rows":N,"s":…,"duckdb":"v…"}
// s is opening the database, CREATE TABLE … AS and nothing else: node's
// start-up and the row count are left out.  DuckDB runs with its defaults
// (one thread per core).
import { DuckDBInstance, version } from '@duckdb/node-api';

const [file] = process.argv.slice(2);
if (!file) {
  console.error('usage: node duckdb_load_mem.mjs FILE');
  process.exit(2);
}
const q = (s) => `'${s.replaceAll("'", "''")}'`;
const t0 = performance.now();
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
await con.run(`CREATE TABLE events AS SELECT * FROM read_json(${q(file)}, format = 'newline_delimited')`);
const s = (performance.now() - t0) / 1000;
const rows = Number((await con.runAndReadAll('SELECT count(*) FROM events')).getRows()[0][0]);
con.closeSync();
db.closeSync();
console.log(JSON.stringify({ rows, s: +s.toFixed(3), duckdb: version() }));
