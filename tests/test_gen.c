/*
 * test_gen.c — the generators: same options give the same bytes, and the
 * events they write obey the rules of their world.  bank: accounts open
 * before anything else happens to them, nothing after a close, no
 * withdrawal overdraws.  orders: every order follows its life cycle, and
 * --late holds back the asked fraction of events without changing them.
 */
#include "testutil.h"
#include "gen.h"
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

/* --late changes when lines are written, not what they say. */
static void late_only_reorders_the_same_lines(void **state)
{
	(void)state;
	eg_gen_opts o = { .events = 20000, .seed = 5 };
	eg_gen_opts p = o;
	p.late = 0.2;
	char *a, *b;
	size_t na = orders_to_mem(&o, &a), nb = orders_to_mem(&p, &b), ca, cb;
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
		cmocka_unit_test(orders_follow_their_life_cycle),
		cmocka_unit_test(many_orders_are_in_flight_at_once),
		cmocka_unit_test(orders_arrive_with_a_daily_rhythm),
		cmocka_unit_test(orders_start_time_is_honoured),
		cmocka_unit_test(orders_reject_a_late_fraction_outside_0_to_1),
		cmocka_unit_test(orders_write_error_returns_minus_one_with_errno),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
