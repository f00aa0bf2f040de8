/*
 * test_gen.c — the generators: same options give the same bytes, and the
 * events they write obey the rules of their world.  bank: accounts open
 * before anything else happens to them, nothing after a close, no
 * withdrawal overdraws.  orders: every order follows its life cycle, and
 * --late holds back the asked fraction of events without changing them;
 * --loads adds when each line was loaded, never decreasing; --customers
 * sets who orders; labels come in order and a sample is a subset.
 * clickstream: every line appends, sessions walk the shop's funnel with
 * carts that add up, late lines come from the apps and only move, resent
 * lines repeat byte for byte, and the three formats tell the same events.
 */
#include "testutil.h"
#include "engram.h"
#include "json.h"
#include "timefmt.h"

#include <errno.h>
#include <math.h>

typedef int (*gen_fn)(FILE *out, const eg_gen_opts *o);

/* Run a generator into memory; the caller frees *text. */
static size_t run_to_mem(gen_fn fn, const eg_gen_opts *o, char **text)
{
	size_t len = 0;
	FILE *f = open_memstream(text, &len);
	assert_non_null(f);
	assert_int_equal(fn(f, o), 0);
	assert_int_equal(fclose(f), 0);
	return len;
}

static size_t gen_to_mem(const eg_gen_opts *o, char **text)
{
	return run_to_mem(eg_gen_bank, o, text);
}

static size_t orders_to_mem(const eg_gen_opts *o, char **text)
{
	return run_to_mem(eg_gen_orders, o, text);
}

/* Cut text into NUL-terminated lines (each must end in a newline); the
 * caller frees the returned array, not the lines. */
static char **split_lines(char *t, size_t n, size_t *count)
{
	size_t cap = 1024, k = 0;
	char **v = malloc(cap * sizeof *v);
	assert_non_null(v);
	for (char *line = t; line < t + n;) {
		char *nl = memchr(line, '\n', (size_t)(t + n - line));
		assert_non_null(nl);
		*nl = '\0';
		if (k == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof *v);
			assert_non_null(v);
		}
		v[k++] = line;
		line = nl + 1;
	}
	*count = k;
	return v;
}

/* The value of "key":"..." in line, copied into out; 0 if absent. */
static int str_field(const char *line, const char *key, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	const char *p = strstr(line, pat);
	if (!p)
		return 0;
	p += strlen(pat);
	const char *q = strchr(p, '"');
	assert_non_null(q);
	assert_true((size_t)(q - p) < cap);
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 1;
}

/* "amount":123.45 in cents; asserts exactly two decimals. */
static int64_t amount_cents(const char *line)
{
	const char *p = strstr(line, "\"amount\":");
	assert_non_null(p);
	p += strlen("\"amount\":");
	int64_t v = 0;
	assert_true(*p >= '0' && *p <= '9');
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (*p++ - '0');
	assert_int_equal(*p, '.');
	assert_true(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9');
	assert_true(p[3] == ',' || p[3] == '}');
	return v * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* The event time of a line, in us. */
static int64_t time_of(const char *line)
{
	char v[64];
	int64_t us;
	assert_true(str_field(line, "time", v, sizeof v));
	assert_int_equal(strlen(v), EG_TIME_LEN);
	assert_int_equal(eg_time_parse_rfc3339(v, strlen(v), &us), 0);
	return us;
}

/* Braces balance outside strings, strings close, no control bytes. */
static void assert_json_shape(const char *line, size_t n)
{
	int depth = 0, in_str = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		assert_true(c >= 0x20);
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{') {
			depth++;
		} else if (c == '}') {
			depth--;
			assert_true(depth >= 0);
			assert_true(depth > 0 || i == n - 1);
		}
	}
	assert_false(in_str);
	assert_int_equal(depth, 0);
}

static void assert_uuid_v4(const char *line)
{
	char id[64];
	assert_true(str_field(line, "id", id, sizeof id));
	assert_int_equal(strlen(id), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(id[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", id[i]));
	}
	assert_int_equal(id[14], '4');
	assert_non_null(strchr("89ab", id[19]));
}

static void same_seed_gives_same_bytes(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 20000, .accounts = 100, .seed = 42 };
	char *a, *b;
	size_t na = gen_to_mem(&o, &a), nb = gen_to_mem(&o, &b);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	free(a);
	free(b);
}

static void different_seeds_give_different_events(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 1000, .seed = 1 };
	eg_gen_opts p = o;
	p.seed = 2;
	char *a, *b;
	size_t na = gen_to_mem(&o, &a), nb = gen_to_mem(&p, &b);
	assert_true(na != nb || memcmp(a, b, na) != 0);
	/* Not even the first id repeats. */
	assert_true(memcmp(a, b, 44) != 0);
	free(a);
	free(b);
}

static void writes_exactly_the_requested_number_of_lines(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 12345, .seed = 7 };
	char *t;
	size_t n = gen_to_mem(&o, &t);
	size_t lines = 0;
	for (size_t i = 0; i < n; i++)
		lines += t[i] == '\n';
	assert_int_equal(lines, 12345);
	assert_int_equal(t[n - 1], '\n');
	free(t);

	o.events = 0;
	assert_int_equal(gen_to_mem(&o, &t), 0);
	free(t);
}

static void every_line_is_an_envelope_object(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 20000, .accounts = 50, .seed = 3 };
	char *t;
	size_t n = gen_to_mem(&o, &t);
	char prev_time[64] = "";
	for (char *line = t; line < t + n;) {
		char *nl = memchr(line, '\n', (size_t)(t + n - line));
		assert_non_null(nl);
		*nl = '\0';
		size_t len = (size_t)(nl - line);
		assert_memory_equal(line, "{\"id\":\"", 7);
		assert_int_equal(line[len - 1], '}');
		assert_json_shape(line, len);
		assert_uuid_v4(line);
		char v[64];
		assert_true(str_field(line, "stream", v, sizeof v));
		assert_int_equal(strlen(v), strlen("account-000001"));
		assert_memory_equal(v, "account-", 8);
		assert_true(str_field(line, "type", v, sizeof v));
		assert_true(str_field(line, "actor", v, sizeof v));
		assert_true(strncmp(v, "customer:", 9) == 0 ||
			    strncmp(v, "teller:", 7) == 0 ||
			    strcmp(v, "system") == 0);
		assert_true(str_field(line, "owner", v, sizeof v));
		assert_non_null(strchr(v, ' '));
		assert_true(str_field(line, "channel", v, sizeof v));
		amount_cents(line);
		/* Same fixed-width format, so string order is time order. */
		assert_true(str_field(line, "time", v, sizeof v));
		assert_int_equal(strlen(v), 27);
		assert_true(strcmp(v, prev_time) > 0);
		strcpy(prev_time, v);
		line = nl + 1;
	}
	free(t);
}

/* Replays the events the way a ledger would and checks the rules.  Few
 * accounts and many events so that closes and replacements happen. */
static void accounts_follow_the_rules_of_a_bank(void **state)
{
	(void)state;
	enum { ACCOUNTS = 40, EVENTS = 300000, MAXNO = 1000 };
	eg_gen_opts o = { .events = EVENTS, .accounts = ACCOUNTS, .seed = 9 };
	char *t;
	size_t n = gen_to_mem(&o, &t);
	static int64_t bal[MAXNO];
	static char st[MAXNO]; /* 0 never seen, 1 open, 2 closed */
	int opened = 0, closed = 0, withdrawals = 0;
	for (char *line = t; line < t + n;) {
		char *nl = memchr(line, '\n', (size_t)(t + n - line));
		*nl = '\0';
		char stream[64], type[64];
		assert_true(str_field(line, "stream", stream, sizeof stream));
		assert_true(str_field(line, "type", type, sizeof type));
		long no = strtol(stream + strlen("account-"), NULL, 10);
		assert_true(no >= 1 && no < MAXNO);
		int64_t c = amount_cents(line);
		if (strcmp(type, "account_opened") == 0) {
			assert_int_equal(st[no], 0);
			char cur[8];
			assert_true(str_field(line, "currency", cur, sizeof cur));
			assert_true(strcmp(cur, "EUR") == 0 ||
				    strcmp(cur, "USD") == 0 ||
				    strcmp(cur, "GBP") == 0);
			char br[64];
			assert_true(str_field(line, "branch", br, sizeof br));
			st[no] = 1;
			bal[no] = c;
			opened++;
		} else {
			/* Nothing before the open, nothing after the close. */
			assert_int_equal(st[no], 1);
			if (strcmp(type, "deposit") == 0) {
				bal[no] += c;
			} else if (strcmp(type, "withdrawal") == 0 ||
				   strcmp(type, "fee") == 0) {
				bal[no] -= c;
				assert_true(bal[no] >= 0);
				withdrawals += type[0] == 'w';
			} else {
				assert_string_equal(type, "account_closed");
				assert_true(c == bal[no]); /* pays out */
				st[no] = 2;
				closed++;
			}
		}
		line = nl + 1;
	}
	assert_true(closed > 0);
	assert_true(opened > ACCOUNTS); /* closed accounts were replaced */
	assert_true(opened - closed <= ACCOUNTS);
	assert_true(withdrawals > EVENTS / 4);
	free(t);
}

static void lines_average_about_200_bytes(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 50000, .seed = 5 };
	char *t;
	size_t n = gen_to_mem(&o, &t);
	double avg = (double)n / 50000;
	assert_true(avg >= 150 && avg <= 250);
	free(t);
}

static void wide_account_counts_widen_stream_names(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 100, .accounts = 2000000, .seed = 1 };
	char *t;
	gen_to_mem(&o, &t);
	char v[64];
	assert_true(str_field(t, "stream", v, sizeof v));
	assert_int_equal(strlen(v), strlen("account-0000001"));
	free(t);
}

static void start_time_is_honoured(void **state)
{
	(void)state;
	/* 2030-06-01T00:00:00Z; the first event comes a gap later. */
	eg_gen_opts o = { .events = 1, .seed = 1, .start_us = 1906502400000000 };
	char *t;
	gen_to_mem(&o, &t);
	char v[64];
	assert_true(str_field(t, "time", v, sizeof v));
	assert_memory_equal(v, "2030-06-0", 9);
	free(t);
}

static void write_error_returns_minus_one_with_errno(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/full", "w");
	if (!f)
		skip();
	eg_gen_opts o = { .events = 10000, .seed = 1 };
	errno = 0;
	assert_int_equal(eg_gen_bank(f, &o), -1);
	assert_int_equal(errno, ENOSPC);
	fclose(f);
}

/* ---- orders ------------------------------------------------------------- */

#define HOUR_US (3600LL * 1000000)

static const char *const order_types[] = {
	"order_placed", "order_paid", "order_shipped", "order_delivered",
	"order_cancelled", "order_refunded",
};
enum { PLACED, PAID, SHIPPED, DELIVERED, CANCELLED, REFUNDED, NTYPES };

static int order_type(const char *line)
{
	char v[64];
	assert_true(str_field(line, "type", v, sizeof v));
	for (int i = 0; i < NTYPES; i++)
		if (!strcmp(v, order_types[i]))
			return i;
	fail_msg("unknown type %s", v);
	return -1;
}

/* Lines whose time is at least an hour before the latest time written
 * before them.  None is 12 hours behind or more: a held line is written as
 * soon as the clock passes its arrival. */
static size_t count_late(char **lines, size_t n)
{
	int64_t max = INT64_MIN;
	size_t late = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t t = time_of(lines[i]);
		assert_true(max == INT64_MIN || t > max - 12 * HOUR_US);
		late += max != INT64_MIN && t <= max - HOUR_US;
		if (t > max)
			max = t;
	}
	return late;
}

static void orders_same_seed_gives_same_bytes(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 20000, .seed = 42, .late = 0.05 };
	char *a, *b, *c;
	size_t na = orders_to_mem(&o, &a), nb = orders_to_mem(&o, &b);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	o.seed = 43;
	size_t nc = orders_to_mem(&o, &c);
	assert_true(nc != na || memcmp(a, c, na) != 0);
	assert_true(memcmp(a, c, 44) != 0); /* not even the first id */
	free(a);
	free(b);
	free(c);
}

/* A store can take bank and orders events of the same seed. */
static void orders_ids_differ_from_bank_ids(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 1, .seed = 0 };
	char *a, *b;
	gen_to_mem(&o, &a);
	orders_to_mem(&o, &b);
	char ia[64], ib[64];
	assert_true(str_field(a, "id", ia, sizeof ia));
	assert_true(str_field(b, "id", ib, sizeof ib));
	assert_string_not_equal(ia, ib);
	free(a);
	free(b);
}

static void orders_write_exactly_the_requested_number_of_lines(void **state)
{
	(void)state;
	const double lates[] = { 0, 0.05, 1 };
	for (int k = 0; k < 3; k++) {
		eg_gen_opts o = { .events = 12345, .seed = 7, .late = lates[k] };
		char *t;
		size_t n = orders_to_mem(&o, &t), lines = 0;
		for (size_t i = 0; i < n; i++)
			lines += t[i] == '\n';
		assert_int_equal(lines, 12345);
		assert_int_equal(t[n - 1], '\n');
		free(t);
		o.events = 0;
		assert_int_equal(orders_to_mem(&o, &t), 0);
		free(t);
	}
}

static void orders_every_line_is_an_envelope_object(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 20000, .seed = 3 };
	char *t;
	size_t n = orders_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	int64_t prev = INT64_MIN;
	for (size_t i = 0; i < count; i++) {
		const char *line = lines[i];
		size_t len = strlen(line);
		assert_memory_equal(line, "{\"id\":\"", 7);
		assert_json_shape(line, len);
		assert_uuid_v4(line);
		char v[64];
		assert_true(str_field(line, "stream", v, sizeof v));
		assert_int_equal(strlen(v), strlen("order-0000042"));
		assert_memory_equal(v, "order-", 6);
		int type = order_type(line);
		assert_true(str_field(line, "actor", v, sizeof v));
		assert_true(strncmp(v, "customer:", 9) == 0 ||
			    strncmp(v, "warehouse:", 10) == 0 ||
			    strncmp(v, "courier:", 8) == 0 ||
			    strncmp(v, "support:", 8) == 0 ||
			    strcmp(v, "system") == 0);
		assert_true(str_field(line, "customer", v, sizeof v));
		assert_int_equal(strlen(v), strlen("customer-01234"));
		assert_memory_equal(v, "customer-", 9);
		int money = type == PLACED || type == PAID || type == REFUNDED;
		if (money) {
			assert_true(amount_cents(line) > 0);
			assert_true(str_field(line, "currency", v, sizeof v));
			assert_true(strcmp(v, "EUR") == 0 || strcmp(v, "USD") == 0 ||
				    strcmp(v, "GBP") == 0);
		} else {
			assert_null(strstr(line, "\"amount\":"));
		}
		assert_int_equal(strstr(line, "\"items\":") != NULL, type == PLACED);
		assert_int_equal(str_field(line, "carrier", v, sizeof v),
				 type == SHIPPED || type == DELIVERED);
		assert_int_equal(str_field(line, "reason", v, sizeof v),
				 type == CANCELLED || type == REFUNDED);
		/* Without --late, lines come in event-time order. */
		int64_t tm = time_of(line);
		assert_true(tm >= prev);
		prev = tm;
	}
	assert_true(time_of(lines[0]) >= 1735689600LL * 1000000);
	free(lines);
	free(t);
}

static void late_fraction_of_events_comes_hours_late(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 20000, .seed = 11, .late = 0.05 };
	char *t;
	size_t n = orders_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	size_t late = count_late(lines, count);
	assert_in_range(late, 600, 1400); /* 3% .. 7% */
	free(lines);
	free(t);

	o.late = 0;
	n = orders_to_mem(&o, &t);
	lines = split_lines(t, n, &count);
	assert_int_equal(count_late(lines, count), 0);
	free(lines);
	free(t);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Outputs a and b (freed here) hold the same lines in another order. */
static void assert_reordered(char *a, size_t na, char *b, size_t nb)
{
	size_t ca, cb;
	assert_int_equal(na, nb);
	assert_true(memcmp(a, b, na) != 0);
	char **la = split_lines(a, na, &ca), **lb = split_lines(b, nb, &cb);
	assert_int_equal(ca, cb);
	qsort(la, ca, sizeof *la, cmp_str);
	qsort(lb, cb, sizeof *lb, cmp_str);
	for (size_t i = 0; i < ca; i++)
		assert_string_equal(la[i], lb[i]);
	free(la);
	free(lb);
	free(a);
	free(b);
}

/* --late changes when lines are written, not what they say. */
static void late_only_reorders_the_same_lines(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 20000, .seed = 5 };
	eg_gen_opts p = o;
	p.late = 0.2;
	char *a, *b;
	size_t na = orders_to_mem(&o, &a), nb = orders_to_mem(&p, &b);
	assert_reordered(a, na, b, nb);
}

/* The time of field key ("time" or "recorded") of an orders line. */
static int64_t line_time(const char *line, const char *key)
{
	char pat[32];
	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	const char *p = strstr(line, pat);
	assert_non_null(p);
	p += strlen(pat);
	const char *q = strchr(p, '"');
	assert_non_null(q);
	int64_t t;
	assert_int_equal(eg_time_parse_rfc3339(p, (size_t)(q - p), &t), 0);
	return t;
}

/* --loads: each line is the line it was, with "recorded" last: the end of
 * the load after its arrival, never decreasing; late ones an hour on. */
static void orders_loads_add_the_end_of_the_load_as_recorded(void **state)
{
	(void)state;
	const int64_t every = 600 * 1000000LL, hour = 3600 * 1000000LL;
	eg_gen_opts o = { .events = 20000, .seed = 11, .late = 0.05 };
	eg_gen_opts p = o;
	p.loads_us = every;
	char *a, *b;
	size_t na = orders_to_mem(&o, &a), nb = orders_to_mem(&p, &b), ca, cb;
	char **la = split_lines(a, na, &ca), **lb = split_lines(b, nb, &cb);
	assert_int_equal(ca, cb);
	int64_t prev = INT64_MIN;
	size_t late = 0;
	for (size_t i = 0; i < ca; i++) {
		size_t n = strlen(la[i]);
		/* the same line up to its closing brace, then the field */
		assert_memory_equal(la[i], lb[i], n - 1);
		assert_true(!strncmp(lb[i] + n - 1, ",\"recorded\":\"", 13));
		assert_string_equal(lb[i] + strlen(lb[i]) - 2, "\"}");
		int64_t t = line_time(lb[i], "time"), rec = line_time(lb[i], "recorded");
		assert_int_equal(rec % every, 0);
		assert_true(rec >= prev);
		assert_true(rec >= t);
		if (rec - t >= hour)
			late++;
		else
			assert_true(rec - t < every);
		prev = rec;
	}
	assert_in_range(late, 600, 1400);   /* the late lines, about 5% */
	free(la);
	free(lb);
	free(a);
	free(b);
}

static void orders_customers_sets_how_many_customers_order(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 3000, .seed = 2, .customers = 12 };
	char *t;
	size_t n = orders_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	int seen[13] = { 0 };
	for (size_t i = 0; i < count; i++) {
		const char *c = strstr(lines[i], "\"customer\":\"customer-");
		assert_non_null(c);
		int k = atoi(c + 21);
		assert_in_range(k, 1, 12);
		assert_int_equal(c[21 + 5], '"');   /* five digits */
		seen[k] = 1;
	}
	for (int k = 1; k <= 12; k++)
		assert_true(seen[k]);
	free(lines);
	free(t);
	o.customers = EG_GEN_MAX_CUSTOMERS + 1;
	FILE *f = fopen("/dev/null", "w");
	errno = 0;
	assert_int_equal(eg_gen_orders(f, &o), -1);
	assert_int_equal(errno, EINVAL);
	fclose(f);
}

/* Run gen labels into memory; the caller frees *text. */
static size_t labels_to_mem(const eg_gen_opts *o, const eg_gen_labels_opts *l, char **text)
{
	size_t len = 0;
	FILE *f = open_memstream(text, &len);
	assert_non_null(f);
	assert_int_equal(eg_gen_labels(f, o, l), 0);
	assert_int_equal(fclose(f), 0);
	return len;
}

/* Rows by label_time then customer; a sample is a subset of about the
 * asked size, the same each time. */
static void labels_are_ordered_and_a_sample_is_a_subset(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 300000, .seed = 4, .customers = 2000 };
	eg_gen_labels_opts l = { .every_us = 7 * 86400 * 1000000LL };
	char *a, *b, *c;
	size_t na = labels_to_mem(&o, &l, &a), ca;
	l.sample = 0.3;
	size_t nb = labels_to_mem(&o, &l, &b), nc = labels_to_mem(&o, &l, &c), cb;
	assert_int_equal(nb, nc);
	assert_memory_equal(b, c, nb);
	free(c);
	char **ra = split_lines(a, na, &ca), **rb = split_lines(b, nb, &cb);
	assert_string_equal(ra[0], "customer,label_time,reordered_30d");
	assert_string_equal(rb[0], ra[0]);
	assert_true(ca > 2000);
	size_t j = 1, ones = 0;
	for (size_t i = 1; i < ca; i++) {
		if (i > 1) {   /* fixed widths: the time, then the customer */
			int ct = strncmp(ra[i - 1] + 15, ra[i] + 15, 27);
			assert_true(ct < 0 || (ct == 0 && strncmp(ra[i - 1], ra[i], 14) < 0));
		}
		ones += ra[i][strlen(ra[i]) - 1] == '1';
		if (j < cb && !strcmp(rb[j], ra[i]))
			j++;
	}
	assert_int_equal(j, cb);   /* every sampled row, in the same order */
	assert_true(ones > 0 && ones < ca - 1);
	double frac = (double)(cb - 1) / (double)(ca - 1);
	assert_true(frac > 0.25 && frac < 0.35);
	free(ra);
	free(rb);
	free(a);
	free(b);
	FILE *f = fopen("/dev/null", "w");
	l.every_us = 0;
	errno = 0;
	assert_int_equal(eg_gen_labels(f, &o, &l), -1);
	assert_int_equal(errno, EINVAL);
	fclose(f);
}

typedef struct oev {
	uint64_t order;
	int64_t time, cents;
	int type;
} oev;

static int cmp_oev(const void *a, const void *b)
{
	const oev *x = a, *y = b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return (x->time > y->time) - (x->time < y->time);
}

/* Sorted by order and event time, each order's events are a path through
 * placed -> paid -> shipped -> delivered [-> refunded], cut short by a
 * cancel before shipping, or by the end of the output. */
static void orders_follow_their_life_cycle(void **state)
{
	(void)state;
	enum { EVENTS = 100000 };
	static const unsigned char allowed[NTYPES] = {
		[PLACED] = 1 << PAID | 1 << CANCELLED,
		[PAID] = 1 << SHIPPED | 1 << CANCELLED,
		[SHIPPED] = 1 << DELIVERED,
		[DELIVERED] = 1 << REFUNDED,
	};
	eg_gen_opts o = { .events = EVENTS, .seed = 9, .late = 0.1 };
	char *t;
	size_t n = orders_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	oev *ev = calloc(count, sizeof *ev);
	assert_non_null(ev);
	for (size_t i = 0; i < count; i++) {
		char v[64];
		assert_true(str_field(lines[i], "stream", v, sizeof v));
		ev[i].order = strtoull(v + 6, NULL, 10);
		ev[i].time = time_of(lines[i]);
		ev[i].type = order_type(lines[i]);
		if (ev[i].type == PLACED || ev[i].type == PAID || ev[i].type == REFUNDED)
			ev[i].cents = amount_cents(lines[i]);
	}
	qsort(ev, count, sizeof *ev, cmp_oev);
	size_t seen[NTYPES] = { 0 }, paid_cancels = 0, orders = 0;
	int64_t placed_cents = 0;
	for (size_t i = 0; i < count; i++) {
		seen[ev[i].type]++;
		if (i == 0 || ev[i].order != ev[i - 1].order) {
			assert_int_equal(ev[i].type, PLACED);
			assert_int_equal(ev[i].order, ++orders); /* numbered in order */
			placed_cents = ev[i].cents;
			continue;
		}
		int prev = ev[i - 1].type;
		assert_true(ev[i].time > ev[i - 1].time);
		assert_true(allowed[prev] & 1 << ev[i].type);
		paid_cancels += prev == PAID && ev[i].type == CANCELLED;
		if (ev[i].type == PAID)
			assert_true(ev[i].cents == placed_cents);
		if (ev[i].type == REFUNDED)
			assert_true(ev[i].cents <= placed_cents);
	}
	/* Every path occurs, with the drop-offs at their rough rates. */
	for (int k = 0; k < NTYPES; k++)
		assert_true(seen[k] > 0);
	assert_true(paid_cancels > 0 && paid_cancels < seen[CANCELLED]);
	assert_in_range(seen[PAID] * 100 / seen[PLACED], 80, 95);
	assert_in_range(seen[REFUNDED] * 1000 / seen[DELIVERED], 30, 100);
	free(ev);
	free(lines);
	free(t);
}

/* Orders are interleaved: sweeping through event time, count the orders
 * between their first and last event. */
static void many_orders_are_in_flight_at_once(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 50000, .seed = 2 };
	char *t;
	size_t n = orders_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	/* Without --late the lines are in time order: an order opens at its
	 * first line and closes at its last. */
	size_t *last = calloc(count + 1, sizeof *last);
	uint64_t *order = calloc(count, sizeof *order);
	assert_non_null(last);
	assert_non_null(order);
	for (size_t i = 0; i < count; i++) {
		char v[64];
		assert_true(str_field(lines[i], "stream", v, sizeof v));
		order[i] = strtoull(v + 6, NULL, 10);
		assert_true(order[i] <= count);
		last[order[i]] = i;
	}
	size_t open = 0, max_open = 0;
	for (size_t i = 0; i < count; i++) {
		open += order_type(lines[i]) == PLACED;
		if (open > max_open)
			max_open = open;
		open -= last[order[i]] == i;
	}
	assert_true(max_open > 1000);
	free(last);
	free(order);
	free(lines);
	free(t);
}

static void orders_arrive_with_a_daily_rhythm(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 50000, .seed = 4 };
	char *t;
	size_t n = orders_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	size_t by_hour[24] = { 0 };
	for (size_t i = 0; i < count; i++)
		if (order_type(lines[i]) == PLACED)
			by_hour[time_of(lines[i]) / HOUR_US % 24]++;
	/* Evenings are busy, small hours quiet. */
	assert_true(by_hour[20] > 4 * by_hour[3]);
	free(lines);
	free(t);
}

static void orders_start_time_is_honoured(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 1, .seed = 1, .start_us = 1906502400000000 };
	char *t;
	orders_to_mem(&o, &t);
	char v[64];
	assert_true(str_field(t, "time", v, sizeof v));
	assert_memory_equal(v, "2030-06-0", 9);
	free(t);
}

static void orders_reject_a_late_fraction_outside_0_to_1(void **state)
{
	(void)state;
	const double bad[] = { -0.01, 1.01, NAN };
	for (int i = 0; i < 3; i++) {
		eg_gen_opts o = { .events = 10, .late = bad[i] };
		errno = 0;
		assert_int_equal(eg_gen_orders(stdout, &o), -1);
		assert_int_equal(errno, EINVAL);
	}
}

static void orders_write_error_returns_minus_one_with_errno(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/full", "w");
	if (!f)
		skip();
	eg_gen_opts o = { .events = 10000, .seed = 1, .late = 0.5 };
	errno = 0;
	assert_int_equal(eg_gen_orders(f, &o), -1);
	assert_int_equal(errno, ENOSPC);
	fclose(f);
}

/* ---- clickstream ---------------------------------------------------------- */

#define SHOP "https://shop.example.com"
#define MIN_US (60LL * 1000000)

static size_t click_to_mem(const eg_gen_opts *o, char **text)
{
	return run_to_mem(eg_gen_clickstream, o, text);
}

/* The value at a dotted path ("context.device.type") of a JSON object
 * line, which must be valid JSON; 0 if absent. */
static int jpath(const char *line, const char *path, json_span *v)
{
	json_span cur = { line, strlen(line), JSON_OBJECT };
	assert_int_equal(eg_json_validate(line, cur.n, NULL), 0);
	for (const char *p = path;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (cur.type != JSON_OBJECT || !eg_json_member(&cur, p, n, &cur))
			return 0;
		if (!dot)
			break;
		p = dot + 1;
	}
	*v = cur;
	return 1;
}

/* A string at path copied into out (the generators write no escapes);
 * 0 if absent, fails the test if not a string. */
static int jstr(const char *line, const char *path, char *out, size_t cap)
{
	json_span v;
	if (!jpath(line, path, &v))
		return 0;
	if (v.type != JSON_STRING)
		fail_msg("%s is not a string in %s", path, line);
	assert_true(eg_json_string_is_plain(&v));
	assert_true(v.n - 2 < cap);
	memcpy(out, v.p + 1, v.n - 2);
	out[v.n - 2] = '\0';
	return 1;
}

static void need_str(const char *line, const char *path, char *out, size_t cap)
{
	if (!jstr(line, path, out, cap))
		fail_msg("no string %s in %s", path, line);
}

/* A non-negative integer at path. */
static int64_t jint(const char *line, const char *path)
{
	json_span v;
	if (!jpath(line, path, &v) || v.type != JSON_NUMBER)
		fail_msg("no number %s in %s", path, line);
	int64_t x = 0;
	for (size_t i = 0; i < v.n; i++) {
		assert_true(v.p[i] >= '0' && v.p[i] <= '9');
		x = x * 10 + (v.p[i] - '0');
	}
	return x;
}

/* An amount at path with exactly two decimals, in cents. */
static int64_t jcents(const char *line, const char *path)
{
	json_span v;
	if (!jpath(line, path, &v) || v.type != JSON_NUMBER)
		fail_msg("no amount %s in %s", path, line);
	assert_true(v.n >= 4 && v.p[v.n - 3] == '.');
	int64_t x = 0;
	for (size_t i = 0; i < v.n; i++)
		if (i != v.n - 3) {
			assert_true(v.p[i] >= '0' && v.p[i] <= '9');
			x = x * 10 + (v.p[i] - '0');
		}
	return x;
}

static int64_t jtime(const char *line, const char *path)
{
	char v[64];
	int64_t us;
	need_str(line, path, v, sizeof v);
	assert_int_equal(eg_time_parse_rfc3339(v, strlen(v), &us), 0);
	return us;
}

static const char *const click_types[] = {
	"page_view", "screen_view", "search", "product_click", "add_to_cart",
	"checkout", "purchase", "login",
};
enum { C_PAGE, C_SCREEN, C_SEARCH, C_CLICK, C_ADD, C_CHECKOUT, C_PURCHASE, C_LOGIN, C_NTYPES };

static int click_type(const char *line)
{
	char v[64];
	need_str(line, "type", v, sizeof v);
	for (int i = 0; i < C_NTYPES; i++)
		if (!strcmp(v, click_types[i]))
			return i;
	fail_msg("unknown type %s", v);
	return -1;
}

static int is_view(int type)
{
	return type == C_PAGE || type == C_SCREEN;
}

/* One line of a session: lines sorted by session, then by place. */
typedef struct srow {
	char session[40];
	size_t i;
} srow;

static int cmp_srow(const void *a, const void *b)
{
	const srow *x = a, *y = b;
	int c = strcmp(x->session, y->session);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

static srow *by_session(char **lines, size_t count)
{
	srow *r = calloc(count ? count : 1, sizeof *r);
	assert_non_null(r);
	for (size_t i = 0; i < count; i++) {
		need_str(lines[i], "session", r[i].session, sizeof r[i].session);
		r[i].i = i;
	}
	qsort(r, count, sizeof *r, cmp_srow);
	return r;
}

/* The end of the session that starts at row a. */
static size_t session_end(const srow *r, size_t count, size_t a)
{
	size_t b = a;
	while (b < count && !strcmp(r[b].session, r[a].session))
		b++;
	return b;
}

static void click_same_args_give_same_bytes(void **state)
{
	(void)state;
	for (int f = EG_GEN_ENGRAM; f <= EG_GEN_SNOWPLOW; f++) {
		eg_gen_opts o = { .events = 20000, .seed = 42, .late = 0.1, .dup = 0.05, .format = f };
		char *a, *b, *c;
		size_t na = click_to_mem(&o, &a), nb = click_to_mem(&o, &b);
		assert_true(na > 0);
		assert_int_equal(na, nb);
		assert_memory_equal(a, b, na);
		o.seed = 43;
		size_t nc = click_to_mem(&o, &c);
		assert_true(nc != na || memcmp(a, c, na) != 0);
		free(a);
		free(b);
		free(c);
	}
}

static size_t count_newlines(const char *t, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += t[i] == '\n';
	return k;
}

static void click_writes_the_requested_number_of_events(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 12345, .seed = 7, .late = 0.2 };
	char *t;
	size_t n = click_to_mem(&o, &t);
	assert_int_equal(count_newlines(t, n), 12345);
	assert_int_equal(t[n - 1], '\n');
	free(t);
	/* Resent lines come on top of the events. */
	o.dup = 0.1;
	n = click_to_mem(&o, &t);
	size_t lines = count_newlines(t, n);
	assert_in_range(lines, 12345 + 1000, 12345 + 1500);
	free(t);
	o.events = 0;
	assert_int_equal(click_to_mem(&o, &t), 0);
	free(t);
}

/* The fields of data every event type has. */
static void assert_click_data(const char *line, int type)
{
	char v[256];
	need_str(line, "data.page_url", v, sizeof v);
	assert_memory_equal(v, SHOP "/", strlen(SHOP "/"));
	need_str(line, "data.referrer", v, sizeof v);
	need_str(line, "data.device", v, sizeof v);
	int web = !strcmp(v, "web");
	assert_true(web || !strcmp(v, "ios") || !strcmp(v, "android"));
	/* The apps have screens, the web site pages. */
	if (is_view(type))
		assert_int_equal(type == C_PAGE, web);
	switch (type) {
	case C_SCREEN:
		need_str(line, "data.screen", v, sizeof v);
		/* fall through */
	case C_PAGE:
		assert_true(jint(line, "data.duration_ms") >= 1000);
		break;
	case C_SEARCH:
		need_str(line, "data.query", v, sizeof v);
		assert_true(jint(line, "data.results") > 0);
		break;
	case C_CLICK:
		need_str(line, "data.product_id", v, sizeof v);
		need_str(line, "data.category", v, sizeof v);
		need_str(line, "data.list", v, sizeof v);
		assert_true(jint(line, "data.position") >= 1);
		break;
	case C_ADD:
		need_str(line, "data.product_id", v, sizeof v);
		assert_true(jcents(line, "data.price") > 0);
		assert_true(jint(line, "data.quantity") >= 1);
		break;
	case C_CHECKOUT:
		assert_true(jint(line, "data.items") >= 1);
		assert_true(jcents(line, "data.value") > 0);
		break;
	case C_PURCHASE:
		need_str(line, "data.order_id", v, sizeof v);
		assert_true(jcents(line, "data.revenue") > 0);
		jcents(line, "data.shipping");
		break;
	case C_LOGIN:
		need_str(line, "data.method", v, sizeof v);
		break;
	}
	if (type == C_ADD || type == C_CHECKOUT || type == C_PURCHASE) {
		need_str(line, "data.currency", v, sizeof v);
		assert_true(!strcmp(v, "EUR") || !strcmp(v, "USD") || !strcmp(v, "GBP"));
	}
}

/* Every line is an envelope that eg_batch_add_json takes; a resent line
 * is a duplicate and only that. */
static void click_lines_are_envelopes_that_append(void **state)
{
	tu_fx *fx = *state;
	enum { EVENTS = 20000 };
	eg_gen_opts o = { .events = EVENTS, .seed = 3, .late = 0.1, .dup = 0.05 };
	char *t;
	size_t n = click_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	eg_store *st = tu_open(fx->dir, EG_OPEN_WRITE | EG_OPEN_CREATE, 0);
	eg_batch *b = NULL;
	assert_int_equal(eg_batch_begin(st, &b, &(eg_batch_opts){ .expect_version = -1 }), EG_OK);
	size_t dups = 0, seen[C_NTYPES] = { 0 };
	for (size_t i = 0; i < count; i++) {
		const char *line = lines[i];
		assert_memory_equal(line, "{\"id\":\"", 7);
		assert_json_shape(line, strlen(line));
		assert_uuid_v4(line);
		char v[64];
		need_str(line, "stream", v, sizeof v);
		assert_int_equal(strlen(v), strlen("user-000123"));
		assert_memory_equal(v, "user-", 5);
		int type = click_type(line);
		seen[type]++;
		need_str(line, "session", v, sizeof v);
		assert_int_equal(strlen(v), 36);
		time_of(line);
		assert_click_data(line, type);
		int rc = eg_batch_add_json(b, line, strlen(line));
		if (rc != EG_OK && rc != EG_EDUP)
			fail_msg("line %zu refused: %s: %s", i + 1, eg_strerror(rc), eg_errmsg(st));
		dups += rc == EG_EDUP;
	}
	eg_append_result r;
	assert_int_equal(eg_batch_commit(b, &r), EG_OK);
	assert_int_equal(r.appended, EVENTS);
	assert_int_equal(dups, count - EVENTS);
	for (int k = 0; k < C_NTYPES; k++)
		assert_true(seen[k] > 0);
	eg_store_close(st);
	free(lines);
	free(t);
}

/* Lines at least a minute behind a line written before them. */
static size_t click_count_late(char **lines, size_t n, int64_t *most)
{
	int64_t top = INT64_MIN;
	size_t late = 0;
	*most = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t t = time_of(lines[i]);
		if (top != INT64_MIN && t <= top - MIN_US) {
			char dev[16];
			need_str(lines[i], "data.device", dev, sizeof dev);
			assert_string_not_equal(dev, "web"); /* browsers never queue */
			late++;
			if (top - t > *most)
				*most = top - t;
		}
		if (t > top)
			top = t;
	}
	return late;
}

static void click_late_events_come_from_the_apps_minutes_to_hours_late(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 50000, .seed = 11, .late = 0.1, .days = 2 };
	char *t;
	size_t n = click_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	int64_t most;
	size_t late = click_count_late(lines, count, &most);
	assert_in_range(late, 4000, 6000); /* 8% .. 12% */
	assert_true(most > HOUR_US);
	assert_true(most <= 6 * HOUR_US + MIN_US);
	free(lines);
	free(t);

	/* More than the apps' share of events cannot be late. */
	o.late = 1;
	n = click_to_mem(&o, &t);
	lines = split_lines(t, n, &count);
	late = click_count_late(lines, count, &most);
	assert_in_range(late, 20000, 30000);
	free(lines);
	free(t);

	/* Without --late, lines come in event-time order. */
	o.late = 0;
	n = click_to_mem(&o, &t);
	lines = split_lines(t, n, &count);
	for (size_t i = 1; i < count; i++)
		assert_true(time_of(lines[i]) >= time_of(lines[i - 1]));
	free(lines);
	free(t);
}

/* --late changes when lines are written, not what they say. */
static void click_late_only_reorders_the_same_lines(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 20000, .seed = 5 };
	eg_gen_opts p = o;
	p.late = 0.3;
	char *a, *b;
	size_t na = click_to_mem(&o, &a), nb = click_to_mem(&p, &b);
	assert_reordered(a, na, b, nb);
}

typedef struct idrow {
	char id[40];
	size_t i;
} idrow;

static int cmp_idrow(const void *a, const void *b)
{
	const idrow *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Resent lines: the same bytes again, a few seconds (of the clock) after
 * the first, about the asked fraction of the events. */
static void click_duplicates_repeat_a_line_seconds_later(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 40000, .seed = 6, .dup = 0.05 };
	char *t;
	size_t n = click_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	idrow *ids = calloc(count, sizeof *ids);
	assert_non_null(ids);
	for (size_t i = 0; i < count; i++) {
		need_str(lines[i], "id", ids[i].id, sizeof ids[i].id);
		ids[i].i = i;
	}
	qsort(ids, count, sizeof *ids, cmp_idrow);
	size_t repeats = 0;
	for (size_t k = 1; k < count; k++) {
		if (strcmp(ids[k].id, ids[k - 1].id))
			continue;
		assert_true(k < 2 || strcmp(ids[k].id, ids[k - 2].id)); /* sent twice at most */
		repeats++;
		size_t first = ids[k - 1].i, again = ids[k].i;
		assert_string_equal(lines[first], lines[again]);
		/* Nothing written in between happened a minute after it. */
		int64_t t0 = time_of(lines[first]);
		for (size_t j = first + 1; j < again; j++)
			assert_true(time_of(lines[j]) <= t0 + MIN_US);
	}
	assert_int_equal(repeats, count - 40000);
	assert_in_range(repeats, 1600, 2400); /* 4% .. 6% */
	free(ids);
	free(lines);
	free(t);
}

/* Per session, in time order: a home page view, then a search, a product
 * page view, add_to_cart, checkout, purchase.  Fewer sessions reach each
 * step, none gets everyone through, and a few percent buy. */
static void click_sessions_walk_a_funnel_with_drop_offs(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 100000, .seed = 8 };
	char *t;
	size_t n = click_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	srow *r = by_session(lines, count);
	size_t funnel[6] = { 0 }, sessions = 0, purchases = 0;
	for (size_t a = 0, b; a < count; a = b) {
		b = session_end(r, count, a);
		sessions++;
		char url[256] = "", stream[32] = "", v[256];
		int step = 0;
		int64_t prev = INT64_MIN;
		for (size_t k = a; k < b; k++) {
			const char *line = lines[r[k].i];
			int type = click_type(line);
			int64_t tm = time_of(line);
			assert_true(tm > prev); /* a session's events follow each other */
			prev = tm;
			need_str(line, "stream", v, sizeof v);
			if (k == a)
				strcpy(stream, v);
			assert_string_equal(v, stream); /* one visitor */
			need_str(line, "data.page_url", v, sizeof v);
			if (is_view(type)) {
				char ref[256];
				need_str(line, "data.referrer", ref, sizeof ref);
				if (k > a) /* came from the page before */
					assert_string_equal(ref, url);
				strcpy(url, v);
			} else {
				assert_true(k > a);
				assert_string_equal(v, url); /* acts on the page it views */
			}
			purchases += type == C_PURCHASE;
			int hit = step == 0 ? is_view(type) && !strcmp(v, SHOP "/")
				: step == 1 ? type == C_SEARCH
				: step == 2 ? is_view(type) && strstr(v, "/product/") != NULL
				: step == 3 ? type == C_ADD
				: step == 4 ? type == C_CHECKOUT
				: step == 5 ? type == C_PURCHASE : 0;
			step += hit;
		}
		for (int i = 0; i < step; i++)
			funnel[i]++;
	}
	for (int i = 1; i < 6; i++) {
		assert_true(funnel[i] < funnel[i - 1]);
		assert_in_range(funnel[i] * 100 / funnel[i - 1], 15, 90);
	}
	assert_in_range(purchases * 1000 / sessions, 10, 60); /* 1% .. 6% */
	assert_in_range(count / sessions, 2, 10);
	free(r);
	free(lines);
	free(t);
}

/* Within a session, a checkout is worth what was added to the cart since
 * the last purchase, a purchase that plus shipping (4.99 below 50.00), and
 * a product always has the same price. */
static void click_carts_add_up(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 100000, .seed = 10 };
	char *t;
	size_t n = click_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	srow *r = by_session(lines, count);
	static int64_t price[100000];
	size_t checkouts = 0, purchases = 0, shipped = 0;
	for (size_t a = 0, b; a < count; a = b) {
		b = session_end(r, count, a);
		int64_t cart = 0, items = 0;
		char cur[8] = "";
		for (size_t k = a; k < b; k++) {
			const char *line = lines[r[k].i];
			int type = click_type(line);
			char v[64];
			if (type == C_ADD || type == C_CHECKOUT || type == C_PURCHASE) {
				need_str(line, "data.currency", v, sizeof v);
				if (!*cur)
					strcpy(cur, v);
				assert_string_equal(v, cur);
			}
			if (type == C_ADD) {
				need_str(line, "data.product_id", v, sizeof v);
				long id = strtol(v, NULL, 10);
				assert_in_range(id, 1001, 99999);
				int64_t p = jcents(line, "data.price");
				if (!price[id])
					price[id] = p;
				assert_true(price[id] == p);
				int64_t q = jint(line, "data.quantity");
				cart += p * q;
				items += q;
			} else if (type == C_CHECKOUT) {
				assert_true(jcents(line, "data.value") == cart);
				assert_true(jint(line, "data.items") == items);
				checkouts++;
			} else if (type == C_PURCHASE) {
				int64_t ship = jcents(line, "data.shipping");
				assert_true(ship == (cart < 5000 ? 499 : 0));
				assert_true(jcents(line, "data.revenue") == cart + ship);
				assert_true(jint(line, "data.items") == items);
				shipped += ship > 0;
				purchases++;
				cart = items = 0;
			}
		}
	}
	assert_true(purchases > 100 && purchases < checkouts);
	assert_true(shipped > 0 && shipped < purchases);
	free(r);
	free(lines);
	free(t);
}

static void click_traffic_has_a_daily_rhythm_over_the_asked_days(void **state)
{
	(void)state;
	/* 2030-06-01T00:00:00Z */
	const int64_t start = 1906502400000000;
	eg_gen_opts o = { .events = 100000, .seed = 4, .days = 3, .start_us = start };
	char *t;
	size_t n = click_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	size_t by_hour[24] = { 0 };
	int64_t last = INT64_MIN;
	for (size_t i = 0; i < count; i++) {
		int64_t tm = time_of(lines[i]);
		assert_true(tm >= start);
		by_hour[tm / HOUR_US % 24]++;
		if (tm > last)
			last = tm;
	}
	assert_in_range((last - start) / HOUR_US, 60, 84); /* about 3 days */
	/* Evenings are busy, small hours quiet. */
	assert_true(by_hour[20] > 4 * by_hour[4]);
	free(lines);
	free(t);
}

/* Each visitor keeps one device; the mix is about half web. */
static void click_users_keep_their_device(void **state)
{
	(void)state;
	enum { USERS = 500 };
	eg_gen_opts o = { .events = 50000, .seed = 12, .users = USERS };
	char *t;
	size_t n = click_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	static char dev[USERS + 1];
	size_t web = 0, users = 0;
	for (size_t i = 0; i < count; i++) {
		char v[32], d[16];
		need_str(lines[i], "stream", v, sizeof v);
		assert_int_equal(strlen(v), strlen("user-000123"));
		long u = strtol(v + 5, NULL, 10);
		assert_in_range(u, 1, USERS);
		need_str(lines[i], "data.device", d, sizeof d);
		if (!dev[u]) {
			dev[u] = d[0];
			users++;
			web += d[0] == 'w';
		}
		assert_int_equal(dev[u], d[0]);
	}
	assert_true(users > USERS * 9 / 10);
	assert_in_range(web * 100 / users, 35, 65);
	free(lines);
	free(t);
}

/* A few hundred pages, so that counts by page and hour mean something. */
static void click_page_urls_are_a_few_hundred(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 100000, .seed = 13 };
	char *t;
	size_t n = click_to_mem(&o, &t), count;
	char **lines = split_lines(t, n, &count);
	char **urls = malloc(count * sizeof *urls);
	assert_non_null(urls);
	for (size_t i = 0; i < count; i++) {
		json_span v;
		assert_true(jpath(lines[i], "data.page_url", &v));
		urls[i] = (char *)v.p;
		urls[i][v.n - 1] = '\0'; /* cut at the closing quote */
		urls[i]++;
	}
	qsort(urls, count, sizeof *urls, cmp_str);
	size_t distinct = 1;
	for (size_t i = 1; i < count; i++)
		distinct += strcmp(urls[i], urls[i - 1]) != 0;
	assert_in_range(distinct, 100, 600);
	free(urls);
	free(lines);
	free(t);
}

/* The fields Segment requires of each kind of message, and what must
 * agree with the engram line of the same event. */
static void assert_segment_line(const char *s, const char *e)
{
	char v[256], id[64], want[64];
	json_span x;
	need_str(s, "messageId", v, sizeof v);
	need_str(e, "id", id, sizeof id);
	assert_string_equal(v, id);
	need_str(s, "anonymousId", v, sizeof v);
	assert_int_equal(strlen(v), 36);
	need_str(s, "type", v, sizeof v);
	int type = click_type(e);
	static const char *const seg_type[C_NTYPES] = {
		"page", "screen", "track", "track", "track", "track", "track", "identify",
	};
	assert_string_equal(v, seg_type[type]);
	if (type == C_PAGE || type == C_SCREEN)
		need_str(s, "name", v, sizeof v);
	else if (type == C_LOGIN)
		assert_true(jpath(s, "traits", &x) && x.type == JSON_OBJECT);
	else
		need_str(s, "event", v, sizeof v);
	if (type != C_LOGIN)
		assert_true(jpath(s, "properties", &x) && x.type == JSON_OBJECT);
	/* userId only once logged in, and then the stream */
	if (jstr(s, "userId", v, sizeof v)) {
		need_str(e, "stream", want, sizeof want);
		assert_string_equal(v, want);
	}
	assert_true(jtime(s, "timestamp") == time_of(e) / 1000 * 1000);
	assert_true(jtime(s, "sentAt") >= jtime(s, "timestamp"));
	need_str(s, "context.device.type", v, sizeof v);
	need_str(e, "data.device", want, sizeof want);
	assert_string_equal(v, want);
	need_str(s, "context.os.name", v, sizeof v);
	need_str(s, "context.page.url", v, sizeof v);
	need_str(e, "data.page_url", want, sizeof want);
	assert_string_equal(v, want);
	need_str(s, "context.page.referrer", v, sizeof v);
	need_str(s, "context.library.name", v, sizeof v);
}

static void assert_snowplow_line(const char *p, const char *e)
{
	char v[256], want[256];
	json_span x;
	need_str(p, "event_id", v, sizeof v);
	need_str(e, "id", want, sizeof want);
	assert_string_equal(v, want);
	need_str(p, "app_id", v, sizeof v);
	need_str(p, "platform", v, sizeof v);
	need_str(e, "data.device", want, sizeof want);
	assert_string_equal(v, strcmp(want, "web") ? "mob" : "web");
	int64_t created = jtime(p, "dvce_created_tstamp"), sent = jtime(p, "dvce_sent_tstamp"),
		collected = jtime(p, "collector_tstamp"), derived = jtime(p, "derived_tstamp");
	assert_true(created == time_of(e) / 1000 * 1000);
	assert_true(created <= sent && sent < collected);
	assert_true(derived >= created && derived <= collected);
	need_str(p, "domain_userid", v, sizeof v);
	need_str(p, "domain_sessionid", v, sizeof v);
	need_str(e, "session", want, sizeof want);
	assert_string_equal(v, want);
	assert_true(jint(p, "domain_sessionidx") >= 1);
	need_str(p, "page_url", v, sizeof v);
	need_str(e, "data.page_url", want, sizeof want);
	assert_string_equal(v, want);
	need_str(p, "event_name", v, sizeof v);
	need_str(p, "event_vendor", v, sizeof v);
	need_str(p, "event", v, sizeof v);
	int type = click_type(e);
	if (type == C_PAGE) {
		assert_string_equal(v, "page_view");
	} else if (type == C_CLICK || type == C_LOGIN) {
		assert_string_equal(v, "struct");
		need_str(p, "se_category", v, sizeof v);
		need_str(p, "se_action", v, sizeof v);
	} else {
		assert_string_equal(v, "unstruct");
		need_str(p, "unstruct_event.schema", v, sizeof v);
		need_str(p, "unstruct_event.data.schema", v, sizeof v);
		assert_memory_equal(v, "iglu:", 5);
		assert_true(jpath(p, "unstruct_event.data.data", &x) && x.type == JSON_OBJECT);
	}
	if (jstr(p, "user_id", v, sizeof v)) {
		need_str(e, "stream", want, sizeof want);
		assert_string_equal(v, want);
	}
}

/* Segment and Snowplow lines parse as JSON with their required fields and
 * describe, line by line, the events of the engram format. */
static void click_formats_tell_the_same_events(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 20000, .seed = 14, .late = 0.1, .dup = 0.05 };
	char *te, *ts, *tp;
	size_t ne = click_to_mem(&o, &te);
	o.format = EG_GEN_SEGMENT;
	size_t ns = click_to_mem(&o, &ts);
	o.format = EG_GEN_SNOWPLOW;
	size_t np = click_to_mem(&o, &tp);
	size_t ce, cs, cp;
	char **le = split_lines(te, ne, &ce), **ls = split_lines(ts, ns, &cs),
	     **lp = split_lines(tp, np, &cp);
	assert_int_equal(ce, cs);
	assert_int_equal(ce, cp);
	size_t logged_in = 0;
	for (size_t i = 0; i < ce; i++) {
		assert_segment_line(ls[i], le[i]);
		assert_snowplow_line(lp[i], le[i]);
		char v[64];
		logged_in += jstr(ls[i], "userId", v, sizeof v);
	}
	assert_true(logged_in > ce / 4 && logged_in < ce);
	free(le);
	free(ls);
	free(lp);
	free(te);
	free(ts);
	free(tp);
}

/* The ids of a store's clickstream differ from its bank and orders ids. */
static void click_ids_differ_from_bank_and_orders_ids(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 1, .seed = 0 };
	char *a, *b, *c;
	gen_to_mem(&o, &a);
	orders_to_mem(&o, &b);
	click_to_mem(&o, &c);
	char ia[64], ib[64], ic[64];
	assert_true(str_field(a, "id", ia, sizeof ia));
	assert_true(str_field(b, "id", ib, sizeof ib));
	assert_true(str_field(c, "id", ic, sizeof ic));
	assert_string_not_equal(ia, ic);
	assert_string_not_equal(ib, ic);
	free(a);
	free(b);
	free(c);
}

static void click_rejects_bad_options(void **state)
{
	(void)state;
	const double bad[] = { -0.01, 1.01, NAN };
	eg_gen_opts bads[11];
	int k = 0;
	for (int i = 0; i < 3; i++) {
		bads[k++] = (eg_gen_opts){ .events = 10, .late = bad[i] };
		bads[k++] = (eg_gen_opts){ .events = 10, .dup = bad[i] };
	}
	bads[k++] = (eg_gen_opts){ .events = 10, .format = EG_GEN_SNOWPLOW + 1 };
	bads[k++] = (eg_gen_opts){ .events = 10, .format = -1 };
	bads[k++] = (eg_gen_opts){ .events = 10, .users = EG_GEN_MAX_USERS + 1 };
	bads[k++] = (eg_gen_opts){ .events = 10, .days = EG_GEN_MAX_DAYS + 1 };
	for (int i = 0; i < k; i++) {
		errno = 0;
		assert_int_equal(eg_gen_clickstream(stdout, &bads[i]), -1);
		assert_int_equal(errno, EINVAL);
	}
}

static void click_write_error_returns_minus_one_with_errno(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/full", "w");
	if (!f)
		skip();
	eg_gen_opts o = { .events = 10000, .seed = 1, .late = 0.5, .dup = 0.5 };
	errno = 0;
	assert_int_equal(eg_gen_clickstream(f, &o), -1);
	assert_int_equal(errno, ENOSPC);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_seed_gives_same_bytes),
		cmocka_unit_test(different_seeds_give_different_events),
		cmocka_unit_test(writes_exactly_the_requested_number_of_lines),
		cmocka_unit_test(every_line_is_an_envelope_object),
		cmocka_unit_test(accounts_follow_the_rules_of_a_bank),
		cmocka_unit_test(lines_average_about_200_bytes),
		cmocka_unit_test(wide_account_counts_widen_stream_names),
		cmocka_unit_test(start_time_is_honoured),
		cmocka_unit_test(write_error_returns_minus_one_with_errno),
		cmocka_unit_test(orders_same_seed_gives_same_bytes),
		cmocka_unit_test(orders_ids_differ_from_bank_ids),
		cmocka_unit_test(orders_write_exactly_the_requested_number_of_lines),
		cmocka_unit_test(orders_every_line_is_an_envelope_object),
		cmocka_unit_test(late_fraction_of_events_comes_hours_late),
		cmocka_unit_test(late_only_reorders_the_same_lines),
		cmocka_unit_test(orders_loads_add_the_end_of_the_load_as_recorded),
		cmocka_unit_test(orders_customers_sets_how_many_customers_order),
		cmocka_unit_test(labels_are_ordered_and_a_sample_is_a_subset),
		cmocka_unit_test(orders_follow_their_life_cycle),
		cmocka_unit_test(many_orders_are_in_flight_at_once),
		cmocka_unit_test(orders_arrive_with_a_daily_rhythm),
		cmocka_unit_test(orders_start_time_is_honoured),
		cmocka_unit_test(orders_reject_a_late_fraction_outside_0_to_1),
		cmocka_unit_test(orders_write_error_returns_minus_one_with_errno),
		cmocka_unit_test(click_same_args_give_same_bytes),
		cmocka_unit_test(click_writes_the_requested_number_of_events),
		cmocka_unit_test_setup_teardown(click_lines_are_envelopes_that_append,
						tu_setup, tu_teardown),
		cmocka_unit_test(click_late_events_come_from_the_apps_minutes_to_hours_late),
		cmocka_unit_test(click_late_only_reorders_the_same_lines),
		cmocka_unit_test(click_duplicates_repeat_a_line_seconds_later),
		cmocka_unit_test(click_sessions_walk_a_funnel_with_drop_offs),
		cmocka_unit_test(click_carts_add_up),
		cmocka_unit_test(click_traffic_has_a_daily_rhythm_over_the_asked_days),
		cmocka_unit_test(click_users_keep_their_device),
		cmocka_unit_test(click_page_urls_are_a_few_hundred),
		cmocka_unit_test(click_formats_tell_the_same_events),
		cmocka_unit_test(click_ids_differ_from_bank_and_orders_ids),
		cmocka_unit_test(click_rejects_bad_options),
		cmocka_unit_test(click_write_error_returns_minus_one_with_errno),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
