/*
 * test_gen.c — the bank generator: same options give the same bytes, and the
 * events it writes obey the rules of a bank (accounts open before anything
 * else happens to them, nothing after a close, no withdrawal overdraws).
 */
#include "testutil.h"
#include "gen.h"

#include <errno.h>

/* Run the generator into memory; the caller frees *text. */
static size_t gen_to_mem(const eg_gen_opts *o, char **text)
{
	size_t len = 0;
	FILE *f = open_memstream(text, &len);
	assert_non_null(f);
	assert_int_equal(eg_gen_bank(f, o), 0);
	assert_int_equal(fclose(f), 0);
	return len;
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
