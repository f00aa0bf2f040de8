// bench/duckdb_sql.mjs — the DuckDB peer of `engram sql` (bench/sql.sh
// runs it).
//
//   load DB FILE       FILE (the NDJSON rows of `engram sql "SELECT pos, id,
//                      … FROM events"`, data and meta as JSON text in
//                      strings) into a table `events` of a fresh database
//                      with the same columns, CHECKPOINT
//   query DB OUT SQL   open DB, run SQL, fetch every row; the rows go to OUT
//                      as NDJSON objects (as `engram sql --format ndjson`)
//
// The table keeps engram's column types so that the same SQL text runs on
// all three systems: time and recorded stay TEXT (VARCHAR: substr(time, 1,
// 13) and string ranges work as in SQLite), data and meta are JSON (so
// data->>'page_url' works), the integers BIGINT.  data and meta arrive as
// strings and are cast to JSON, which keeps their text: read_json parsing
// an object into a JSON column writes it again (6.00 becomes 6.0), and
// length(data) would then differ from SQLite's.  `query` times opening the
// database, the query and fetching its rows into node (runAndReadAll), not
// node's start-up nor writing OUT: as `engram sql` and `sqlite3` each open
// their store in the process that bench/sql.sh times.  Each command prints
// one JSON line; DuckDB runs with its defaults (one thread per core).
import { DuckDBInstance, version } from '@duckdb/node-api';
import { q, secs, timedQuery } from './duckdb_common.mjs';
import { existsSync, statSync } from 'node:fs';

const COLUMNS = `{pos: 'BIGINT', id: 'VARCHAR', stream: 'VARCHAR', version: 'BIGINT',
  type: 'VARCHAR', kind: 'VARCHAR', time: 'VARCHAR', recorded: 'VARCHAR', actor: 'VARCHAR',
  session: 'VARCHAR', data: 'VARCHAR', meta: 'VARCHAR', time_us: 'BIGINT', recorded_us: 'BIGINT'}`;
// A value as engram's ndjson writes it: integers as numbers (all of these
// fit a double exactly), everything else as its text.
const plain = (v) => (typeof v === 'bigint' ? Number(v)
  : v === null || typeof v === 'number' || typeof v === 'string' ? v : String(v));

const cmds = {
  async load(db, file) {
    if (existsSync(db)) throw new Error(`${db} exists; give a fresh database file`);
    const t0 = performance.now();
    const con = await (await DuckDBInstance.create(db)).connect();
    await con.run(`CREATE TABLE events AS SELECT * REPLACE (data::JSON AS data, meta::JSON AS meta)
      FROM read_json(${q(file)},
      format = 'newline_delimited', columns = ${COLUMNS})`);
    await con.run('CHECKPOINT');
    const s = secs(t0);
    const rows = Number((await con.runAndReadAll('SELECT count(*) FROM events')).getRows()[0][0]);
    const wal = existsSync(`${db}.wal`) ? statSync(`${db}.wal`).size : 0;
    return { s: +s.toFixed(3), rows, bytes: statSync(db).size + wal };
  },
  async query(db, out, sql) {
    const r = await timedQuery(db, sql, out, plain);
    return { s: +r.s.toFixed(5), rows: r.rows };
  },
};

const [cmd, ...args] = process.argv.slice(2);
if (!cmds[cmd] || args.length < 2) {
  console.error('usage: node duckdb_sql.mjs load DB FILE | query DB OUT SQL');
  process.exit(2);
}
const r = await cmds[cmd](...args);
r.duckdb = version();
console.log(JSON.stringify(r));
