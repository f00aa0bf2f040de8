// bench/duckdb_features.mjs — the DuckDB peer of `engram features`
// (bench/features.sh runs it), for the spec bench/features_spec.json.
//
//   load DB EVENTS LABELS KNOWN_AT
//        EVENTS: `engram read --format ndjson` of the store (pos, type,
//        time, recorded, data…); LABELS: the labels CSV (customer,
//        label_time, …).  Makes, in a fresh database, a table `events`
//        (customer, type, time_us, recorded_us, pos, amount DECIMAL(18,2),
//        carrier, method) of the events that have a data.customer, and a
//        table `labels` (row: the 1-based line of the label, customer,
//        c: the cutoff, k: the known-at time, both in µs).  KNOWN_AT is a
//        column of LABELS to take k from, or "-" for k = c.
//   query DB OUT [naive]
//        open DB, run the features query, fetch every row; the rows go to
//        OUT as NDJSON ({"row": N, feature: value, …}, in label order).
//        naive: without the condition recorded <= k (the event-time-only
//        answer of an ASOF join), for the leakage comparison.
//   export DB OUT
//        the table events as CSV with a header, for the pandas peer.
//
// The query is the contract (issue 22) written as SQL: one join of each
// label with the events of its customer before its cutoff c and known at
// k, then one aggregate per feature, each with a FILTER for its types and
// its window (all within the ttl, c - 365d, except the projection's field,
// which is the state over the whole history before c).
// `query` times opening the database, the query and fetching its rows into
// node, as bench/duckdb_sql.mjs does; each command prints one JSON line.
// DuckDB runs with its defaults (one thread per core).
import { DuckDBInstance, version } from '@duckdb/node-api';
import { q, secs, timedQuery } from './duckdb_common.mjs';
import { existsSync } from 'node:fs';

const ident = (s) => `"${s.replaceAll('"', '""')}"`;
const DAY = 86400000000n;

// An RFC 3339 text or an epoch-ms integer (the contract's cutoff) in µs.
const cutoffUs = (col) => `CASE WHEN regexp_full_match(${col}, '-?[0-9]+')
  THEN ${col}::BIGINT * 1000 ELSE epoch_us(${col}::TIMESTAMPTZ) END`;

function featuresSql(naive) {
  const known = naive ? '' : 'AND e.recorded_us <= l.k';
  // ttl 365d bounds every feature but the projection's field (lo = c - ttl)
  const within = (days) => `e.time_us >= l.c - ${BigInt(days) * DAY}`;
  const ttl = within(365);
  return `
  WITH f AS (
    SELECT l.row,
      count(*) FILTER (WHERE e.type = 'order_placed' AND ${within(30)}) AS orders_30d,
      sum(e.amount) FILTER (WHERE e.type = 'order_placed' AND ${within(90)}) AS spend_90d,
      avg(e.amount) FILTER (WHERE e.type = 'order_placed' AND ${ttl}) AS avg_basket,
      max(e.amount) FILTER (WHERE ${ttl}) AS max_item,
      count(DISTINCT e.carrier) FILTER (WHERE e.type = 'order_shipped' AND ${within(90)}) AS carriers_90d,
      arg_max(e.method, (e.time_us, e.pos)) FILTER (WHERE e.type = 'order_paid' AND e.method IS NOT NULL AND ${ttl}) AS last_method,
      max(e.time_us) FILTER (WHERE e.type = 'order_placed' AND ${ttl}) AS last_order_us,
      count(*) FILTER (WHERE e.type = 'order_placed' AND ${within(90)}) AS orders_90d,
      count(*) FILTER (WHERE e.type = 'order_refunded' AND ${within(90)}) AS refunds_90d,
      -- examples/customers.json: spent = the sum of data.amount of order_placed,
      -- a state when the customer has an order_placed or order_refunded
      sum(e.amount) FILTER (WHERE e.type = 'order_placed') AS spent,
      count(*) FILTER (WHERE e.type IN ('order_placed', 'order_refunded')) AS proj_events
    FROM labels l JOIN events e ON e.customer = l.customer AND e.time_us < l.c ${known}
    GROUP BY l.row)
  SELECT l.row,
    coalesce(orders_30d, 0) AS orders_30d,
    coalesce(spend_90d, 0) AS spend_90d,
    avg_basket,
    max_item,
    coalesce(carriers_90d, 0) AS carriers_90d,
    last_method,
    (l.c - last_order_us) / ${Number(DAY)}.0 AS days_since_order,
    coalesce(orders_90d, 0) AS orders_90d,
    coalesce(refunds_90d, 0) AS refunds_90d,
    CASE WHEN orders_90d > 0 THEN refunds_90d / orders_90d END AS refund_rate,
    CASE WHEN proj_events > 0 THEN coalesce(spent, 0) END AS spent
  FROM labels l LEFT JOIN f ON f.row = l.row
  ORDER BY l.row`;
}

// A value as JSON: integers (counts) and decimals (sums) as numbers, text as text.
const plain = (v) => (v === null || typeof v === 'number' || typeof v === 'string' ? v
  : typeof v === 'bigint' ? Number(v) : Number(String(v)));

const cmds = {
  async load(db, events, labels, knownAt) {
    if (existsSync(db)) throw new Error(`${db} exists; give a fresh database file`);
    const inst = await DuckDBInstance.create(db);
    const con = await inst.connect();
    let t0 = performance.now();
    await con.run(`CREATE TABLE events AS
      SELECT data->>'customer' AS customer, type,
        epoch_us(time::TIMESTAMPTZ) AS time_us, epoch_us(recorded::TIMESTAMPTZ) AS recorded_us, pos,
        (data->>'amount')::DECIMAL(18,2) AS amount, data->>'carrier' AS carrier, data->>'method' AS method
      FROM read_json(${q(events)}, format = 'newline_delimited',
        columns = {pos: 'BIGINT', type: 'VARCHAR', time: 'VARCHAR', recorded: 'VARCHAR', data: 'JSON'})
      WHERE data->>'customer' IS NOT NULL`);
    const eventsS = secs(t0);
    t0 = performance.now();
    await con.run(`CREATE TABLE labels_in AS SELECT * FROM read_csv(${q(labels)}, header = true, all_varchar = true)`);
    const k = knownAt === '-' ? 'label_time' : knownAt;
    await con.run(`CREATE TABLE labels AS SELECT rowid + 1 AS row, customer,
      ${cutoffUs('label_time')} AS c, ${cutoffUs(ident(k))} AS k FROM labels_in ORDER BY rowid`);
    await con.run('DROP TABLE labels_in');
    await con.run('CHECKPOINT');
    const labelsS = secs(t0);
    const n = async (t) => Number((await con.runAndReadAll(`SELECT count(*) FROM ${t}`)).getRows()[0][0]);
    const r = { s: +(eventsS + labelsS).toFixed(3), events_s: +eventsS.toFixed(3),
      labels_s: +labelsS.toFixed(3), events: await n('events'), labels: await n('labels') };
    con.closeSync();
    inst.closeSync();
    return r;
  },
  async query(db, out, mode) {
    const r = await timedQuery(db, featuresSql(mode === 'naive'), out, plain);
    return { s: +r.s.toFixed(4), rows: r.rows };
  },
  async export(db, out) {
    const inst = await DuckDBInstance.create(db, { access_mode: 'READ_ONLY' });
    const con = await inst.connect();
    const t0 = performance.now();
    await con.run(`COPY (SELECT * FROM events ORDER BY pos) TO ${q(out)} (HEADER)`);
    const r = { s: +secs(t0).toFixed(3) };
    con.closeSync();
    inst.closeSync();
    return r;
  },
  async sql(_db, mode) { return { sql: featuresSql(mode === 'naive') }; },
};

const [cmd, ...args] = process.argv.slice(2);
if (!cmds[cmd] || args.length < 1) {
  console.error('usage: node duckdb_features.mjs load DB EVENTS LABELS KNOWN_AT | query DB OUT [naive] | export DB OUT | sql - [naive]');
  process.exit(2);
}
const r = await cmds[cmd](...args);
r.duckdb = version();
console.log(JSON.stringify(r));
