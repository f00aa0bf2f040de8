/*
 * schema.c — event contracts (docs/CONTRACTS.md): `engram schema` registers,
 * lists, shows, compares and checks versioned schemas per event type, and
 * checks a producer's sample; `engram quarantine` lists and retries the
 * events their schema refused.
 */
#include "cli.h"
#include "schema_diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int any_schema(void *ctx, const eg_contract *k)
{
	(void)ctx;
	(void)k;
	return 1;
}

int cli_has_schemas(eg_store *st)
{
	return eg_contract_list(st, NULL, any_schema, NULL) == 1;
}

/* ---------------------------------------------------------------- add */

/* Each problem of an add or check, one line each, held until the error
 * or warning that sums them up is printed. */
static int on_issue(void *ctx, const eg_contract_issue *c)
{
	FILE *f = ctx;
	if (c->pos) {
		fprintf(f, "  event %llu (stored as v%llu): %s: %s: %s\n",
			(unsigned long long)c->pos, (unsigned long long)c->stored_version,
			c->pointer, c->rule, c->message);
	} else {
		fprintf(f, "  against v%llu: %s %s: %s\n", (unsigned long long)c->against,
			c->rule, *c->pointer ? c->pointer : "/", c->message);
	}
	return 0;
}

static int schema_add(cli *c, int dry_run)
{
	const char *compat = NULL, *upcast = NULL, *sample = NULL;
	int force = 0;
	opt opts[] = {
		{ "compat", 1, &compat, NULL }, { "upcast", 1, &upcast, NULL },
		{ "sample", 1, &sample, NULL }, { "force", 0, NULL, &force }, { NULL, 0, NULL, NULL }
	};
	int rc = cli_parse(c, opts, 3);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (c->npos != 3)
		return cli_usage_error(c, "expected TYPE and a schema FILE");
	if (compat && eg_compat_mode_parse(compat) < 0)
		return cli_usage_error(c, "--compat: expected backward, forward, full (each also "
				       "_transitive) or none, got \"%s\"", compat);
	eg_contract_opts o = { .compat = compat, .dry_run = dry_run, .force = force };
	if (sample && (cli_u64(sample, &o.sample) || !o.sample))
		return cli_usage_error(c, "--sample: expected a positive count, got \"%s\"", sample);
	size_t n, un = 0;
	char *doc = cli_spec_text(c->pos[2], &n, &rc), *up = NULL;
	if (!doc)
		return rc;
	if (upcast && !(up = cli_spec_text(upcast, &un, &rc))) {
		free(doc);
		return rc;
	}
	o.upcast = up;
	o.upcast_len = un;
	eg_store *st = dry_run ? cli_open_read(c, &rc) : cli_open_write(c, 1, &rc);
	if (st) {
		eg_contract_report rep;
		char *log = NULL;
		size_t loglen = 0;
		FILE *hold = open_memstream(&log, &loglen);
		int r = eg_contract_add(st, c->pos[1], doc, n, &o, hold ? on_issue : NULL, hold, &rep);
		if (hold)
			fclose(hold);
		if (r == EG_EINVAL) {
			cli_error("%s: %s", strncmp(eg_errmsg(st), "upcast", 6) ? c->pos[2] : upcast,
				  eg_errmsg(st));
			rc = EXIT_ERR;
		} else if (r) {
			rc = cli_fail(st, r);
		} else {
			if (rep.failed)
				cli_warn("%llu of %llu stored events of %s fail v%llu%s",
					 (unsigned long long)rep.failed, (unsigned long long)rep.checked,
					 c->pos[1], (unsigned long long)rep.version,
					 strcmp(rep.compat, "none") ? " (registered with --force)" : "");
			out *w = out_new(stdout, c->format);
			out_row_begin(w);
			out_cstr(w, "type", c->pos[1]);
			out_u64(w, "version", rep.version);
			out_cstr(w, "compat", rep.compat);
			out_cstr(w, "result", rep.unchanged ? "unchanged" : dry_run ? "compatible"
								    : "registered");
			out_u64(w, "checked", rep.checked);
			out_u64(w, "failed", rep.failed);
			out_row_end(w);
			rc = out_finish(w, EXIT_OK);
		}
		if (log && loglen)
			fwrite(log, 1, loglen, stderr);
		free(log);
		cli_close(st, rc);
	}
	free(doc);
	free(up);
	return rc;
}

/* --------------------------------------------------------------- list */

typedef struct list_ctx {
	eg_store *st;
	out *o;
	int rc;
} list_ctx;

static int on_latest(void *ctx, const eg_contract *k)
{
	list_ctx *x = ctx;
	eg_contract latest;
	char type[1100];
	snprintf(type, sizeof type, "%.*s", (int)k->type_len, k->type);
	if (eg_contract_get(x->st, type, 0, &latest) || latest.version != k->version)
		return 0;
	uint64_t counts[64];
	size_t n = k->version + 1 < 64 ? k->version + 1 : 64;
	int r = eg_contract_counts(x->st, type, counts, n);
	if (r)
		return r;
	char ev[64 * 32] = "{", *p = ev + 1;
	for (size_t i = 0; i < n; i++)
		if (counts[i] || i)
			p += snprintf(p, sizeof ev - (size_t)(p - ev) - 2, "%s\"%zu\":%llu",
				      p > ev + 1 ? "," : "", i, (unsigned long long)counts[i]);
	strcpy(p, "}");
	out_row_begin(x->o);
	out_str(x->o, "type", k->type, k->type_len);
	out_u64(x->o, "version", k->version);
	out_cstr(x->o, "compat", k->compat);
	out_json(x->o, "events", ev, strlen(ev));
	out_time(x->o, "registered", k->recorded);
	out_row_end(x->o);
	return 0;
}

static int schema_list(cli *c, int arg)
{
	(void)arg;
	opt opts[] = { { NULL, 0, NULL, NULL } };
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	list_ctx x = { st, out_new(stdout, c->format), 0 };
	static const char *const keys[] = { "type", "version", "compat", "events", "registered" };
	out_header(x.o, keys, 5);
	int r = eg_contract_list(st, NULL, on_latest, &x);
	if (r) {
		out_failed(x.o);
		rc = out_finish(x.o, cli_fail(st, r));
	} else {
		int on = 0;
		eg_contract_require_all(st, &on);
		rc = out_finish(x.o, EXIT_OK);
		if (on && isatty(2))
			fprintf(stderr, "schema require-all is on: types without a schema are refused\n");
	}
	cli_close(st, rc);
	return rc;
}

/* --------------------------------------------------------------- show */

static int version_arg(cli *c, const char *s, const char *what, uint64_t *v)
{
	if (s && (cli_u64(s[0] == 'v' ? s + 1 : s, v) || !*v))
		return cli_usage_error(c, "%s: expected a version number (1, 2, ...), got \"%s\"",
				       what, s);
	return 0;
}

static int schema_show(cli *c, int arg)
{
	(void)arg;
	const char *ver = NULL;
	int upcast = 0;
	opt opts[] = { { "version", 1, &ver, NULL }, { "upcast", 0, NULL, &upcast },
		       { NULL, 0, NULL, NULL } };
	int rc = cli_parse(c, opts, 2);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (c->npos != 2)
		return cli_usage_error(c, "expected TYPE");
	uint64_t v = 0;
	if ((rc = version_arg(c, ver, "--version", &v)))
		return rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	eg_contract k;
	int r = eg_contract_get(st, c->pos[1], v, &k);
	if (r) {
		rc = cli_fail(st, r);
	} else if (upcast && !k.upcast) {
		cli_error("%s v%llu has no upcast", c->pos[1], (unsigned long long)k.version);
		rc = EXIT_ERR;
	} else {
		const char *s = upcast ? k.upcast : k.schema;
		size_t n = upcast ? k.upcast_len : k.schema_len;
		fwrite(s, 1, n, stdout);
		putchar('\n');
		rc = fflush(stdout) ? EXIT_ERR : EXIT_OK;
	}
	cli_close(st, rc);
	return rc;
}

/* --------------------------------------------------------------- diff */

static int on_change(void *ctx, const eg_contract_change *ch)
{
	out *o = ctx;
	out_row_begin(o);
	out_cstr(o, "change", ch->rule);
	out_cstr(o, "pointer", ch->pointer);
	out_cstr(o, "message", ch->message);
	out_cstr(o, "breaks", ch->breaks_backward && ch->breaks_forward ? "both"
			      : ch->breaks_backward ? "backward" : ch->breaks_forward ? "forward"
										 : "none");
	out_row_end(o);
	return 0;
}

static int schema_diff(cli *c, int arg)
{
	(void)arg;
	opt opts[] = { { NULL, 0, NULL, NULL } };
	int rc = cli_parse(c, opts, 4);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (c->npos != 4)
		return cli_usage_error(c, "expected TYPE V1 V2");
	uint64_t v1, v2;
	if ((rc = version_arg(c, c->pos[2], "V1", &v1)) || (rc = version_arg(c, c->pos[3], "V2", &v2)))
		return rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	out *o = out_new(stdout, c->format);
	static const char *const keys[] = { "change", "pointer", "message", "breaks" };
	out_header(o, keys, 4);
	int r = eg_contract_diff(st, c->pos[1], v1, v2, on_change, o);
	if (r)
		out_failed(o);
	rc = out_finish(o, r ? cli_fail(st, r) : EXIT_OK);
	cli_close(st, rc);
	return rc;
}

/* ----------------------------------------------------------- validate */

static int schema_validate(cli *c, int arg)
{
	(void)arg;
	int all = 0, data = 0;
	opt opts[] = { { "all", 0, NULL, &all }, { "data", 0, NULL, &data },
		       { NULL, 0, NULL, NULL } };
	int rc = cli_parse(c, opts, 3);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (all ? c->npos != 2 : c->npos != 3)
		return cli_usage_error(c, all ? "expected FILE.ndjson (with --all, no TYPE)"
					      : "expected TYPE and FILE.ndjson (or --all FILE.ndjson)");
	if (all && data)
		return cli_usage_error(c, "--data needs a TYPE: data objects carry none");
	const char *type = all ? NULL : c->pos[1], *path = c->pos[all ? 1 : 2];
	size_t n;
	char *text = strcmp(path, "-") ? cli_slurp(path, &n) : cli_slurp("/dev/stdin", &n);
	if (!text) {
		cli_error("cannot read %s: %s", path, strerror(errno));
		return EXIT_ERR;
	}
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		free(text);
		return rc;
	}
	uint64_t lines = 0, valid = 0, invalid = 0, noschema = 0;
	char *wrap = NULL;
	size_t wcap = 0;
	for (char *p = text, *end = text + n; p < end && rc == EXIT_OK;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = p;
		p += len + (nl != NULL);
		lines++;
		size_t k = 0;
		while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
			k++;
		if (k == len)
			continue;
		if (data) {
			if (wcap < len + 16 && !(wrap = realloc(wrap, wcap = len + 16))) {
				rc = cli_fail(NULL, EG_ENOMEM);
				break;
			}
			memcpy(wrap, "{\"data\":", 8);
			memcpy(wrap + 8, line, len);
			wrap[8 + len] = '}';
			line = wrap;
			len += 9;
		}
		int r = eg_contract_validate(st, line, len, type);
		if (r == EG_OK) {
			valid++;
		} else if (r == EG_ENOTFOUND) {
			noschema++;
			if (type) {
				cli_error("line %llu: %s", (unsigned long long)lines, eg_errmsg(st));
				invalid++;
			}
		} else if (r == EG_EINVAL) {
			invalid++;
			cli_error("line %llu: %s", (unsigned long long)lines, eg_errmsg(st));
		} else {
			rc = cli_fail(st, r);
		}
	}
	free(wrap);
	free(text);
	if (rc == EXIT_OK) {
		out *o = out_new(stdout, c->format);
		out_row_begin(o);
		out_u64(o, "lines", lines);
		out_u64(o, "valid", valid);
		out_u64(o, "invalid", invalid);
		out_u64(o, "no_schema", noschema);
		out_row_end(o);
		rc = out_finish(o, invalid ? EXIT_ERR : EXIT_OK);
	}
	cli_close(st, rc);
	return rc;
}

/* -------------------------------------------------------- require-all */

static int schema_require_all(cli *c, int arg)
{
	(void)arg;
	opt opts[] = { { NULL, 0, NULL, NULL } };
	int rc = cli_parse(c, opts, 2);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	int on = c->npos == 2 && !strcmp(c->pos[1], "on");
	if (c->npos != 2 || (!on && strcmp(c->pos[1], "off")))
		return cli_usage_error(c, "expected on or off");
	eg_store *st = cli_open_write(c, 1, &rc);
	if (!st)
		return rc;
	int r = eg_contract_set_require_all(st, on);
	rc = r ? cli_fail(st, r) : EXIT_OK;
	cli_close(st, rc);
	return rc;
}

int cmd_schema(cli *c)
{
	static const cli_sub SUBS[] = {
		{ "add", schema_add, 0 }, { "check", schema_add, 1 }, { "list", schema_list, 0 },
		{ "show", schema_show, 0 }, { "diff", schema_diff, 0 },
		{ "validate", schema_validate, 0 }, { "require-all", schema_require_all, 0 },
	};
	return cli_subcommand(c, "schema", SUBS, sizeof SUBS / sizeof *SUBS);
}

/* --------------------------------------------------------- quarantine */

static void quarantined_row(out *o, const eg_quarantined *q, const char *status)
{
	out_row_begin(o);
	out_u64(o, "pos", q->pos);
	out_time(o, "recorded", q->recorded);
	out_str(o, "id", q->id, q->id_len);
	out_str(o, "type", q->type, q->type_len);
	out_u64(o, "line", q->line);
	out_u64(o, "schema_version", q->schema_version);
	out_cstr(o, "status", status);
	if (q->appended_pos)
		out_u64(o, "appended_pos", q->appended_pos);
	else
		out_null(o, "appended_pos");
	if (q->retry_error)
		out_cstr(o, "errors", q->retry_error);
	else
		out_json(o, "errors", q->errors, q->errors_len);
	out_row_end(o);
}

static const char *const QKEYS[] = { "pos", "recorded", "id", "type", "line", "schema_version",
				     "status", "appended_pos", "errors" };

static int on_listed(void *ctx, const eg_quarantined *q)
{
	quarantined_row(ctx, q, q->appended_pos ? "appended" : "pending");
	return 0;
}

static int on_retried(void *ctx, const eg_quarantined *q)
{
	quarantined_row(ctx, q, q->appended_pos ? "appended" : "failing");
	return 0;
}

int cmd_quarantine(cli *c)
{
	const char *sub = c->argc > 0 ? c->argv[0] : NULL;
	const char *sync = NULL;
	opt opts[] = { { "sync", 1, &sync, NULL }, { NULL, 0, NULL, NULL } };
	if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h")))
		return cli_help_cmd(stdout, "quarantine") ? EXIT_USAGE : EXIT_OK;
	int retry = sub && !strcmp(sub, "retry");
	if (!sub || (!retry && strcmp(sub, "list")))
		return cli_usage_error(c, "expected a subcommand: list or retry");
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (sync && strcmp(sync, "always") && strcmp(sync, "none"))
		return cli_usage_error(c, "--sync: expected always or none, got \"%s\"", sync);
	eg_store *st = retry ? cli_open_write(c, 0, &rc) : cli_open_read(c, &rc);
	if (!st)
		return rc;
	out *o = out_new(stdout, c->format);
	out_header(o, QKEYS, sizeof QKEYS / sizeof *QKEYS);
	int r;
	uint64_t appended = 0, failing = 0;
	if (retry)
		r = eg_quarantine_retry(st, sync && !strcmp(sync, "none") ? EG_SYNC_NONE
									 : EG_SYNC_ALWAYS,
					on_retried, o, &appended, &failing);
	else
		r = eg_quarantine_list(st, on_listed, o);
	if (r)
		out_failed(o);
	rc = out_finish(o, r ? cli_fail(st, r) : EXIT_OK);
	if (retry && rc == EXIT_OK && isatty(2))
		fprintf(stderr, "%llu appended, %llu still failing\n", (unsigned long long)appended,
			(unsigned long long)failing);
	cli_close(st, rc);
	return rc;
}
