// bench/duckdb_common.mjs — what the DuckDB drivers of the benchmarks share.
import { DuckDBInstance } from '@duckdb/node-api';
import { writeFileSync } from 'node:fs';

// A string as an SQL literal.
export const q = (s) => `'${s.replaceAll("'", "''")}'`;
export const secs = (t0) => (performance.now() - t0) / 1000;

// Open db read-only, run sql and fetch every row: the time of that (node's
// start-up and writing the rows not counted); the rows go to out as NDJSON
// objects by column name, each value through plain.  { s, rows }.
export async function timedQuery(db, sql, out, plain) {
  const t0 = performance.now();
  const inst = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
  const con = await inst.connect();
  const reader = await con.runAndReadAll(sql);
  const rows = reader.getRows();
  const s = secs(t0);
  const names = reader.columnNames();
  writeFileSync(out, rows.map((r) => JSON.stringify(Object.fromEntries(
    r.map((v, i) => [names[i], plain(v)]))) + '\n').join(''));
  con.closeSync();
  inst.closeSync();
  return { s, rows: rows.length };
}
