/*
 * test_contract.c — event contracts through the library (docs/CONTRACTS.md):
 * the registry kept in $schemas, compatibility and data checks at
 * eg_contract_add, validation at append with the version in the record,
 * the quarantine and its once-only retry, upcasting through the iterator
 * (against a plain recomputation of the rename), and consumers' schema
 * versions.
 */
#include "testutil.h"
#include "contract.h"
#include "internal.h"
#include "record.h"

#define V1 "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}," \
	   "\"total\":{\"type\":\"number\",\"minimum\":0}},\"required\":[\"id\",\"total\"]}"
#define V2 "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}," \
	   "\"amount\":{\"type\":\"number\",\"minimum\":0}," \
	   "\"currency\":{\"enum\":[\"EUR\",\"USD\"],\"default\":\"EUR\"}}," \
	   "\"required\":[\"id\",\"amount\",\"currency\"]}"
#define UP2 "[{\"op\":\"rename\",\"path\":\"/total\",\"to\":\"amount\"}]"

static eg_store *writer(tu_fx *f)
{
	return tu_open(f->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
}

static void add_ok(eg_store *st, const char *type, const char *doc, const char *up,
		   eg_contract_report *rep)
{
	eg_contract_opts o = { .upcast = up, .upcast_len = up ? strlen(up) : 0 };
	int rc = eg_contract_add(st, type, doc, strlen(doc), &o, NULL, NULL, rep);
	if (rc)
		fail_msg("contract add %s: %s: %s", type, eg_strerror(rc), eg_errmsg(st));
}

/* Add one line; the return code, the message in eg_errmsg. */
static int add_line(eg_store *st, const char *line, int quarantine, eg_append_result *res)
{
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1, .quarantine = quarantine };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	int rc = eg_batch_add_json(b, line, strlen(line));
	if (rc != EG_OK) {
		eg_batch_abort(b);
		return rc;
	}
	return eg_batch_commit(b, res);
}

/* The event at pos (read with or without upcasting), copied to text. */
static void event_at(eg_store *st, uint64_t pos, int upcast, char *data, size_t cap,
		     uint64_t *version)
{
	eg_filter f = { .from = pos, .to = pos, .upcast = upcast };
	eg_iter *it;
	const eg_event *e;
	assert_int_equal(eg_iter_new(st, &it, &f), EG_OK);
	assert_int_equal(eg_iter_next(it, &e), EG_OK);
	assert_true(e->data_len < cap);
	memcpy(data, e->data, e->data_len);
	data[e->data_len] = 0;
	*version = e->schema_version;
	eg_iter_free(it);
}

static void registry_versions_are_events_of_schemas(void **state)
{
	tu_fx *f = *state;
	eg_store *st = writer(f);
	eg_contract_report rep;
	add_ok(st, "order_placed", V1, NULL, &rep);
	assert_int_equal(rep.version, 1);
	assert_string_equal(rep.compat, "backward");
	assert_true(rep.pos > 0);
	add_ok(st, "order_placed", V2, UP2, &rep);
	assert_int_equal(rep.version, 2);
	/* the same document again: nothing new */
	add_ok(st, "order_placed", V2, NULL, &rep);
	assert_true(rep.unchanged);
	eg_contract c;
	assert_int_equal(eg_contract_get(st, "order_placed", 1, &c), EG_OK);
	assert_int_equal(c.version, 1);
	assert_null(c.upcast);
	assert_int_equal(eg_contract_get(st, "order_placed", 0, &c), EG_OK);
	assert_int_equal(c.version, 2);
	assert_non_null(c.upcast);
	assert_int_equal(eg_contract_get(st, "order_placed", 3, &c), EG_ENOTFOUND);
	assert_int_equal(eg_contract_get(st, "nope", 0, &c), EG_ENOTFOUND);
	/* the boolean schemas: anything, and nothing */
	add_ok(st, "any", "true", NULL, &rep);
	add_ok(st, "none", "false", NULL, &rep);
	eg_append_result res;
	assert_int_equal(add_line(st, "{\"type\":\"any\",\"data\":{\"x\":[1]}}", 0, &res), EG_OK);
	assert_int_equal(add_line(st, "{\"type\":\"none\"}", 0, &res), EG_EINVAL);
	eg_store_close(st);
	/* a reader sees the same registry, read from the log */
	st = tu_open(f->dir, EG_OPEN_READ, 0);
	assert_int_equal(eg_contract_get(st, "order_placed", 0, &c), EG_OK);
	assert_int_equal(c.version, 2);
	uint64_t n;
	assert_int_equal(eg_store_key(st, EG_KEYS_STREAMS, "$schemas", 8, &n), EG_OK);
	assert_int_equal(n, 4);
	assert_int_equal(eg_contract_get(st, "none", 0, &c), EG_OK);
	assert_int_equal(c.schema_len, 5);
	eg_store_close(st);
}

static int count_issue(void *ctx, const eg_contract_issue *c)
{
	int *n = ctx;
	(*n)++;
	assert_non_null(c->pointer);
	return 0;
}

static void incompatible_versions_and_failing_data_are_refused(void **state)
{
	tu_fx *f = *state;
	eg_store *st = writer(f);
	eg_contract_report rep;
	add_ok(st, "o", V1, NULL, &rep);
	const char *lines[] = { "{\"type\":\"o\",\"data\":{\"id\":\"a\",\"total\":10}}",
				"{\"type\":\"o\",\"data\":{\"id\":\"b\",\"total\":25}}" };
	tu_append(st, lines, 2);
	eg_head before;
	assert_int_equal(eg_store_head(st, &before), EG_OK);
	/* v2 without its upcast: amount is a new required property */
	int issues = 0;
	eg_contract_opts o = { 0 };
	assert_int_equal(eg_contract_add(st, "o", V2, strlen(V2), &o, count_issue, &issues, &rep),
			 EG_ECONFLICT);
	assert_int_equal(rep.rules_broken, 1);
	assert_int_equal(rep.checked, 2);
	assert_int_equal(rep.failed, 2);
	assert_int_equal(issues, 3);
	eg_head after;
	assert_int_equal(eg_store_head(st, &after), EG_OK);
	assert_int_equal(after.pos, before.pos);
	/* with the upcast it reads every stored event */
	add_ok(st, "o", V2, UP2, &rep);
	assert_int_equal(rep.failed, 0);
	assert_int_equal(rep.checked, 2);
	/* a bad mode, a bad document, a bad upcast */
	o.compat = "sideways";
	assert_int_equal(eg_contract_add(st, "o", V2, strlen(V2), &o, NULL, NULL, &rep), EG_EINVAL);
	o.compat = NULL;
	const char *bad = "{\"type\":\"object\",\"properties\":{\"a\":{\"minLength\":\"x\"}}}";
	assert_int_equal(eg_contract_add(st, "o", bad, strlen(bad), &o, NULL, NULL, &rep), EG_EINVAL);
	assert_non_null(strstr(eg_errmsg(st), "/properties/a/minLength"));
	o.upcast = "[{\"op\":\"rename\"}]";
	o.upcast_len = strlen(o.upcast);
	assert_int_equal(eg_contract_add(st, "o", V1, strlen(V1), &o, NULL, NULL, &rep), EG_EINVAL);
	assert_non_null(strstr(eg_errmsg(st), "upcast: /0/"));
	/* none accepts anything (the data failures are only reported) */
	o = (eg_contract_opts){ .compat = "none" };
	const char *tight = "{\"type\":\"object\",\"properties\":{\"amount\":{\"minimum\":100}}}";
	add_ok(st, "o", V2, NULL, &rep);   /* unchanged */
	assert_int_equal(eg_contract_add(st, "o", tight, strlen(tight), &o, NULL, NULL, &rep), EG_OK);
	assert_int_equal(rep.version, 3);
	assert_int_equal(rep.failed, 2);
	eg_store_close(st);
}

/* backward checks the previous version only; backward_transitive every
 * earlier one: a property dropped in v2 and brought back with another type
 * in v3 passes the first and fails the second, against v1. */
static void transitive_modes_compare_every_earlier_version(void **state)
{
	tu_fx *f = *state;
	eg_store *st = writer(f);
	eg_contract_report rep;
	const char *v1 = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}";
	const char *v2 = "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"string\"}}}";
	const char *v3 = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
			 "\"b\":{\"type\":\"string\"}}}";
	add_ok(st, "t", v1, NULL, &rep);
	add_ok(st, "t", v2, NULL, &rep);
	eg_contract_opts o = { .compat = "backward_transitive", .dry_run = 1 };
	assert_int_equal(eg_contract_add(st, "t", v3, strlen(v3), &o, NULL, NULL, &rep), EG_ECONFLICT);
	assert_true(rep.rules_broken >= 1);
	o.compat = "backward";
	assert_int_equal(eg_contract_add(st, "t", v3, strlen(v3), &o, NULL, NULL, &rep), EG_OK);
	assert_int_equal(rep.rules_broken, 0);
	assert_int_equal(rep.pos, 0);     /* a dry run registers nothing */
	eg_store_close(st);
}

static void append_validates_and_records_the_version(void **state)
{
	tu_fx *f = *state;
	eg_store *st = writer(f);
	eg_contract_report rep;
	add_ok(st, "o", V1, NULL, &rep);
	eg_append_result res;
	assert_int_equal(add_line(st, "{\"type\":\"o\",\"data\":{\"id\":\"a\",\"total\":-1}}", 0, &res),
			 EG_EINVAL);
	assert_string_equal(eg_errmsg(st), "schema o v1: /data/total: minimum: expected a number >= 0, "
				       "got -1");
	assert_int_equal(add_line(st, "{\"type\":\"o\",\"data\":{\"id\":\"a\",\"total\":3}}", 0, &res),
			 EG_OK);
	char data[256];
	uint64_t v;
	event_at(st, res.last_pos, 0, data, sizeof data, &v);
	assert_int_equal(v, 1);
	/* a type without a schema passes, and has no version */
	assert_int_equal(add_line(st, "{\"type\":\"free\",\"data\":{}}", 0, &res), EG_OK);
	event_at(st, res.last_pos, 0, data, sizeof data, &v);
	assert_int_equal(v, 0);
	assert_int_equal(eg_contract_set_require_all(st, 1), EG_OK);
	assert_int_equal(add_line(st, "{\"type\":\"free\",\"data\":{}}", 0, &res), EG_EINVAL);
	assert_non_null(strstr(eg_errmsg(st), "require-all"));
	assert_int_equal(eg_contract_set_require_all(st, 0), EG_OK);
	/* engram's own streams are not for input */
	assert_int_equal(add_line(st, "{\"stream\":\"$quarantine\",\"type\":\"x\"}", 0, &res), EG_EINVAL);
	/* the record says so: flag bit 4 and the ninth varint */
	const unsigned char *rec;
	size_t len;
	int64_t recorded;
	logpos at;
	assert_int_equal(eg_store_locate(st, 2, &rec, &len, &recorded, &at), EG_OK);
	assert_true(rec[9] & EVT_FLAG_SCHEMA);
	eg_store_close(st);
}

typedef struct qlist {
	int n, appended, failing;
	char ids[8][80];
} qlist;

static int on_q(void *ctx, const eg_quarantined *q)
{
	qlist *l = ctx;
	if (l->n < 8)
		snprintf(l->ids[l->n], sizeof l->ids[0], "%.*s", (int)q->id_len, q->id);
	l->n++;
	if (q->appended_pos)
		l->appended++;
	if (q->retry_error)
		l->failing++;
	return 0;
}

static void quarantine_and_retry_append_each_once(void **state)
{
	tu_fx *f = *state;
	eg_store *st = writer(f);
	eg_contract_report rep;
	add_ok(st, "o", V1, NULL, &rep);
	eg_batch *b;
	eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1, .quarantine = 1 };
	const char *lines[] = { "{\"id\":\"g\",\"type\":\"o\",\"data\":{\"id\":\"g\",\"total\":1}}",
				"{\"id\":\"q1\",\"type\":\"o\",\"data\":{\"id\":\"q1\",\"total\":-1}}",
				"{\"type\":\"o\",\"data\":{\"id\":\"q2\"}}" };
	assert_int_equal(eg_batch_begin(st, &b, &o), EG_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(eg_batch_add_json(b, lines[i], strlen(lines[i])), EG_OK);
	eg_append_result res;
	assert_int_equal(eg_batch_commit(b, &res), EG_OK);
	assert_int_equal(res.appended, 3);
	assert_int_equal(res.quarantined, 2);
	qlist l = { 0 };
	assert_int_equal(eg_quarantine_list(st, on_q, &l), EG_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.ids[0], "q1");
	assert_int_equal(l.appended, 0);
	/* still failing: nothing appended */
	uint64_t app, failing;
	memset(&l, 0, sizeof l);
	assert_int_equal(eg_quarantine_retry(st, EG_SYNC_NONE, on_q, &l, &app, &failing), EG_OK);
	assert_int_equal(app, 0);
	assert_int_equal(failing, 2);
	/* a looser version admits them both, once */
	const char *loose = "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},"
			    "\"total\":{\"type\":\"number\"}},\"required\":[\"id\"]}";
	add_ok(st, "o", loose, NULL, &rep);
	assert_int_equal(eg_quarantine_retry(st, EG_SYNC_NONE, NULL, NULL, &app, &failing), EG_OK);
	assert_int_equal(app, 2);
	assert_int_equal(failing, 0);
	assert_int_equal(eg_quarantine_retry(st, EG_SYNC_NONE, NULL, NULL, &app, &failing), EG_OK);
	assert_int_equal(app, 0);
	uint64_t pos;
	assert_int_equal(eg_store_find_id(st, "q1", 2, &pos), EG_OK);
	memset(&l, 0, sizeof l);
	assert_int_equal(eg_quarantine_list(st, on_q, &l), EG_OK);
	assert_int_equal(l.appended, 2);
	eg_store_close(st);
}

/* The upcast view equals renaming by hand (a plain recomputation), for
 * events of every version, while the stored bytes stay as written. */
static void iterator_upcasts_like_a_plain_rename(void **state)
{
	tu_fx *f = *state;
	eg_store *st = writer(f);
	eg_contract_report rep;
	uint64_t seed = 77;
	add_ok(st, "o", V1, NULL, &rep);
	char lines[40][128];
	const char *lp[40];
	for (int i = 0; i < 40; i++) {
		snprintf(lines[i], sizeof lines[i], "{\"type\":\"o\",\"data\":{\"id\":\"e%d\",\"total\":%llu}}",
			 i, (unsigned long long)(tu_rnd(&seed) % 1000));
		lp[i] = lines[i];
	}
	tu_append(st, lp, 20);
	add_ok(st, "o", V2, UP2, &rep);
	for (int i = 20; i < 40; i++) {
		/* written as v2 from the start */
		char *t = strstr(lines[i], "\"total\"");
		char rest[64];
		snprintf(rest, sizeof rest, "%s", t + 8);
		rest[strlen(rest) - 2] = 0;
		snprintf(t, sizeof lines[i] - (size_t)(t - lines[i]), "\"amount\":%s,\"currency\":\"USD\"}}",
			 rest);
	}
	tu_append(st, lp + 20, 20);
	eg_filter fl = { .types = (const char *[]){ "o" }, .ntypes = 1, .upcast = 1 };
	eg_iter *it;
	const eg_event *e;
	assert_int_equal(eg_iter_new(st, &it, &fl), EG_OK);
	int i = 0;
	while (eg_iter_next(it, &e) == EG_OK) {
		char want[160];
		const char *src = strstr(lines[i], "\"data\":") + 7;
		if (i < 20) {
			unsigned long long tot;
			int id;
			assert_int_equal(sscanf(src, "{\"id\":\"e%d\",\"total\":%llu}", &id, &tot), 2);
			snprintf(want, sizeof want, "{\"id\":\"e%d\",\"amount\":%llu,\"currency\":\"EUR\"}", id,
				 tot);
		} else {
			snprintf(want, sizeof want, "%.*s", (int)strlen(src) - 1, src);
		}
		assert_int_equal(e->data_len, strlen(want));
		assert_memory_equal(e->data, want, e->data_len);
		assert_int_equal(e->schema_version, 2);
		i++;
	}
	assert_int_equal(i, 40);
	eg_iter_free(it);
	/* as stored */
	char data[256];
	uint64_t v;
	event_at(st, 3, 0, data, sizeof data, &v);
	assert_non_null(strstr(data, "\"total\""));
	assert_int_equal(v, 1);
	event_at(st, 3, 1, data, sizeof data, &v);
	assert_null(strstr(data, "\"total\""));
	eg_store_close(st);
}

static void consumers_keep_their_schema_versions(void **state)
{
	tu_fx *f = *state;
	eg_store *st = writer(f);
	char *s = NULL;
	assert_int_equal(eg_consumer_set_schemas(st, "c1", 7, "{\"o\":[1,2]}"), EG_OK);
	uint64_t pos;
	assert_int_equal(eg_consumer_get(st, "c1", &pos), EG_OK);
	assert_int_equal(pos, 7);
	assert_int_equal(eg_consumer_schemas(st, "c1", &s), EG_OK);
	assert_string_equal(s, "{\"o\":[1,2]}");
	free(s);
	/* a plain checkpoint keeps none */
	assert_int_equal(eg_consumer_set(st, "c1", 8), EG_OK);
	assert_int_equal(eg_consumer_schemas(st, "c1", &s), EG_OK);
	assert_null(s);
	eg_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(registry_versions_are_events_of_schemas, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(incompatible_versions_and_failing_data_are_refused, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(transitive_modes_compare_every_earlier_version, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(append_validates_and_records_the_version, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(quarantine_and_retry_append_each_once, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(iterator_upcasts_like_a_plain_rename, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(consumers_keep_their_schema_versions, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
