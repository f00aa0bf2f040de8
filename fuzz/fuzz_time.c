/*
 * fuzz_time.c — libFuzzer target for times and durations (src/util/timefmt.c).
 * Whatever parses must format and parse back to the same microsecond (or,
 * outside years 0000-9999, format to a text that does not parse at all);
 * formatting is also checked against glibc's gmtime_r as a reference.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* gmtime_r under -std=c11 */
#endif
#include "timefmt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

#define SEC 1000000LL
#define MIN_US (-62167219200LL * SEC)        /* 0000-01-01T00:00:00Z */
#define MAX_US (253402300800LL * SEC - 1)    /* 9999-12-31T23:59:59.999999Z */

static void check_format(int64_t us)
{
	char out[EG_TIME_LEN + 2], ref[64];
	int64_t back = 0;
	int64_t secs = us / SEC, frac = us % SEC;
	struct tm tm;

	out[EG_TIME_LEN + 1] = 'X';
	CHECK(eg_time_format(us, out) == EG_TIME_LEN);
	CHECK(out[EG_TIME_LEN] == '\0' && out[EG_TIME_LEN + 1] == 'X');
	if (us < MIN_US || us > MAX_US) {
		CHECK(eg_time_parse_rfc3339(out, EG_TIME_LEN, &back) == -1);
		return;
	}
	CHECK(eg_time_parse_rfc3339(out, EG_TIME_LEN, &back) == 0 && back == us);
	if (frac < 0) {
		frac += SEC;
		secs--;
	}
	time_t t = (time_t)secs;
	CHECK(gmtime_r(&t, &tm) != NULL);
	snprintf(ref, sizeof ref, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (long long)frac);
	CHECK(strcmp(out, ref) == 0);
}

/* A UTC input that parsed must print back with the same fields: this is
 * what catches an impossible date (Feb 29 of a common year, say) that was
 * accepted, since the arithmetic alone would still round trip. */
static void check_fields(const char *s, size_t n, int64_t us)
{
	char out[EG_TIME_LEN + 1];
	size_t fl = 0;

	if ((s[n - 1] | 0x20) != 'z' || memcmp(s + 17, "60", 2) == 0)
		return;
	eg_time_format(us, out);
	CHECK(memcmp(out, s, 10) == 0 && memcmp(out + 11, s + 11, 8) == 0);
	if (s[19] == '.')
		for (fl = 0; fl < 6 && s[20 + fl] >= '0' && s[20 + fl] <= '9'; fl++)
			CHECK(out[20 + fl] == s[20 + fl]);
	for (; fl < 6; fl++)
		CHECK(out[20 + fl] == '0');
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *s = (const char *)data;
	int64_t us, d, back;
	char buf[32];

	if (eg_time_parse(s, size, &us) == 0)
		check_format(us);
	if (eg_time_parse_rfc3339(s, size, &us) == 0) {
		CHECK(us >= MIN_US - 86400 * SEC && us <= MAX_US + 86400 * SEC);
		check_format(us);
		check_fields(s, size, us);
	}
	if (eg_time_parse_millis(s, size, &us) == 0)
		CHECK(us % 1000 == 0);
	if (eg_duration_parse(s, size, &d) == 0) {
		size_t n = eg_duration_format(d, buf);
		CHECK(d > 0 && n < sizeof buf && strlen(buf) == n);
		CHECK(eg_duration_parse(buf, n, &back) == 0 && back == d);
	}
	/* The raw bytes as an int64: formatting must cope with any value. */
	if (size >= 8) {
		memcpy(&us, data, 8);
		check_format(us);
		eg_duration_format(us, buf);
		CHECK(strlen(buf) < sizeof buf);
	}
	return 0;
}
