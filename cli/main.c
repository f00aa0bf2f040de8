/*
 * main.c — the engram command: global options, dispatch to one function
 * per command, the shared option parser, help texts and exit codes.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct command {
	const char *name;
	int (*fn)(cli *c);
	const char *usage;
	const char *summary;
	const char *details;
} command;

static const command COMMANDS[] = {
	{ "append", cmd_append,
	  "append [FILE|-] [--stream S] [--type T] [--expect-version N | --expect-new]\n"
	  "       [--sync always|none] [--batch N] [--skip-invalid REJECTS]\n"
	  "       [--map segment|snowplow|prometheus|openmetrics|statsd|stacks|MAP.json]\n"
	  "       [--quarantine] [--keep-recorded]\n"
	  "       [--fail-if QUERY [--after POS]] [--lock-wait DURATION]\n"
	  "       engram [-d DIR] append --heartbeat TIME [--sync always|none]",
	  "append NDJSON events as one atomic batch",
	  "Reads one JSON object per line (fields: id, stream, type, kind, time, actor,\n"
	  "session, data, meta, tags) from FILE or standard input.  The whole input is one\n"
	  "atomic batch unless --batch N commits every N events.  Prints one row:\n"
	  "appended, duplicates, first_pos, last_pos, head.\n\n"
	  "  --stream S          stream for lines without one (and for --expect-*)\n"
	  "  --type T            type for lines without one\n"
	  "  --expect-version N  exit 4, writing nothing, unless stream S is at version N\n"
	  "  --expect-new        exit 4, writing nothing, if stream S exists\n"
	  "                      (with either, a line naming another stream than S\n"
	  "                      exits 2, writing nothing)\n"
	  "  --sync always|none  always (default): acknowledge after fdatasync\n"
	  "  --batch N           commit every N events, each batch atomic\n"
	  "  --skip-invalid F    write invalid lines (with the reason) to F, append the rest\n"
	  "  --map M             lines are a producer's JSON, mapped to the envelope:\n"
	  "                      segment (Segment track/page/screen/identify calls),\n"
	  "                      snowplow (Snowplow enriched events as JSON), or a\n"
	  "                      mapping file of envelope field -> source paths\n"
	  "                      (docs/MAPPING.md).  Metrics as text, each sample a\n"
	  "                      metric envelope (docs/METRICS.md): prometheus (the\n"
	  "                      text exposition format, timestamps in epoch ms; an\n"
	  "                      input with a # EOF line is OpenMetrics), openmetrics\n"
	  "                      (timestamps in epoch seconds), statsd\n"
	  "                      (name:value|c|g|ms|h|d[|@rate][|#tag:v,...][|Tsecs]);\n"
	  "                      a sample without a timestamp takes the record time.\n"
	  "                      A line that does not parse exits 1 naming it;\n"
	  "                      NaN and +-Inf are refused (--quarantine keeps them).\n"
	  "                      stacks: error envelopes whose data.stack is the text\n"
	  "                      a Python, Java, Go or Node trace prints get it as\n"
	  "                      frames (the text kept in data.stack_text;\n"
	  "                      docs/ERRORS.md)\n"
	  "  --quarantine        an event its type's schema refuses goes, whole and with\n"
	  "                      its errors, to the stream $quarantine (engram quarantine\n"
	  "                      list, retry) instead of failing the batch; the row then\n"
	  "                      has a quarantined count (appended counts the others);\n"
	  "                      so does a metric or an error whose data does not fit\n"
	  "                      its kind\n"
	  "  --keep-recorded     history as it was recorded: each line's \"recorded\" (required;\n"
	  "                      never decreasing, not before the store's head, not in the\n"
	  "                      future) is its record time; each distinct value is a commit\n"
	  "                      (a bad line keeps the commits before it; rerun: duplicates\n"
	  "                      skip what is in).  Copy a store: engram -d old read |\n"
	  "                      engram -d new append --keep-recorded (docs/CLI.md)\n"
	  "  --fail-if QUERY     a conditional append (docs/CONSISTENCY.md): exit 4, writing\n"
	  "                      nothing, if an event matching QUERY was appended after\n"
	  "                      --after POS (without it: exists at all); checked under\n"
	  "                      the write lock through the tag and type index.  QUERY:\n"
	  "                      items separated by ';' (OR'd), each 'types=a,b tags=x,y'\n"
	  "                      (types OR'd, tags AND'd, either part optional) or 'all';\n"
	  "                      repeat --fail-if to add items.  With --batch, checked\n"
	  "                      once, before the first commit\n"
	  "  --after POS         the head that engram read --query printed (beyond the\n"
	  "                      head: exit 2)\n"
	  "  --lock-wait DURATION  wait up to DURATION (500ms, 10s) for a writer that\n"
	  "                      holds the lock instead of exiting 4 at once\n"
	  "  --heartbeat TIME    append one heartbeat instead: a marker saying no events\n"
	  "                      before TIME will come except late ones; windows move\n"
	  "                      their watermark to TIME (docs/WINDOWS.md)\n\n"
	  "An id already stored, or repeated in the input, is skipped and counted as a\n"
	  "duplicate.  An invalid line exits 1 naming the line and field; nothing of\n"
	  "the batch is written.  Events of a type with a schema (engram schema) are\n"
	  "validated against its latest version: a violation names the line, the JSON\n"
	  "pointer, the keyword and what was expected.  A metric (kind metric) needs a\n"
	  "finite number data.value and string data.tags; an error (kind error) a\n"
	  "string data.message and typed stack frames (docs/METRICS.md, ERRORS.md).\n"
	  "Streams beginning with '$' are engram's own and refused.  \"tags\": up to 32\n"
	  "distinct strings of 1 to 128 bytes, indexed for --fail-if and read --query.\n\n"
	  "Example:\n"
	  "  engram gen bank --events 1000 > bank.ndjson && engram append bank.ndjson\n"
	  "  engram gen orders --events 10000 --loads 10m | engram append --keep-recorded\n"
	  "  echo '{\"stream\":\"acct-1\",\"type\":\"deposit\",\"data\":{\"amount\":5}}' | engram append\n"
	  "  curl -s localhost:9090/metrics | engram append --map prometheus\n"
	  "  echo 'api.requests:1|c|#region:eu' | engram append --map statsd\n"
	  "  echo '{\"type\":\"seat_booked\",\"tags\":[\"course:7\"]}' | engram append \\\n"
	  "    --fail-if 'types=seat_booked,seat_released tags=course:7' --after 41 --lock-wait 10s" },
	{ "read", cmd_read,
	  "read [--from POS] [--to POS] [--stream S] [--type T[,T...]] [--since TIME]\n"
	  "     [--until TIME] [--by event|recorded] [--limit N] [--reverse] [--follow]\n"
	  "     [--upcast] [--query QUERY]",
	  "print events",
	  "Prints events with every envelope field, in log order.  Filters combine;\n"
	  "bounds are inclusive.\n\n"
	  "  --from POS, --to POS  only positions from POS, up to POS\n"
	  "  --stream S            only stream S (through its postings index)\n"
	  "  --type T,...          only these types; --type may also be repeated\n"
	  "  --since TIME          only events with time >= TIME (a date such as\n"
	  "                        2025-01-02, an RFC 3339 time, or epoch ms)\n"
	  "  --until TIME          only events with time <= TIME\n"
	  "  --by event|recorded   which clock --since/--until compare (default event)\n"
	  "  --limit N             at most N events\n"
	  "  --reverse             newest first\n"
	  "  --follow              then wait for new events and print each as it is\n"
	  "                        appended (no polling), until interrupted\n"
	  "  --upcast              events of a type with a schema at its latest version\n"
	  "                        (docs/CONTRACTS.md); without it, as stored\n"
	  "  --query QUERY         only events matching a DCB query (as append --fail-if\n"
	  "                        takes it; docs/CONSISTENCY.md), up to the head read\n"
	  "                        before the scan, which is printed last: a line\n"
	  "                        {\"head\":N} (ndjson), \"head: N\" under the table, or on\n"
	  "                        stderr (csv).  Give it to append --after.  Not with\n"
	  "                        --follow\n\n"
	  "An event validated at append carries schema_version, the version of its\n"
	  "type's schema it passed; one with tags carries \"tags\".\n\n"
	  "Example:\n"
	  "  engram read --query 'types=seat_booked,seat_released tags=course:7'\n"
	  "  engram read --stream account-000113\n"
	  "  engram read --type fee --reverse --limit 3\n"
	  "  engram read --by recorded --since 2025-01-02 --follow" },
	{ "consume", cmd_consume,
	  "consume NAME [--type T[,T...]] [--follow] [--limit N] [--upcast]",
	  "print events after consumer NAME's checkpoint, then advance it",
	  "At-least-once delivery: the checkpoint advances only after the events were\n"
	  "written and flushed, so an interrupted consumer sees again at most the\n"
	  "events of its last burst.  A new NAME starts at the first event.\n\n"
	  "  --type T,...   only these types (the checkpoint still moves past the\n"
	  "                 others); --type may also be repeated\n"
	  "  --limit N      at most N events, then stop\n"
	  "  --follow       then wait for new events, print each burst as it comes\n"
	  "                 and advance the checkpoint after it, until interrupted\n"
	  "  --upcast       events of a type with a schema at its latest version\n"
	  "                 (docs/CONTRACTS.md); the checkpoint keeps the schema\n"
	  "                 versions handed out, which engram consumers shows\n\n"
	  "Example:\n"
	  "  engram consume mailer --type account_opened --limit 10\n"
	  "  engram consume mailer --follow" },
	{ "consumers", cmd_consumers, "consumers [--delete NAME | --reset NAME --to POS]",
	  "list consumers with their position and lag; delete or move one",
	  "Prints one row per consumer: consumer, pos (the last position it has been\n"
	  "handed) and lag (events after it), and schemas, the schema versions it has\n"
	  "been handed per type, once some consumer has been handed any.\n\n"
	  "  --delete NAME    delete consumer NAME's checkpoint: a later consume NAME\n"
	  "                   starts from the first event again\n"
	  "  --reset NAME     move consumer NAME's checkpoint (with --to)\n"
	  "  --to POS         the position it has been handed becomes POS, so its next\n"
	  "                   consume starts at POS + 1; 0 replays the whole log\n\n"
	  "An unknown NAME, or a POS beyond the head, exits 1.  Stop a running consume\n"
	  "--follow of NAME first: it writes its own checkpoint as it goes.\n\n"
	  "Example:\n"
	  "  engram consumers\n"
	  "  engram consumers --reset billing --to 0\n"
	  "  engram consumers --delete old-report" },
	{ "project", cmd_project,
	  "project SPEC.json [--key K] [--as-of TIME] [--known-at TIME] [--explain]",
	  "fold events into per-key state with a projection spec",
	  "Prints one row per key: {\"key\", then one column per field of the spec}.\n"
	  "The spec names the key (stream or a field path), the event types, and one\n"
	  "aggregate per field: sum, min, max, first, last, count, open/close\n"
	  "(docs/PROJECTIONS.md).\n\n"
	  "  --key K          only key K (prints nothing if it has no events)\n"
	  "  --as-of TIME     only events with time <= TIME (what was true then)\n"
	  "  --known-at TIME  only events recorded <= TIME (what the store knew then)\n"
	  "  --explain        on stderr: the plan (the path: columns or log, and why),\n"
	  "                   and per field the events skipped for lacking the path\n"
	  "                   or not holding a number\n\n"
	  "Snapshots of the state are saved under DIR/idx/proj/ every snapshot_every\n"
	  "events, keyed by the spec's hash: a query costs a snapshot load plus the\n"
	  "events after it.  A new or edited spec builds its own (with a progress bar\n"
	  "on a terminal).  A bad spec exits 2 naming its JSON path.\n\n"
	  "Example:\n"
	  "  engram project examples/balances.json --key account-000042\n"
	  "  engram project examples/balances.json --as-of 2025-01-03 --known-at 2025-01-03" },
	{ "history", cmd_history,
	  "history SPEC.json --key K [--as-of TIME] [--known-at TIME]",
	  "the states of one key over event time, one row per change",
	  "A type-2 slowly changing dimension: each row holds valid_from and valid_to\n"
	  "(event times; valid_to is null for the current row) and the fields of the\n"
	  "spec as they were in that interval.\n\n"
	  "  --key K          the key whose states to list (required)\n"
	  "  --as-of TIME     only events with time <= TIME\n"
	  "  --known-at TIME  only events recorded <= TIME\n\n"
	  "Example:\n"
	  "  engram history examples/balances.json --key account-000042" },
	{ "features", cmd_features,
	  "features SPEC.json --labels FILE [--cutoff-known-at COLUMN] [--out FILE]\n"
	  "              [--manifest FILE] [--leakage-report] [--leakage-out FILE] [--explain]\n"
	  "       engram [-d DIR] features SPEC.json --entity E [--at TIME] [--known-at TIME]\n"
	  "              [--explain]\n"
	  "       engram [-d DIR] features --check MANIFEST",
	  "point-in-time features for training sets, without leakage",
	  "For each row of a labels file (CSV with a header, or NDJSON) with an entity\n"
	  "and a cutoff time, the spec's features over that entity's events before the\n"
	  "cutoff that were already recorded at it (docs/FEATURES.md): count, sum, avg,\n"
	  "min, max, first, last, count_distinct, since_last, ratio and a projection's\n"
	  "field, each over optional types and a window.  The label columns come first,\n"
	  "unchanged, then one column per feature.\n\n"
	  "  --labels FILE            the label rows; the spec's \"labels\" names the\n"
	  "                           entity and cutoff columns\n"
	  "  --cutoff-known-at COLUMN the record time each row is known at (default:\n"
	  "                           its cutoff)\n"
	  "  --out FILE               write the rows to FILE (through a temporary file,\n"
	  "                           so a failure leaves nothing) and FILE.manifest.json\n"
	  "  --manifest FILE          write the manifest there instead\n"
	  "  --leakage-report         per feature, the rows that would differ if record\n"
	  "                           time were ignored, with examples, to stderr (NDJSON)\n"
	  "  --leakage-out FILE       the leakage report to FILE instead\n"
	  "  --entity E               one entity's features now (serving), the same code\n"
	  "  --at TIME                ... as of TIME instead of now\n"
	  "  --known-at TIME          ... as known at TIME (default: --at)\n"
	  "  --explain                on stderr: whether the kept entity table was read,\n"
	  "                           and how events were read to build it or its tail\n"
	  "                           (path: columns or log, and why)\n"
	  "  --check MANIFEST         compute a training set again from its manifest, up\n"
	  "                           to the head it had: exit 0 if byte-identical, 3 if not\n\n"
	  "A spec error exits 2, a labels error (missing column, bad time) 1.\n\n"
	  "Example:\n"
	  "  engram gen orders --events 200000 --loads 10m | engram append --keep-recorded\n"
	  "  engram gen labels --from orders --events 200000 --every 7d > labels.csv\n"
	  "  engram features examples/features.json --labels labels.csv --out train.csv\n"
	  "  engram features examples/features.json --entity customer-00042 --at 2025-02-01\n"
	  "  engram features --check train.csv.manifest.json" },
	{ "dataset", cmd_dataset,
	  "dataset build SPEC.json [--as-of TIME] [--known-at TIME] [--force]\n"
	  "       engram [-d DIR] dataset rows NAME [--all | --kept | --failed FILTER]\n"
	  "       engram [-d DIR] dataset explain NAME [--order F2,F1] [--overlaps] [--by COLUMN]\n"
	  "       engram [-d DIR] dataset why NAME KEY\n"
	  "       engram [-d DIR] dataset list | show NAME | drop NAME",
	  "datasets whose every filter is a column: attrition and \"why\" for any key",
	  "Filter on the last step (docs/DATASETS.md): a spec's base query (SQL over\n"
	  "the store, {\"projection\": FILE} or {\"events\": {...}}) is run once, and\n"
	  "every base row is kept under DIR/datasets/NAME/ with one column per filter\n"
	  "(f_NAME: 1 pass, 0 fail; a NULL expression fails) and keep (all pass).\n"
	  "engram sql reads it as dataset('NAME').\n\n"
	  "  build SPEC         run the base and the filters, keep the table, print the\n"
	  "                     final rows (the output columns of kept rows, DISTINCT if\n"
	  "                     the spec says so); an unchanged store and spec reuse the\n"
	  "                     kept table.  Bad specs and SQL exit 2, keeping nothing;\n"
	  "                     Ctrl-C stops it (exit 130), keeping the previous one\n"
	  "  rows NAME          the final rows again, from the kept table\n"
	  "  explain NAME       per filter: filter, rows_failing, keys_failing,\n"
	  "                     only_rows, only_keys (failing it and no other),\n"
	  "                     rows_remaining, keys_remaining (after it and those\n"
	  "                     before); on a terminal also the flow as boxes\n"
	  "  why NAME KEY       each base row of the key (rows count from 1, as the rowid\n"
	  "                     of dataset('NAME')): every filter's verdict, the values\n"
	  "                     its expression reads, why it failed; and whether the key\n"
	  "                     is kept, and by which rows\n"
	  "  list               each dataset: its head, stale (the store has moved since),\n"
	  "                     row and key counts, as_of, known_at, built\n"
	  "  show NAME          its manifest (JSON)\n"
	  "  drop NAME          delete it\n\n"
	  "  --as-of TIME       build: events with time <= TIME, projections as of TIME\n"
	  "  --known-at TIME    build: only what was recorded by TIME (rebuilds the same)\n"
	  "  --force            build: run again even when the kept table is current\n"
	  "  --all              rows: every base row, with its flags\n"
	  "  --kept             rows: the rows that pass every filter, all columns\n"
	  "  --failed FILTER    rows: the rows FILTER fails\n"
	  "  --order F2,F1      explain: the cumulative columns in this order (the\n"
	  "                     filters not named follow in spec order)\n"
	  "  --overlaps         explain: rows failing both filters, for each pair\n"
	  "  --by COLUMN        explain: the table for each value of COLUMN\n\n"
	  "Example:\n"
	  "  engram append examples/datasets/events.ndjson\n"
	  "  engram dataset build examples/datasets/west_recent_buyers.json\n"
	  "  engram dataset explain west_recent_buyers --format table\n"
	  "  engram dataset why west_recent_buyers 44\n"
	  "  engram sql \"SELECT * FROM dataset('west_recent_buyers') WHERE customer_id = 44\"" },
	{ "serve", cmd_serve,
	  "serve [--listen 127.0.0.1:7070] [--threads N] [--max-body SIZE] [--max-connections N]\n"
	  "       [--timeout S] [--request-timeout S] [--tokens] [--tls-cert CERT.pem --tls-key KEY.pem]",
	  "the store over HTTP: append with group commit, read (docs/SERVER.md)",
	  "Serves the store over HTTP (libmicrohttpd), holding its write lock; CLI\n"
	  "readers keep working beside it.  Appends from every connection are committed\n"
	  "by one thread, each request its own atomic batch, and made durable together\n"
	  "by one fdatasync (group commit); a request is answered only once its events\n"
	  "are durable.  SIGTERM or Ctrl-C stops taking connections, answers the\n"
	  "appends in flight, and exits.\n\n"
	  "  POST /events                  NDJSON body: one atomic batch; the summary of\n"
	  "                                engram append, or 400 naming the line and field\n"
	  "  POST /streams/{s}/events      the same, lines without a stream in s; with\n"
	  "                                Expected-Version: N|new|any (409 on conflict)\n"
	  "  GET /events?stream=&type=&since=&until=&by=&from=&to=&limit=&reverse=\n"
	  "                                NDJSON as engram read prints it, streamed\n"
	  "  GET /head, GET /health\n"
	  "  GET /streams, /types, /stats; POST /verify\n"
	  "                                the rows of the commands, as NDJSON\n"
	  "  POST /project, /history, /windows, /sessions, /funnel, /sql\n"
	  "                                a JSON object of the command's options\n"
	  "                                ({\"spec\": {...}, \"as_of\": \"...\"}); its rows\n"
	  "  GET /metrics                  Prometheus text: requests, append and group\n"
	  "                                commit sizes, sync time, consumer lag\n"
	  "  GET /subscribe?types=&stream=&from=&heartbeat=\n"
	  "                                Server-Sent Events, live (Last-Event-ID resumes)\n"
	  "  GET /consumers/{name}/next?max=&wait=&types=\n"
	  "                                NDJSON after the consumer's checkpoint\n"
	  "  POST /consumers/{name}/ack    {\"pos\": P}: moves the checkpoint to P\n"
	  "  POST /consumers/{name}/nack   {\"pos\": P}: P again, parked in\n"
	  "                                $parked-{name} at max_deliveries= (5)\n"
	  "  POST /tokens/sse              with --tokens: a signed query token for\n"
	  "                                ?token= on GET routes (browsers' EventSource)\n\n"
	  "  --listen ADDR:PORT     a loopback address (default 127.0.0.1:7070); any\n"
	  "                         address with --tokens\n"
	  "  --max-body SIZE        the largest request body (default 64M): 413 beyond\n"
	  "  --threads N            threads that poll the connections (default: one per\n"
	  "                         CPU); none waits on a request: appends wait for their\n"
	  "                         group commit suspended, queries run on their own thread\n"
	  "  --max-connections N    connections at once (default 1000)\n"
	  "  --timeout S            close a connection idle for S seconds (default 60)\n"
	  "  --request-timeout S    408 for a body not all in S seconds after its headers\n"
	  "                         (default 300): a client trickling it gets no more\n"
	  "  --tokens               every route but /health needs Authorization: Bearer\n"
	  "                         TOKEN (engram token add): 401 without a known token,\n"
	  "                         403 when its scope or streams do not allow the route\n"
	  "  --tls-cert CERT.pem    HTTPS with this certificate (PEM; a chain: the\n"
	  "                         server's first) ...\n"
	  "  --tls-key KEY.pem      ... and its private key (PEM, unencrypted)\n\n"
	  "An access log line per request goes to stderr (NDJSON); it never holds a\n"
	  "header or a query string, so never a token.\n\n"
	  "Example:\n"
	  "  engram serve --listen 127.0.0.1:7070 &\n"
	  "  curl -s -H 'Content-Type: application/x-ndjson' --data-binary @events.ndjson \\\n"
	  "       http://127.0.0.1:7070/events\n"
	  "  curl -s 'http://127.0.0.1:7070/events?type=deposit&limit=5'" },
	{ "kafka", cmd_kafka,
	  "kafka export --brokers HOST:PORT[,...] --topic T [--types A,B] [--streams GLOB]\n"
	  "             [--from POS] [--name N] [--follow]\n"
	  "             [--transactional-id ID [--txn-events N] [--txn-ms MS]] [-X KEY=VALUE ...]\n"
	  "       engram [-d DIR] kafka import --brokers HOST:PORT[,...] --topic T[,T...] --group G\n"
	  "             [--map segment|snowplow|FILE] [--from beginning|end] [--follow]\n"
	  "             [--idle-timeout DURATION] [--batch N] [-X KEY=VALUE ...]\n"
	  "       engram [-d DIR] kafka status [--brokers B] [-X KEY=VALUE ...]",
	  "the log to a Kafka topic, exactly once, from a durable checkpoint; Kafka\n"
	  "topics into the store, exactly once; status (docs/KAFKA.md)",
	  "Produces the store's events in log order to a Kafka topic, up to the head as\n"
	  "it was at start, with librdkafka's idempotent producer: key the stream (a\n"
	  "stream's events stay in one partition, in order), value the line engram read\n"
	  "prints, headers engram-pos, engram-id, engram-type, engram-time,\n"
	  "engram-recorded, engram-chain (the hash of the event's batch) and\n"
	  "engram-export (the export's name).  Each export NAME (default: the topic)\n"
	  "keeps a durable checkpoint, moved only over positions the brokers\n"
	  "acknowledged; a run goes on from it and skips what the last message of\n"
	  "this export in each partition says is there already, so a run killed and\n"
	  "run again leaves each event once in the topic.  A producer that fails\n"
	  "(the idempotent producer's fatal error) is replaced within the run.  With\n"
	  "--transactional-id, batches of positions are Kafka transactions, each with\n"
	  "a checkpoint record in T.engram-checkpoints: a read_committed consumer sees\n"
	  "each event once.  Two exports of one name on one store: the second exits 4.\n\n"
	  "  --brokers B        the bootstrap brokers, HOST:PORT[,HOST:PORT...]\n"
	  "  --topic T          the topic (created by the brokers if they allow it)\n"
	  "  --types A,B        only these types\n"
	  "  --streams GLOB     only streams the shell pattern matches\n"
	  "  --from POS         start at POS instead of after the checkpoint\n"
	  "  --name N           the checkpoint's name, 1-51 of A-Z a-z 0-9 . _ -\n"
	  "                     (default: the topic)\n"
	  "  --follow           then go on with the events appended, until SIGTERM or\n"
	  "                     Ctrl-C, which finish what is in flight\n"
	  "  --transactional-id ID\n"
	  "                     Kafka transactions (transactional.id ID), each\n"
	  "                     committing a checkpoint record to the companion\n"
	  "                     topic T.engram-checkpoints\n"
	  "  --txn-events N     a transaction: at most N events (default 50000)\n"
	  "  --txn-ms MS        ... and at most MS milliseconds (default 500)\n"
	  "  -X KEY=VALUE       librdkafka configuration, as kcat takes it\n\n"
	  "kafka import appends the messages of every partition of the topics, to the\n"
	  "end of each as it was at start: the value is an envelope as engram append\n"
	  "takes a line (or, with --map, a producer's object), the message's timestamp\n"
	  "its time and \"kafka:TOPIC/PARTITION/OFFSET\" its id when it gives none.  Each\n"
	  "batch also records the next offset of every partition in the stream\n"
	  "$kafka-import.G, atomically: a run goes on from the log, exactly once, even\n"
	  "after a kill -9 (Kafka's offsets for group G are committed for monitoring\n"
	  "only).  A message that cannot be an event goes to $quarantine, type\n"
	  "engram.kafka.rejected, with its offset; the import goes on.  When the\n"
	  "minimum event time over partitions moves, a heartbeat (engram.heartbeat)\n"
	  "goes in the same batch: windows with \"watermark\": \"heartbeats\" use it.\n\n"
	  "  --topic T[,T...]   the topics (every partition of each)\n"
	  "  --group G          the import's name, 1-64 of A-Z a-z 0-9 . _ -: its offsets\n"
	  "                     in the log and Kafka's consumer group\n"
	  "  --map M            segment, snowplow, or a mapping FILE (docs/MAPPING.md)\n"
	  "  --from W           where a partition the log has no offset for starts:\n"
	  "                     beginning (default) or end\n"
	  "  --follow           go on until SIGTERM or Ctrl-C, which commit the batch in\n"
	  "                     flight\n"
	  "  --idle-timeout D   a partition silent this long (default 30s) does not hold\n"
	  "                     the heartbeats' watermark back\n"
	  "  --batch N          messages per batch (default 50000)\n\n"
	  "kafka status lists each export and import of the store (kind, name, topics,\n"
	  "state: running, stopped, failed, or dead when killed), its checkpoint, its\n"
	  "lag in messages and seconds, and its last error.  An import's lag asks the\n"
	  "brokers it last used, or --brokers B (with the -X pairs); null when they do\n"
	  "not answer.\n\n"
	  "Example:\n"
	  "  engram kafka export --brokers localhost:9092 --topic engram-events\n"
	  "  engram kafka export --brokers localhost:9092 --topic engram-events --follow \\\n"
	  "         --transactional-id engram-events-1 -X linger.ms=20\n"
	  "  engram kafka import --brokers localhost:9092 --topic clicks --group clicks \\\n"
	  "      --map segment --follow\n"
	  "  engram kafka status" },
	{ "token", cmd_token,
	  "token add NAME --scope read|append|admin [--streams PATTERN]\n"
	  "       engram [-d DIR] token list | revoke NAME",
	  "tokens for engram serve --tokens: add, list, revoke",
	  "Tokens let clients of engram serve --tokens in (docs/SERVER.md,\n"
	  "Authentication).  The store keeps each token's name, scope, streams pattern\n"
	  "and creation time, and only the SHA-256 of the token (DIR/tokens.json):\n"
	  "add prints the token once, on stdout; it cannot be shown again.\n\n"
	  "  add NAME        a new token: NAME is 1 to 64 letters, digits, '.', '_', '-'\n"
	  "  --scope S       read (GET routes), append (and the appends) or admin\n"
	  "                  (every route); each allows what the ones before it do\n"
	  "  --streams P     only the streams matching the glob P ('account-*'; default\n"
	  "                  '*', every stream): appends whose every event is in one,\n"
	  "                  reads that name one (GET /events?stream=S)\n"
	  "  list            one row each: name, scope, streams, created (never the token)\n"
	  "  revoke NAME     delete it; a running server refuses it from its next request\n\n"
	  "Example:\n"
	  "  engram token add billing --scope append --streams 'account-*' >billing.token\n"
	  "  engram serve --tokens --listen 0.0.0.0:7070 --tls-cert cert.pem --tls-key key.pem &\n"
	  "  curl -s -H \"Authorization: Bearer $(cat billing.token)\" -H 'Content-Type: application/x-ndjson' \\\n"
	  "       --data-binary '{\"type\":\"deposit\"}' https://events.example:7070/streams/account-1/events\n"
	  "  engram token list --format table\n"
	  "  engram token revoke billing" },
	{ "sql", cmd_sql,
	  "sql [QUERY | -f FILE]",
	  "SQL over the store (SQLite), through engram's indexes",
	  "Runs one or more SQL statements (SQLite 3.40, with its JSON functions and\n"
	  "->>) and prints the rows of the last one.  With no query and a terminal on\n"
	  "standard input it is a shell (.tables, .schema, .help, .quit; history in\n"
	  "~/.engram_history); otherwise statements are read from standard input.\n\n"
	  "  events         pos, id, stream, version, type, kind, time, recorded,\n"
	  "                 actor, session, data, meta, time_us, recorded_us; times are\n"
	  "                 RFC 3339 UTC text, data and meta JSON text.  Conditions on\n"
	  "                 stream, type, kind, id (= and IN), pos, time, recorded (ranges),\n"
	  "                 ORDER BY pos and LIMIT are answered through the indexes;\n"
	  "                 EXPLAIN QUERY PLAN shows how.  WHERE known_at = TIME sees the\n"
	  "                 store as it was then (only events recorded by TIME).\n"
	  "  streams, types, consumers, projection(spec [, as_of [, known_at]]),\n"
	  "  history(spec, key), windows(spec [, as_reported_at]),\n"
	  "  window_changelog(spec), sessions(gap [, stream]), funnel(steps, within\n"
	  "  [, by]), errors([since [, until [, service [, release]]]]): the commands'\n"
	  "  answers as tables (docs/SQL.md).\n\n"
	  "  -f FILE        read the statements from FILE (- for standard input)\n\n"
	  "The store's tables are read-only (CREATE TEMP TABLE/VIEW for your own).\n"
	  "A statement sees the log as it was when it started, even while a writer\n"
	  "appends.  Ctrl-C stops a query (exit 130).  An SQL error exits 1.\n\n"
	  "Example:\n"
	  "  engram sql \"SELECT type, count(*) FROM events GROUP BY type\"\n"
	  "  engram sql \"SELECT time, data->>'amount' FROM events WHERE stream = 'account-000042'\"\n"
	  "  engram sql \"SELECT * FROM events WHERE known_at = '2025-01-03T09:00:00Z' LIMIT 5\"" },
	{ "schema", cmd_schema,
	  "schema add TYPE SCHEMA.json [--compat MODE] [--upcast UPCAST.json] [--sample N] [--force]\n"
	  "       engram [-d DIR] schema check TYPE SCHEMA.json [--compat MODE] [--upcast F] [--sample N]\n"
	  "       engram [-d DIR] schema list | show TYPE [--version N] [--upcast] | diff TYPE V1 V2\n"
	  "       engram [-d DIR] schema validate TYPE FILE.ndjson [--data] | validate --all FILE.ndjson\n"
	  "       engram [-d DIR] schema require-all on|off",
	  "versioned schemas per event type, checked at append",
	  "Each event type may have a contract: a JSON Schema (the subset in\n"
	  "docs/CONTRACTS.md) with versions 1, 2, ... kept as events in the reserved\n"
	  "stream $schemas.  Append validates each event against its type's latest\n"
	  "version and records the version in the event (read shows schema_version).\n\n"
	  "  add TYPE FILE      register the next version.  It is compared with the\n"
	  "                     previous one (every earlier one for *_transitive) under\n"
	  "                     the compatibility mode, and every stored event of TYPE\n"
	  "                     is upcast to it and validated; a broken rule, or failing\n"
	  "                     events, exit 4 listing each with its JSON pointer, and\n"
	  "                     nothing is registered.  Prints type, version, compat,\n"
	  "                     result, checked, failed.\n"
	  "  check TYPE FILE    the same checks, registering nothing\n"
	  "  list               per type: latest version, compat, events per version\n"
	  "  show TYPE          the latest schema document\n"
	  "  diff TYPE V1 V2    the changes: change, pointer, message, breaks\n"
	  "                     (backward, forward, both or none)\n"
	  "  validate TYPE F    check a producer's NDJSON sample (F, or - for standard\n"
	  "                     input) without writing: each line an envelope of TYPE;\n"
	  "                     exit 1 naming each failing line\n"
	  "  require-all on|off refuse events of types that have no schema\n\n"
	  "  --compat MODE      backward (default; or the previous version's), forward,\n"
	  "                     full, each also _transitive, or none\n"
	  "  --upcast F         add, check: how an event of the previous version becomes\n"
	  "                     this one (rename, move, default, drop, scale, split,\n"
	  "                     join); readers apply it, the log is never rewritten.\n"
	  "                     show: print the version's upcast instead\n"
	  "  --sample N         validate N of the stored events, not all\n"
	  "  --force            register although stored events fail it (rules still hold)\n"
	  "  --version N        show: that version\n"
	  "  --data             validate: each line is a data object, not an envelope\n"
	  "  --all              validate: each line has its own type (no TYPE)\n\n"
	  "Example:\n"
	  "  engram schema add order_placed order_placed.v1.json\n"
	  "  engram schema add order_placed v2.json --upcast v1-to-v2.json\n"
	  "  engram schema diff order_placed 1 2 --format table\n"
	  "  engram schema validate order_placed sample.ndjson" },
	{ "quarantine", cmd_quarantine, "quarantine list | retry [--sync always|none]",
	  "events their schema refused (append --quarantine): list, retry",
	  "append --quarantine appends the valid events of a batch and puts each one its\n"
	  "schema refuses, whole and with its errors, in the reserved stream $quarantine\n"
	  "(type engram.rejected).\n\n"
	  "  list    one row each: pos, recorded, id, type, line, schema_version, status\n"
	  "          (pending, or appended by a retry), appended_pos, errors\n"
	  "  retry   validate the pending ones against the current schemas and append\n"
	  "          those that pass, in one batch, each exactly once (a quarantined\n"
	  "          event keeps its id); prints a row for each: appended or failing\n"
	  "          with its errors now\n\n"
	  "Example:\n"
	  "  engram append orders.ndjson --quarantine\n"
	  "  engram quarantine list --format table\n"
	  "  engram schema add order_placed v3.json && engram quarantine retry" },
	{ "windows", cmd_windows,
	  "windows SPEC.json [--changelog | --late | --explain-diff K1 K2] [--follow]\n"
	  "       [--include-open] [--as-reported-at K] [--explain]",
	  "figures by event time in windows, with late data corrected, not dropped",
	  "Takes the events of the spec's types in log order into tumbling, hopping or\n"
	  "session windows per group (docs/WINDOWS.md).  The watermark is the largest\n"
	  "event time seen minus the spec's \"watermark\"; a window's first result\n"
	  "(revision 1) comes when the watermark passes its end, each later event\n"
	  "for it is a new revision until the watermark passes end +\n"
	  "allowed_lateness (final), and later events are too late: counted in the\n"
	  "window's too_late, never silently dropped.  The run is checkpointed in\n"
	  "idx/win/: the next one takes only the events appended since.\n\n"
	  "  --changelog         every revision in order, with the previous values\n"
	  "  --late              the too-late events and the window each missed\n"
	  "  --include-open      also windows not emitted yet (revision 0)\n"
	  "  --as-reported-at K  the table (or changelog, or late events) as a live\n"
	  "                      run showed it when the log held only the events\n"
	  "                      recorded at or before K\n"
	  "  --explain-diff K1 K2  the rows whose figures differ between the reports\n"
	  "                      at K1 and K2, each with the late events that changed\n"
	  "                      it and one line saying why\n"
	  "  --follow            then keep going: print each revision (or too-late\n"
	  "                      event, with --late) as events are appended\n"
	  "  --explain           on stderr: events, revisions, watermark, the path\n"
	  "                      (columns or log, and why), and per aggregate the\n"
	  "                      events skipped (missing, not a number)\n\n"
	  "An event lacking a group_by path groups under null.  A bad spec exits 2\n"
	  "naming its JSON path.\n\n"
	  "Example:\n"
	  "  engram windows examples/pageviews_hourly.json\n"
	  "  engram windows examples/pageviews_hourly.json --changelog --follow" },
	{ "metrics", cmd_metrics,
	  "metrics [NAME...] [--where TAG=V...] [--by TAG...] [--every 1m|5m|1h|1d]\n"
	  "        [--agg count,sum,avg,min,max,last,p50,p90,p99,rate] [--since T] [--until T]\n"
	  "        [--follow] [--explain] | --list | --tags | --format prometheus",
	  "metric samples per interval, from rollups kept up to date with late samples",
	  "Metric samples are events of kind metric: {\"kind\":\"metric\",\"type\":NAME,\n"
	  "\"time\":T,\"data\":{\"value\":V,\"tags\":{\"k\":\"v\"}}}; a series is a name and its\n"
	  "tag set.  They come in through engram append, as NDJSON or as Prometheus,\n"
	  "OpenMetrics or StatsD text (--map prometheus|openmetrics|statsd), or from\n"
	  "engram gen metrics (docs/METRICS.md).\n\n"
	  "Prints one row per interval and group: time (the interval's start), name\n"
	  "(unless exactly one NAME is given), one column per --by tag, then the\n"
	  "aggregates as named.  Answers come from rollups at 1m, 1h and 1d (derived,\n"
	  "under DIR/idx/metrics/), the coarsest that fits; range edges off a minute\n"
	  "are read from the log.  A late sample corrects the cells of its time.\n"
	  "Error events are samples too, of engram.errors (value 1; tags fingerprint,\n"
	  "release, service, type: docs/ERRORS.md).\n\n"
	  "  NAME...            only these metric names (default: all, name column shown)\n"
	  "  --where TAG=V      only series whose tag TAG is V (repeatable: all must hold;\n"
	  "                     a comma separates repeats, so V holds none)\n"
	  "  --by TAG           group by this tag too (repeatable; a series without it\n"
	  "                     groups under null)\n"
	  "  --every D          the interval: a duration of whole seconds (30s, 5m, 1h,\n"
	  "                     1d; default 1h), intervals aligned on the epoch (UTC);\n"
	  "                     rollups serve multiples of 1m, 1h or 1d, the log the rest\n"
	  "  --agg A,...        count, sum, avg, min, max, last, rate (sum per second of\n"
	  "                     the interval) and percentiles pNN (within 0.5%); default\n"
	  "                     count,avg,min,max\n"
	  "  --since T, --until T  event times in [since, until) (RFC 3339, epoch ms or\n"
	  "                     a date); default: the samples' first and last intervals\n"
	  "  --follow           print each interval once it closes: when a sample one\n"
	  "                     interval past its end arrives; until Ctrl-C or SIGTERM\n"
	  "  --explain          on stderr: the levels and cells used and raw samples read\n"
	  "  --list             one row per series: name, tags, samples, first, last,\n"
	  "                     last_value, cardinality (distinct values of each tag\n"
	  "                     of its name)\n"
	  "  --tags             one row per name and tag: values (its cardinality), series\n"
	  "  --format prometheus  the latest value of each series, exposition format\n\n"
	  "Example:\n"
	  "  engram gen metrics --series 100 --days 2 | engram append\n"
	  "  echo 'api.requests:1|c|#region:eu' | engram append --map statsd\n"
	  "  engram metrics --list\n"
	  "  engram metrics http_request_duration_ms --every 1h --agg avg,p99 --by endpoint\n"
	  "  engram metrics queue_depth --where region=eu-west --every 5m --agg last \\\n"
	  "      --since 2026-01-05T10:00:00Z --until 2026-01-05T12:00:00Z\n"
	  "  engram metrics --format prometheus\n"
	  "  engram metrics engram.errors --by service --every 1d --agg count" },
	{ "sessions", cmd_sessions,
	  "sessions [--gap 30m] [--type T[,T...]] [--stream S] [--since TIME] [--until TIME]\n"
	  "         [--known-at K] [--page-types T[,T...]] [--explain] [--no-upcast]",
	  "sessions per stream by event time, late events merged in",
	  "A stream's events, in event-time order, are one session while each comes\n"
	  "less than the gap (default 30m) after the one before, whatever order they\n"
	  "were appended in: a late event that closes a gap merges two sessions.\n"
	  "Prints one row per session, by stream and start: stream, session (an id\n"
	  "made from stream and start), start, end (first and last event times),\n"
	  "duration (seconds), events, page_views, entry_page and exit_page (the\n"
	  "data.page_url of the first and last page view), client_sessions (how many\n"
	  "distinct `session` fields it spans).\n\n"
	  "  --gap D            a gap of D or more ends a session (500ms, 90s, 30m, 1h30m)\n"
	  "  --type T,...       only events of these types make sessions\n"
	  "  --stream S         only the sessions of stream S\n"
	  "  --since T, --until T  only sessions starting in [since, until]\n"
	  "  --known-at K       the sessions as the store knew them at record time K\n"
	  "  --page-types T,... the types that are page views (default page_view,screen_view)\n"
	  "  --explain          on stderr: the checkpoint used and the events read\n"
	  "                     (the path: columns or log, and why)\n"
	  "  --no-upcast        events as stored, not at their type's latest schema\n"
	  "                     version (docs/CONTRACTS.md)\n\n"
	  "The state is checkpointed under DIR/idx/sess/: a query reads only the\n"
	  "events appended since the newest checkpoint (docs/SESSIONS.md).\n\n"
	  "Example:\n"
	  "  engram sessions --stream user-000042\n"
	  "  engram sessions --gap 10m --since 2025-01-03 --until 2025-01-04" },
	{ "errors", cmd_errors,
	  "errors [--since TIME] [--until TIME] [--service S] [--release R] [--quiet DURATION]\n"
	  "       [--every DURATION] [--grouping V] [--regroup V] [--explain]\n"
	  "       engram [-d DIR] errors show FINGERPRINT [--limit N] [--grouping V]",
	  "error events grouped by fingerprint: counts, users, regressions, trend",
	  "The events of kind error, grouped by fingerprint (docs/ERRORS.md): an\n"
	  "explicit data.fingerprint, else the in-app stack frames (function and file),\n"
	  "else the type and the message with its numbers, ids, quoted values, paths\n"
	  "and times replaced by placeholders.  One row per group, by count: fingerprint,\n"
	  "title (type: normalised message), count, first_seen, last_seen, users and\n"
	  "sessions (distinct actors and sessions), first_release (data.release of the\n"
	  "first occurrence), regressed (seen again after a gap of --quiet or more) and\n"
	  "trend (the hourly counts of the last 24 hours of the answer: a sparkline in\n"
	  "a table, an array otherwise).\n\n"
	  "  --since T, --until T  only occurrences with event time in [since, until]\n"
	  "  --service S        only occurrences whose data.service is S\n"
	  "  --release R        only occurrences whose data.release is R\n"
	  "  --quiet D          the gap that makes a group regressed (default 7d)\n"
	  "  --every D          instead: rows time, fingerprint, count per interval of D\n"
	  "                     (also the metric engram.errors: engram metrics\n"
	  "                     engram.errors --by fingerprint, from its rollups)\n"
	  "  --grouping V       answer with grouping version V (default: the store's\n"
	  "                     current one, the newest for a new store)\n"
	  "  --regroup V        build version V's groups from the log, print how the\n"
	  "                     current groups map to them (from, to, events, title)\n"
	  "                     and make V current; the old groups are kept\n"
	  "  --limit N          errors show: at most N occurrences (default 20)\n"
	  "  --explain          on stderr: the checkpoint used and the events read\n\n"
	  "errors show FINGERPRINT (or 6 or more of its first hex digits; an ambiguous\n"
	  "prefix exits 2) prints the group's occurrences, newest first: time, pos,\n"
	  "type, service, release, actor, session, message and stack (frames; a text\n"
	  "stack is parsed).  The groups are checkpointed under DIR/idx/errors/vN/: a\n"
	  "query reads only the error events appended since.\n\n"
	  "Error events come in through engram append: an error is\n"
	  "{\"kind\":\"error\",\"type\":EXCEPTION,\"data\":{\"message\":M,\"stack\":S,...}}, S the\n"
	  "frames [{\"function\",\"file\",\"line\",\"in_app\"}...] or the text a Python,\n"
	  "Java, Go or Node program prints; append --map stacks stores a text stack as\n"
	  "frames (and takes a missing type and message from it).\n\n"
	  "Example:\n"
	  "  engram gen errors --events 10000 | engram append --map stacks\n"
	  "  engram errors\n"
	  "  engram errors --since 2025-01-03 --service checkout\n"
	  "  engram errors --every 1h --since 2025-01-07\n"
	  "  engram errors show 3fa2c9d1    # a fingerprint from engram errors, or 6+ of its digits\n"
	  "  engram errors --regroup 1" },
	{ "funnel", cmd_funnel,
	  "funnel --steps STEP,STEP,... --within DURATION [--since TIME] [--until TIME]\n"
	  "       [--by PATH] [--explain] [--no-upcast]",
	  "how many streams get through each step of a sequence, within a time limit",
	  "A STEP is TYPE, or TYPE:PAGE_URL for events of that type whose data.page_url\n"
	  "is exactly PAGE_URL (split at the first ':'; no ',' inside a step).  Per\n"
	  "stream, the level reached is the longest prefix of the steps matched by\n"
	  "events in strictly increasing event time, all within DURATION of the first\n"
	  "step's event, over every possible first-step event (ClickHouse's\n"
	  "windowFunnel; docs/FUNNELS.md).  Prints one row per step: step (from 1),\n"
	  "name, users (streams reaching at least that step), conversion (users over\n"
	  "the previous step's; null at step 1) and median_time (seconds from the\n"
	  "previous step, in each stream's earliest longest chain; null at step 1).\n\n"
	  "  --steps S,S,...   the steps, at most 32; a type may repeat\n"
	  "  --within D        the window, inclusive: 30m, 1h, 7d, 1h30m, ...\n"
	  "  --since TIME      only events with time >= TIME (before the funnel)\n"
	  "  --until TIME      only events with time <= TIME\n"
	  "  --by PATH         a funnel per value of PATH (stream, type, actor, session,\n"
	  "                    data.a.b, ...), as GROUP BY stream, value: rows of each\n"
	  "                    value that some stream entered, value first\n"
	  "  --explain         on stderr: events read and matched, streams, values, and\n"
	  "                    the path: columns or log (and why)\n"
	  "  --no-upcast       events as stored, not at their type's latest schema\n"
	  "                    version (docs/CONTRACTS.md)\n\n"
	  "Bad --steps (an empty step or list, a step without a type) exits 2.\n\n"
	  "Example:\n"
	  "  engram funnel --steps page_view,add_to_cart,purchase --within 1h\n"
	  "  engram funnel --steps page_view,purchase --within 30m --by data.device" },
	{ "head", cmd_head, "head [--sign KEY.pem]",
	  "print the last position, its chain hash and the Merkle tree's root",
	  "Prints pos and hash (64 hex digits, the SHA-256 chain value after the\n"
	  "last batch), size (the events in the Merkle tree: pos) and root (its RFC\n"
	  "9162 root, 64 hex digits; docs/PROOFS.md).  Keep them: engram verify\n"
	  "proves later that the log still matches the hash, and engram proof\n"
	  "consistency that a later tree extends this root.  The first head or\n"
	  "proof builds the tree file (idx/tree/), later ones hash only new events.\n\n"
	  "  --sign KEY.pem  also sign the head with an Ed25519 private key (PEM, from\n"
	  "                  openssl genpkey -algorithm ed25519): adds public_key\n"
	  "                  (64 hex) and signature (128 hex) over the statement\n"
	  "                  docs/PROOFS.md gives; engram proof check --pubkey checks it\n\n"
	  "A key file that cannot be read or is not an Ed25519 private key exits 2.\n\n"
	  "Example:\n"
	  "  engram head\n"
	  "  openssl genpkey -algorithm ed25519 -out head.key\n"
	  "  engram head --sign head.key >head.json" },
	{ "verify", cmd_verify, "verify",
	  "check every record and the whole hash chain",
	  "Reads the whole log and recomputes every record checksum and the hash\n"
	  "chain.  Exit 0 with events, head_pos and hash (compare it with a hash\n"
	  "head printed earlier), or exit 3 naming the first bad position, segment\n"
	  "and byte offset.\n\n"
	  "Example:\n"
	  "  engram verify" },
	{ "compact", cmd_compact, "compact [--block-size SIZE] [--level N]",
	  "compress every segment of the log that is not sealed yet",
	  "Seals each segment not sealed yet, the last one included (the next append\n"
	  "starts a new segment): its records go into independent zstd blocks,\n"
	  "replacing the file atomically; positions, the hash chain and every record\n"
	  "check are unchanged, and verify proves the store as before.  Writers seal closed\n"
	  "segments in the background anyway (--seal, default auto); compact seals\n"
	  "the rest now.  Takes the writer's lock (exit 4 if another writer holds\n"
	  "it).  Prints one row: sealed (segments now), already_sealed, bytes_before\n"
	  "and bytes_after (of those segments), ratio, log_bytes (all of log/ after)\n"
	  "and seconds (docs/STORAGE.md).\n"
	  "  --block-size SIZE   logical bytes per block, 4k to 16M (default 256k)\n"
	  "  --level N           zstd level, 1 to 19 (default 3)\n\n"
	  "Example:\n"
	  "  engram compact\n"
	  "  engram compact --block-size 1M --level 6" },
	{ "stats", cmd_stats, "stats", "events, bytes on disk, streams, types, time ranges",
	  "Prints one row about the whole store (docs/CLI.md lists the columns).\n\n"
	  "Example:\n"
	  "  engram stats" },
	{ "streams", cmd_streams, "streams", "list streams with event counts and versions",
	  "Prints one row per stream: stream, events, version (its last).\n\n"
	  "Example:\n"
	  "  engram streams" },
	{ "types", cmd_types, "types", "list event types with counts",
	  "Prints one row per type: type and events, from the type index.\n\n"
	  "Example:\n"
	  "  engram types" },
	{ "reindex", cmd_reindex, "reindex",
	  "delete and rebuild every derived file from the log",
	  "Rebuilds the indexes, and the state of every projection, window and\n"
	  "session spec kept under DIR/idx/, from the log alone: the answers after it\n"
	  "are the same.  Takes the writer's lock.\n\n"
	  "Example:\n"
	  "  engram reindex" },
	{ "backup", cmd_backup, "backup DIR",
	  "copy the store consistently into DIR, while it is being written",
	  "Copies the log up to the head as of the start, byte for byte (every batch\n"
	  "whole, nothing after it), and the consumer checkpoints into DIR, a new or\n"
	  "empty directory; fsyncs the copy, builds its indexes from its own log and\n"
	  "verifies it.  Takes no lock: appends go on meanwhile, and are not in the\n"
	  "copy.  Projection, window and session state is not copied (the copy's\n"
	  "first queries build it).  Prints one row: pos and hash (the copy's head:\n"
	  "engram -d DIR head prints the same), bytes (of log copied), segments,\n"
	  "consumers.  A DIR that exists and is not empty exits 1 (docs/BACKUP.md).\n\n"
	  "Example:\n"
	  "  engram backup /backups/events-2025-01-01\n"
	  "  engram -d /backups/events-2025-01-01 verify" },
	{ "specs", cmd_specs, "specs [--drop HASH | --unused [--older-than D] [--dry-run]]",
	  "list or drop the state kept for projections, windows and sessions",
	  "Prints one row per spec state kept under DIR/idx/: kind (projection, window\n"
	  "or session), name (the spec's \"name\", or null), hash (its directory),\n"
	  "bytes, and last_used (when a query last opened it; reindex does not count).\n"
	  "reindex rebuilds every projection state it finds, so a spec run once by\n"
	  "mistake costs time on every reindex until it is dropped.  Dropped state is\n"
	  "only derived: running its spec again builds it anew from the log.\n\n"
	  "  --drop HASH      delete that state (HASH may be a unique prefix of at\n"
	  "                   least 4 digits); prints its row with dropped: true\n"
	  "  --unused         delete every state not used for 30 days (or --older-than)\n"
	  "  --older-than D   with --unused: not used for D (10m, 12h, 7d, ...)\n"
	  "  --dry-run        with --unused: print the states it would delete, delete\n"
	  "                   nothing\n\n"
	  "Dropping takes the write lock (exit 4 while a writer holds it) and the\n"
	  "state's own lock: a state a query is using is not dropped (exit 4; with\n"
	  "--unused, a warning).  An unknown or ambiguous HASH exits 1.\n\n"
	  "Example:\n"
	  "  engram specs\n"
	  "  engram specs --drop 3fa2c9d1\n"
	  "  engram specs --unused --older-than 7d --dry-run" },
	{ "gen", cmd_gen,
	  "gen bank --events N [--accounts A] [--seed S] [--start TIME]\n"
	  "       engram [-d DIR] gen orders --events N [--late F] [--seed S] [--start TIME]\n"
	  "              [--customers N] [--loads EVERY]\n"
	  "       engram [-d DIR] gen labels --from orders --every D [--horizon H] [--sample F]\n"
	  "              [--events N] [--seed S] [--start TIME] [--customers N]\n"
	  "       engram [-d DIR] gen clickstream --events N [--users U] [--days D] [--late F]\n"
	  "              [--dup F] [--seed S] [--start TIME] [--format engram|segment|snowplow]\n"
	  "       engram [-d DIR] gen errors --events N [--days D] [--seed S] [--start TIME]\n"
	  "       engram [-d DIR] gen metrics [--series N] [--days D] [--step DURATION]\n"
	  "              [--late PCT] [--seed S] [--start TIME]",
	  "generate realistic events as NDJSON",
	  "bank: account_opened, deposit, withdrawal, fee and account_closed events for\n"
	  "A accounts (default 1000).\n"
	  "orders: order_placed, order_paid, order_shipped, order_delivered,\n"
	  "order_cancelled and order_refunded events of orders (streams order-NNNNNNN)\n"
	  "that go through their life cycle, many at once.  --late F (0 to 1, default 0)\n"
	  "writes that fraction of events 1 to 12 hours of event time after its place.\n"
	  "labels: CSV customer,label_time,reordered_<H> for the orders that gen orders\n"
	  "writes with the same --events, --seed, --start and --customers: for each\n"
	  "customer, a cutoff every D from D after its first order, while the cutoff\n"
	  "plus H (default 30d) is within the history; 1 if it ordered again in\n"
	  "[cutoff, cutoff + H), else 0.  Rows by label_time, then customer (for engram\n"
	  "features --labels).\n"
	  "clickstream: the sessions of U visitors (default 10000, streams user-NNNNNN) on\n"
	  "web, ios and android over D days (default 7): page_view (screen_view in the\n"
	  "apps), search, product_click, add_to_cart, checkout, purchase and login.\n"
	  "errors: error events (kind error) of four services in Python, Java, Go and\n"
	  "Node over D days (default 30): messages with ids and numbers, stacks as\n"
	  "frames or text, a few explicit fingerprints and regressions (engram errors).\n"
	  "metrics: metric samples of a web service, one per series per --step (default\n"
	  "1m) over --days (default 1) from --start (default 2026-01-05T00:00:00Z):\n"
	  "http_request_duration_ms per endpoint, method and region (slower in the\n"
	  "day), http_requests_total per endpoint, method and status (each step's\n"
	  "requests, metric_type counter), queue_depth per region (a gauge); --series\n"
	  "N of them in all (default 100).  --late PCT (default 1) writes that percent\n"
	  "of samples 1 to 120 minutes late; --seed defaults to 1 (docs/METRICS.md).\n\n"
	  "  --events N    how many events (required; not for metrics)\n"
	  "  --accounts A  bank: how many accounts (default 1000)\n"
	  "  --users U     clickstream: how many visitors (default 10000)\n"
	  "  --days D      clickstream: over how many days (default 7); errors (30);\n"
	  "                metrics (1)\n"
	  "  --series N    metrics: how many series (default 100)\n"
	  "  --step DURATION\n"
	  "                metrics: a sample per series every DURATION (default 1m)\n"
	  "  --late F      orders, clickstream: that fraction of events comes late\n"
	  "                (clickstream: from the apps only, queued offline and\n"
	  "                written minutes to hours after its place; labels:\n"
	  "                accepted, changes no label)\n"
	  "  --late PCT    metrics: that percent of samples comes late (default 1)\n"
	  "  --loads EVERY orders: each line ends with \"recorded\", the end of the load\n"
	  "                that delivered it (loads end at multiples of EVERY, e.g.\n"
	  "                10m); a late line lands in a later load.  For append\n"
	  "                --keep-recorded: history as it was recorded\n"
	  "  --customers N orders, labels: how many customers (default 50000)\n"
	  "  --from orders labels: of which generated events (orders only)\n"
	  "  --every D     labels: a cutoff every D (a duration, e.g. 7d)\n"
	  "  --horizon H   labels: the label looks H ahead (default 30d)\n"
	  "  --sample F    labels: keep that fraction of rows (0 to 1, default 1),\n"
	  "                the same ones for the same arguments\n"
	  "  --dup F       clickstream: that fraction of events is written again,\n"
	  "                seconds later\n"
	  "  --seed S      the random seed (default 0; metrics: 1)\n"
	  "  --start TIME  the start of the clock (default 2025-01-01T00:00:00Z;\n"
	  "                metrics: 2026-01-05T00:00:00Z)\n"
	  "  --format F    clickstream: engram (default: appends as is), segment\n"
	  "                (Segment spec messages) or snowplow (Snowplow enriched\n"
	  "                events as JSON)\n\n"
	  "The same arguments give the same output.  gen writes events, not rows:\n"
	  "the global --format csv|table does not apply to it.\n\n"
	  "Example:\n"
	  "  engram gen bank --events 100000 --seed 42 > bank.ndjson\n"
	  "  engram gen clickstream --events 10000 --late 0.02 | engram append\n"
	  "  engram gen orders --events 200000 --late 0.05 --loads 10m | engram append --keep-recorded\n"
	  "  engram gen labels --from orders --every 7d --events 200000 > labels.csv\n"
	  "  engram gen errors --events 10000 | engram append --map stacks\n"
	  "  engram gen metrics --series 1000 --days 7 | engram append" },
	{ "proof", cmd_proof,
	  "proof inclusion POS|--id ID|--positions FILE [--size N]\n"
	  "       engram [-d DIR] proof consistency OLD NEW\n"
	  "       engram proof check FILE [--root HASH] [--old-root HASH] [--pubkey PUB.pem] [--head HEAD]",
	  "Merkle proofs (RFC 9162) that an event is in the log, that a log extends an older one",
	  "The store's events form an RFC 9162 Merkle tree, leaf i being position\n"
	  "i + 1 and its data the event record's bytes (docs/PROOFS.md).  Each\n"
	  "subcommand prints one JSON object a line.\n\n"
	  "  inclusion POS     leaf_index, tree_size, leaf_hash, audit_path (leaf\n"
	  "                    upward), root, pos, leaf_data (base64) and event\n"
	  "  --id ID           the event with this id instead of POS\n"
	  "  --positions FILE  one proof per position of FILE (one a line; - for\n"
	  "                    standard input), in the file's order: many proofs in\n"
	  "                    one run (made in log order, 65,536 at a time)\n"
	  "  --size N          prove against the tree of the first N events (an\n"
	  "                    older head), default the head\n"
	  "  consistency OLD NEW  first_size, second_size, first_root, second_root\n"
	  "                    and consistency_path: the tree of NEW events extends\n"
	  "                    the tree of OLD\n"
	  "  check FILE        verify a proof (FILE - : standard input) without a\n"
	  "                    store: an inclusion proof against --root, a\n"
	  "                    consistency proof against --root (the new root) and\n"
	  "                    --old-root (default: the proof's first_root)\n"
	  "  --root HASH       the root the proof must reach (from a head you trust)\n"
	  "  --old-root HASH   consistency: the older root you trust\n"
	  "  --pubkey PUB.pem  take the root from a head signed with engram head\n"
	  "                    --sign, after checking its signature with this\n"
	  "                    Ed25519 public key (openssl pkey -in KEY -pubout):\n"
	  "                    FILE itself, or --head\n"
	  "  --head HEAD       the signed head whose root FILE must reach\n\n"
	  "check prints {\"ok\":true,\"kind\":...} and exits 0, or exits 3 with the\n"
	  "reason: malformed JSON, a field of the wrong type, a hash that is not 64\n"
	  "hex digits, a path of the wrong length, a root that differs, leaf_data\n"
	  "not hashing to leaf_hash, a bad signature.  POS 0, --size beyond the\n"
	  "head or below POS, OLD above NEW, NEW beyond the head: exit 2; an\n"
	  "unknown POS (beyond the head) or ID: exit 1.\n\n"
	  "Example:\n"
	  "  engram head                      # note root and size\n"
	  "  engram proof inclusion 42 >p.json\n"
	  "  engram proof check p.json --root ROOT\n"
	  "  engram proof consistency 100 250 | engram proof check - --old-root OLD --root NEW\n"
	  "  engram head --sign head.key >head.json\n"
	  "  engram proof check p.json --pubkey head.pub --head head.json" },
	{ "forget", cmd_forget, "forget SUBJECT | --list",
	  "destroy a subject's keys: its personal values read null from now on",
	  "Crypto-shredding (docs/FORGETTING.md).  Values that a type's schema marks\n"
	  "\"x-personal\" are stored encrypted under a key per subject (the value at\n"
	  "the schema's \"x-subject\" pointer, such as data.customer_id).  forget\n"
	  "SUBJECT overwrites the subject's keys in DIR/keys with zeros, durably, then\n"
	  "drops every derived state that may hold decrypted values (projections,\n"
	  "windows, sessions, features, metrics, error groups; kept datasets must be\n"
	  "built again); they rebuild from the log on next use.  From then on reads\n"
	  "show each of the subject's personal values as null and the event with\n"
	  "\"forgotten\": true; the log, its chain and engram verify are unchanged.\n"
	  "Takes the write lock (exit 4 while a writer holds it).  Prints one row:\n"
	  "subject, key_id, keys (destroyed now), forgotten_at, already, dropped.\n"
	  "A subject never seen exits 1; one forgotten before exits 0 with a warning.\n\n"
	  "  SUBJECT   the subject's value as text (a string, or an integer's digits)\n"
	  "  --list    one row per forgotten key: subject, key_id, forgotten_at (no data)\n\n"
	  "Example:\n"
	  "  engram forget c2\n"
	  "  engram forget --list" },
	{ "help", NULL, "help [COMMAND]", "show help for a command",
	  "With no COMMAND, lists the commands and the global options; with one,\n"
	  "prints its usage, options and examples (as engram COMMAND --help does).\n\n"
	  "Example:\n"
	  "  engram help windows" },
};
#define NCOMMANDS (sizeof COMMANDS / sizeof *COMMANDS)

static const char *GLOBAL_HELP =
	"Global options (before the command):\n"
	"  -d DIR                 the store (default $ENGRAM_DIR, else ./engram-data)\n"
	"  --format ndjson|csv|table   output format (default: table on a terminal)\n"
	"  --segment-size SIZE    roll log segments at SIZE (default 64M)\n"
	"  --seal auto|always|never   compress closed segments in the background\n"
	"                         (auto: segments of 1M or more; engram help compact)\n"
	"  --version              print the version and exit\n"
	"  -h, --help             print this help\n"
	"Exit codes: 0 ok, 1 error, 2 usage, 3 integrity failure, 4 conflict or locked.\n"
	"Times (TIME, K): 2025-01-01T10:00:00Z (RFC 3339, any offset), a date such as\n"
	"2025-01-01 (midnight UTC), or epoch milliseconds.  Durations: 500ms, 30s,\n"
	"10m, 6h, 7d, or units combined largest first: 1h30m, 2d12h, 1s500ms.\n";

void cli_help_all(FILE *f)
{
	fprintf(f, "engram %s - an embedded event store: data that never forgets\n\n"
		"usage: engram [-d DIR] [--format F] COMMAND [options]\n\nCommands:\n",
		EG_VERSION);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
	fprintf(f, "\n%s\nRun 'engram help COMMAND' for a command's options and examples.\n",
		GLOBAL_HELP);
}

static const command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(COMMANDS[i].name, name))
			return &COMMANDS[i];
	return NULL;
}

int cli_help_cmd(FILE *f, const char *name)
{
	const command *c = find_command(name);
	if (!c)
		return -1;
	fprintf(f, "usage: engram [-d DIR] %s\n\n%s.\n", c->usage, c->summary);
	if (*c->details)
		fprintf(f, "\n%s\n", c->details);
	return 0;
}

/* "no such command" with a suggestion; returns EXIT_USAGE. */
static int no_such_command(const char *name)
{
	const char *names[NCOMMANDS];
	for (size_t i = 0; i < NCOMMANDS; i++)
		names[i] = COMMANDS[i].name;
	const char *near = cli_nearest(name, names, NCOMMANDS);
	if (near)
		cli_error("no such command '%s'; did you mean '%s'?", name, near);
	else
		cli_error("no such command '%s' (engram help lists them)", name);
	return EXIT_USAGE;
}

static void say(const char *what, const char *fmt, va_list ap)
{
	fprintf(stderr, "engram: %s: ", what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("error", fmt, ap);
	va_end(ap);
}

int cli_usage_error(cli *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("error", fmt, ap);
	va_end(ap);
	const command *cmd = c->cmd ? find_command(c->cmd) : NULL;
	if (cmd)
		fprintf(stderr, "usage: engram [-d DIR] %s\n", cmd->usage);
	return EXIT_USAGE;
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("warning", fmt, ap);
	va_end(ap);
}

void cli_close(eg_store *st, int rc)
{
	if (st && eg_store_flush(st) != EG_OK && rc == EXIT_OK)
		cli_warn("%s: the log holds every acknowledged event; the next writer "
			 "brings the derived files up to date from it", eg_errmsg(st));
	if (rc == EXIT_OK && eg_store_note(st))
		cli_warn("%s", eg_store_note(st));
	eg_store_close(st);
}

int cli_exit_code(int code)
{
	switch (code) {
	case EG_OK: return EXIT_OK;
	case EG_ECORRUPT: return EXIT_INTEGRITY;
	case EG_ECONFLICT:
	case EG_ELOCKED: return EXIT_CONFLICT;
	default: return EXIT_ERR;
	}
}

int cli_fail(eg_store *st, int code)
{
	const char *m = st ? eg_errmsg(st) : "";
	cli_error("%s", *m ? m : eg_strerror(code));
	return cli_exit_code(code);
}

size_t cli_split(char *s, const char **items, size_t max)
{
	size_t n = 0;
	for (char *p = strtok(s, ","); p && n < max; p = strtok(NULL, ","))
		if (*p)
			items[n++] = p;
	return n;
}

int cli_u64(const char *s, uint64_t *res)
{
	if (!s || !*s || *s == '-')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*res = v;
	return 0;
}

int cli_size(const char *s, uint64_t *res)
{
	if (!s || !*s || *s == '-')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	uint64_t mul = 1;
	if (*end == 'k' || *end == 'K')
		mul = 1ull << 10, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1ull << 20, end++;
	else if (*end == 'g' || *end == 'G')
		mul = 1ull << 30, end++;
	if (*end || v == 0)
		return -1;
	*res = v * mul;
	return 0;
}

/* A list option given again: *val becomes "old,v" (kept in c->joined,
 * freed when the command returns).  -1 after printing why. */
static int join_list(cli *c, const char **val, const char *v, char sep)
{
	size_t n = strlen(*val) + strlen(v) + 2;
	char *j = c->njoined < 8 ? malloc(n) : NULL;
	if (!j) {
		cli_error(c->njoined < 8 ? "out of memory" : "an option repeated too often");
		return -1;
	}
	snprintf(j, n, "%s%c%s", *val, sep, v);
	c->joined[c->njoined++] = j;
	*val = j;
	return 0;
}

int cli_parse(cli *c, const opt *opts, int maxpos)
{
	c->npos = 0;
	for (int i = 0; i < c->argc; i++) {
		char *a = c->argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			cli_help_cmd(stdout, c->cmd);
			return -1;
		}
		if (a[0] != '-' || !strcmp(a, "-")) {
			if (c->npos >= maxpos)
				return cli_usage_error(c, "unexpected argument '%s'", a);
			c->pos[c->npos++] = a;
			continue;
		}
		if (!strcmp(a, "-d") || !strcmp(a, "--dir"))
			return cli_usage_error(c, "%s DIR is a global option: give it before the command, "
					       "as in: engram -d DIR %s ...", a, c->cmd);
		/* -x: an option whose name is the one letter x */
		int shrt = a[1] != '-' && a[2] == 0;
		if (a[1] != '-' && !shrt)
			return cli_usage_error(c, "unknown option '%s'", a);
		const char *name = a + (shrt ? 1 : 2), *eq = shrt ? NULL : strchr(name, '=');
		size_t n = eq ? (size_t)(eq - name) : strlen(name);
		const opt *o = NULL;
		for (const opt *p = opts; p && p->name; p++)
			if (strlen(p->name) == n && !strncmp(p->name, name, n))
				o = p;
		if (!o || (shrt && n != 1))
			return cli_usage_error(c, "unknown option '%s%.*s'", shrt ? "-" : "--", (int)n, name);
		if (!o->has_arg) {
			if (eq)
				return cli_usage_error(c, "option '--%s' takes no value", o->name);
			*o->flag = 1;
			continue;
		}
		if (!eq && i + 1 >= c->argc)
			return cli_usage_error(c, "option '--%s' needs a value", o->name);
		const char *v = eq ? eq + 1 : c->argv[++i];
		int list = o->has_arg == OPT_LIST || o->has_arg == OPT_QUERY;
		if (list && *o->val && join_list(c, o->val, v, o->has_arg == OPT_QUERY ? ';' : ','))
			return EXIT_ERR;
		else if (!list || !*o->val)
			*o->val = v;
	}
	return 0;
}

static eg_store *open_mode(cli *c, int flags, int *rc)
{
	eg_store *st;
	eg_open_opts oo = { .segment_bytes = c->segment_bytes, .seal = c->seal,
			    .lock_wait_us = c->lock_wait_us };
	int r = eg_store_open(&st, c->dir, flags, &oo);
	if (r) {
		*rc = cli_fail(st, r);
		eg_store_close(st);
		return NULL;
	}
	return st;
}

eg_store *cli_open_write(cli *c, int create, int *rc)
{
	return open_mode(c, EG_OPEN_WRITE | (create ? EG_OPEN_CREATE : 0), rc);
}

eg_store *cli_open_read(cli *c, int *rc)
{
	/* A writer brings derived files up to date when it opens; when none
	 * is running and they lag (after a crash, or deleted), be that writer
	 * for a moment.  If one is running, read as is. */
	eg_store *st = open_mode(c, EG_OPEN_READ, rc);
	if (!st || (eg_store_index_lag(st) == 0 && eg_store_col_lag(st) == 0))
		return st;
	eg_store_close(st);
	eg_open_opts oo = { .segment_bytes = c->segment_bytes, .seal = c->seal };
	int r = eg_store_open(&st, c->dir, EG_OPEN_WRITE | EG_OPEN_CATCHUP, &oo);
	if (r && r != EG_ELOCKED) {
		*rc = cli_fail(st, r);
		eg_store_close(st);
		return NULL;
	}
	eg_store_close(st);
	return open_mode(c, EG_OPEN_READ, rc);
}

static void usage_all(void)
{
	cli_help_all(stderr);
}

int main(int argc, char **argv)
{
	cli c = { .prog = argv[0] };
	c.dir = getenv("ENGRAM_DIR");
	if (!c.dir || !*c.dir)
		c.dir = "./engram-data";
	c.format = isatty(STDOUT_FILENO) ? FMT_TABLE : FMT_NDJSON;
	int i = 1, format_given = 0;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-d") || !strcmp(a, "--dir")) {
			if (++i >= argc) {
				cli_error("-d needs a directory");
				return EXIT_USAGE;
			}
			c.dir = argv[i];
		} else if (!strncmp(a, "--format", 8) && (a[8] == 0 || a[8] == '=')) {
			const char *v = a[8] == '=' ? a + 9 : (++i < argc ? argv[i] : NULL);
			format_given = 1;
			if (v && !strcmp(v, "ndjson"))
				c.format = FMT_NDJSON;
			else if (v && !strcmp(v, "csv"))
				c.format = FMT_CSV;
			else if (v && !strcmp(v, "table"))
				c.format = FMT_TABLE;
			else if (v && !strcmp(v, "prometheus"))
				c.format_prometheus = 1;    /* engram metrics' own: checked below */
			else {
				cli_error("--format: expected ndjson, csv or table");
				return EXIT_USAGE;
			}
		} else if (!strncmp(a, "--segment-size", 14) && (a[14] == 0 || a[14] == '=')) {
			const char *v = a[14] == '=' ? a + 15 : (++i < argc ? argv[i] : NULL);
			if (cli_size(v, &c.segment_bytes) || c.segment_bytes < 4096) {
				cli_error("--segment-size: expected a size of at least 4k such as 64M");
				return EXIT_USAGE;
			}
		} else if (!strncmp(a, "--seal", 6) && (a[6] == 0 || a[6] == '=')) {
			const char *v = a[6] == '=' ? a + 7 : (++i < argc ? argv[i] : NULL);
			if (v && !strcmp(v, "auto"))
				c.seal = EG_SEAL_AUTO;
			else if (v && !strcmp(v, "always"))
				c.seal = EG_SEAL_ALWAYS;
			else if (v && !strcmp(v, "never"))
				c.seal = EG_SEAL_NEVER;
			else {
				cli_error("--seal: expected auto, always or never");
				return EXIT_USAGE;
			}
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			cli_help_all(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--version")) {
			printf("engram %s\n", EG_VERSION);
			return EXIT_OK;
		} else {
			cli_error("unknown global option '%s'", a);
			usage_all();
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage_all();
		return EXIT_USAGE;
	}
	c.cmd = argv[i];
	if (c.format_prometheus && strcmp(c.cmd, "metrics")) {
		cli_error("--format prometheus: only engram metrics prints it; expected ndjson, csv "
			  "or table");
		return EXIT_USAGE;
	}
	c.argc = argc - i - 1;
	c.argv = argv + i + 1;
	/* Command options may also come after the command: allow the global
	 * --format there, as users type it anywhere.  Not for gen, which
	 * writes no rows and has a --format of its own. */
	for (int k = 0; k < c.argc && strcmp(c.cmd, "gen"); k++) {
		const char *a = c.argv[k];
		if (!strncmp(a, "--format", 8) && (a[8] == 0 || a[8] == '=')) {
			const char *v = a[8] == '=' ? a + 9 : (k + 1 < c.argc ? c.argv[k + 1] : NULL);
			/* engram metrics --format prometheus is the command's own */
			if (!strcmp(c.cmd, "metrics") && v && !strcmp(v, "prometheus"))
				continue;
			int f = v && !strcmp(v, "ndjson") ? FMT_NDJSON : v && !strcmp(v, "csv") ? FMT_CSV
				: v && !strcmp(v, "table") ? FMT_TABLE : -1;
			if (f < 0) {
				cli_error("--format: expected ndjson, csv or table");
				return EXIT_USAGE;
			}
			c.format = f;
			c.format_given = 1;
			int drop = a[8] == '=' ? 1 : 2;
			memmove(c.argv + k, c.argv + k + drop, (size_t)(c.argc - k - drop) * sizeof *c.argv);
			c.argc -= drop;
			k--;
		}
	}
	if (!strcmp(c.cmd, "help")) {
		if (c.argc == 0) {
			cli_help_all(stdout);
			return EXIT_OK;
		}
		return cli_help_cmd(stdout, c.argv[0]) ? no_such_command(c.argv[0]) : EXIT_OK;
	}
	const command *cmd = find_command(c.cmd);
	if (!cmd)
		return no_such_command(c.cmd);
	if (!strcmp(c.cmd, "gen") && format_given) {
		cli_error("--format before gen: gen writes events as NDJSON, not rows; "
			  "gen clickstream takes --format engram|segment|snowplow after gen");
		return EXIT_USAGE;
	}
	c.format_given |= format_given;
	int rc = cmd->fn(&c);
	for (int k = 0; k < c.njoined; k++)
		free(c.joined[k]);
	return rc;
}
