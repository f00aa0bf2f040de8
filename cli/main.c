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
	  "       [--map segment|snowplow|MAP.json]\n"
	  "       engram [-d DIR] append --heartbeat TIME [--sync always|none]",
	  "append NDJSON events as one atomic batch",
	  "Reads one JSON object per line (fields: id, stream, type, kind, time, actor,\n"
	  "session, data, meta) from FILE or standard input.  The whole input is one\n"
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
	  "                      (docs/MAPPING.md)\n"
	  "  --heartbeat TIME    append one heartbeat instead: a marker saying no events\n"
	  "                      before TIME will come except late ones; windows move\n"
	  "                      their watermark to TIME (docs/WINDOWS.md)\n\n"
	  "An id already stored, or repeated in the input, is skipped and counted as a\n"
	  "duplicate.  An invalid line exits 1 naming the line and field; nothing of\n"
	  "the batch is written." },
	{ "read", cmd_read,
	  "read [--from POS] [--to POS] [--stream S] [--type T[,T...]] [--since TIME]\n"
	  "     [--until TIME] [--by event|recorded] [--limit N] [--reverse] [--follow]",
	  "print events",
	  "Prints events with every envelope field.  Filters combine; bounds are\n"
	  "inclusive.  --since/--until compare event time, or record time with\n"
	  "--by recorded.  --follow keeps waiting for new events (no polling)." },
	{ "consume", cmd_consume,
	  "consume NAME [--type T[,T...]] [--follow] [--limit N]",
	  "print events after consumer NAME's checkpoint, then advance it",
	  "At-least-once delivery: the checkpoint advances only after the events were\n"
	  "written and flushed.  With --follow it waits for new events." },
	{ "consumers", cmd_consumers, "consumers",
	  "list consumers with their position and lag", "" },
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
	  "  --explain        on stderr: the plan, and per field the events skipped\n"
	  "                   for lacking the path or not holding a number\n\n"
	  "Snapshots of the state are saved under DIR/idx/proj/ every snapshot_every\n"
	  "events, keyed by the spec's hash: a query costs a snapshot load plus the\n"
	  "events after it.  A new or edited spec builds its own (with a progress bar\n"
	  "on a terminal).  A bad spec exits 2 naming its JSON path." },
	{ "history", cmd_history,
	  "history SPEC.json --key K [--as-of TIME] [--known-at TIME]",
	  "the states of one key over event time, one row per change",
	  "A type-2 slowly changing dimension: each row holds valid_from and valid_to\n"
	  "(event times; valid_to is null for the current row) and the fields of the\n"
	  "spec as they were in that interval." },
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
	  "  --explain           on stderr: events, revisions, watermark, and per\n"
	  "                      aggregate the events skipped (missing, not a number)\n\n"
	  "An event lacking a group_by path groups under null.  A bad spec exits 2\n"
	  "naming its JSON path." },
	{ "sessions", cmd_sessions,
	  "sessions [--gap 30m] [--type T[,T...]] [--stream S] [--since TIME] [--until TIME]\n"
	  "         [--known-at K] [--page-types T[,T...]] [--explain]",
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
	  "  --since/--until T  only sessions starting in [since, until]\n"
	  "  --known-at K       the sessions as the store knew them at record time K\n"
	  "  --page-types T,... the types that are page views (default page_view,screen_view)\n"
	  "  --explain          on stderr: the checkpoint used and the events read\n\n"
	  "The state is checkpointed under DIR/idx/sess/: a query reads only the\n"
	  "events appended since the newest checkpoint (docs/SESSIONS.md)." },
	{ "funnel", cmd_funnel,
	  "funnel --steps STEP,STEP,... --within DURATION [--since TIME] [--until TIME]\n"
	  "       [--by PATH] [--explain]",
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
	  "  --explain         on stderr: events read and matched, streams, values\n\n"
	  "Bad --steps (an empty step or list, a step without a type) exits 2." },
	{ "head", cmd_head, "head", "print the last position and its chain hash",
	  "Keep the hash: engram verify proves later that the log still matches." },
	{ "verify", cmd_verify, "verify",
	  "check every record and the whole hash chain",
	  "Exit 0 with events, head_pos and hash, or exit 3 naming the first bad\n"
	  "position, segment and byte offset." },
	{ "stats", cmd_stats, "stats", "events, bytes on disk, streams, types, time ranges", "" },
	{ "streams", cmd_streams, "streams", "list streams with event counts and versions", "" },
	{ "types", cmd_types, "types", "list event types with counts", "" },
	{ "reindex", cmd_reindex, "reindex",
	  "delete and rebuild every derived file from the log", "" },
	{ "gen", cmd_gen,
	  "gen bank --events N [--accounts A] [--seed S] [--start TIME]\n"
	  "       engram [-d DIR] gen orders --events N [--late F] [--seed S] [--start TIME]\n"
	  "       engram [-d DIR] gen clickstream --events N [--users U] [--days D] [--late F]\n"
	  "              [--dup F] [--seed S] [--start TIME] [--format engram|segment|snowplow]",
	  "generate realistic events as NDJSON",
	  "bank: account_opened, deposit, withdrawal, fee and account_closed events for\n"
	  "A accounts (default 1000).\n"
	  "orders: order_placed, order_paid, order_shipped, order_delivered,\n"
	  "order_cancelled and order_refunded events of orders (streams order-NNNNNNN)\n"
	  "that go through their life cycle, many at once.  --late F (0 to 1, default 0)\n"
	  "writes that fraction of events 1 to 12 hours of event time after its place.\n"
	  "clickstream: the sessions of U visitors (default 10000, streams user-NNNNNN) on\n"
	  "web, ios and android over D days (default 7): page_view (screen_view in the\n"
	  "apps), search, product_click, add_to_cart, checkout, purchase and login.\n"
	  "  --late F    that fraction of events, from the apps only, is queued offline\n"
	  "              and written minutes to hours after its place\n"
	  "  --dup F     that fraction of events is written again, seconds later\n"
	  "  --format    engram (default: appends as is), segment (Segment spec\n"
	  "              messages) or snowplow (Snowplow enriched events as JSON)\n"
	  "--start TIME is the start of the clock (default 2025-01-01T00:00:00Z).\n"
	  "The same arguments give the same output." },
};
#define NCOMMANDS (sizeof COMMANDS / sizeof *COMMANDS)

static const char *GLOBAL_HELP =
	"Global options (before the command):\n"
	"  -d DIR                 the store (default $ENGRAM_DIR, else ./engram-data)\n"
	"  --format ndjson|csv|table   output format (default: table on a terminal)\n"
	"  --segment-size SIZE    roll log segments at SIZE (default 256M)\n"
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
	fprintf(f, "  %-10s %s\n\n%s\nRun 'engram help COMMAND' for a command's options.\n",
		"help", "show help for a command", GLOBAL_HELP);
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
		if (a[1] != '-')
			return cli_usage_error(c, "unknown option '%s'", a);
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t n = eq ? (size_t)(eq - name) : strlen(name);
		const opt *o = NULL;
		for (const opt *p = opts; p && p->name; p++)
			if (strlen(p->name) == n && !strncmp(p->name, name, n))
				o = p;
		if (!o)
			return cli_usage_error(c, "unknown option '--%.*s'", (int)n, name);
		if (!o->has_arg) {
			if (eq)
				return cli_usage_error(c, "option '--%s' takes no value", o->name);
			*o->flag = 1;
			continue;
		}
		if (eq) {
			*o->val = eq + 1;
		} else {
			if (i + 1 >= c->argc)
				return cli_usage_error(c, "option '--%s' needs a value", o->name);
			*o->val = c->argv[++i];
		}
	}
	return 0;
}

static eg_store *open_mode(cli *c, int flags, int *rc)
{
	eg_store *st;
	eg_open_opts oo = { .segment_bytes = c->segment_bytes };
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
	if (!st || eg_store_index_lag(st) == 0)
		return st;
	eg_store_close(st);
	eg_open_opts oo = { .segment_bytes = c->segment_bytes };
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
	int i = 1;
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
			if (v && !strcmp(v, "ndjson"))
				c.format = FMT_NDJSON;
			else if (v && !strcmp(v, "csv"))
				c.format = FMT_CSV;
			else if (v && !strcmp(v, "table"))
				c.format = FMT_TABLE;
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
	c.argc = argc - i - 1;
	c.argv = argv + i + 1;
	/* Command options may also come after the command: allow the global
	 * --format there, as users type it anywhere.  Not for gen, which
	 * writes no rows and has a --format of its own. */
	for (int k = 0; k < c.argc && strcmp(c.cmd, "gen"); k++) {
		const char *a = c.argv[k];
		if (!strncmp(a, "--format", 8) && (a[8] == 0 || a[8] == '=')) {
			const char *v = a[8] == '=' ? a + 9 : (k + 1 < c.argc ? c.argv[k + 1] : NULL);
			int f = v && !strcmp(v, "ndjson") ? FMT_NDJSON : v && !strcmp(v, "csv") ? FMT_CSV
				: v && !strcmp(v, "table") ? FMT_TABLE : -1;
			if (f < 0) {
				cli_error("--format: expected ndjson, csv or table");
				return EXIT_USAGE;
			}
			c.format = f;
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
		if (cli_help_cmd(stdout, c.argv[0])) {
			cli_error("no such command '%s'", c.argv[0]);
			return EXIT_USAGE;
		}
		return EXIT_OK;
	}
	const command *cmd = find_command(c.cmd);
	if (!cmd) {
		cli_error("no such command '%s'", c.cmd);
		usage_all();
		return EXIT_USAGE;
	}
	return cmd->fn(&c);
}
