/*
 * test_timefmt.c — times and durations as a specification: which RFC 3339
 * and millisecond inputs are read and as what, how times print (before 1970
 * and outside 0000-9999 too), and the duration grammar both ways.
 */
#include "testutil.h"
#include "timefmt.h"

#define SEC 1000000LL
#define DAY (86400 * SEC)

/* 2025-01-01T00:00:00Z */
#define T2025 (1735689600LL * SEC)

static int64_t parse_ok(const char *s)
{
	int64_t us = 0x5eed;
	if (eg_time_parse_rfc3339(s, strlen(s), &us) != 0)
		fail_msg("rejected %s", s);
	return us;
}

static void parse_bad(const char *s)
{
	int64_t us = 0x5eed;
	if (eg_time_parse_rfc3339(s, strlen(s), &us) == 0)
		fail_msg("accepted %s", s);
	assert_int_equal(us, 0x5eed);  /* untouched on failure */
}

static const char *fmt(int64_t us)
{
	static char out[EG_TIME_LEN + 1];
	assert_int_equal(eg_time_format(us, out), EG_TIME_LEN);
	assert_int_equal(strlen(out), EG_TIME_LEN);
	return out;
}

/* ------------------------------------------------------------ RFC 3339 */

static void parses_utc_with_z(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(parse_ok("2025-01-01T00:00:00Z"), T2025);
	assert_int_equal(parse_ok("2025-01-01T10:00:00Z"), T2025 + 36000 * SEC);
}

static void parses_lowercase_t_and_z_and_space(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2025-01-01t10:00:00.5z"), T2025 + 36000 * SEC + 500000);
	assert_int_equal(parse_ok("2025-01-01 10:00:00Z"), T2025 + 36000 * SEC);
}

static void parses_positive_offset(void **state)
{
	(void)state;
	/* 15:30 at +05:30 is 10:00 UTC */
	assert_int_equal(parse_ok("2025-01-01T15:30:00+05:30"), T2025 + 36000 * SEC);
	assert_int_equal(parse_ok("2025-01-01T10:00:00.123+02:00"),
			 T2025 + 8 * 3600 * SEC + 123000);
}

static void parses_negative_offset(void **state)
{
	(void)state;
	/* 02:00 at -08:00 is 10:00 UTC */
	assert_int_equal(parse_ok("2025-01-01T02:00:00-08:00"), T2025 + 36000 * SEC);
	/* crossing the date line backwards: still 2025-01-01T07:59Z */
	assert_int_equal(parse_ok("2024-12-31T23:59:00-08:00"), T2025 + (7 * 60 + 59) * 60 * SEC);
}

static void accepts_zero_and_extreme_offsets(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2025-01-01T00:00:00+00:00"), T2025);
	assert_int_equal(parse_ok("2025-01-01T00:00:00-00:00"), T2025);
	assert_int_equal(parse_ok("2025-01-01T23:59:00+23:59"), T2025);
	assert_int_equal(parse_ok("2024-12-31T00:01:00-23:59"), T2025);
}

static void rejects_offset_out_of_range(void **state)
{
	(void)state;
	parse_bad("2025-01-01T00:00:00+24:00");
	parse_bad("2025-01-01T00:00:00+05:60");
	parse_bad("2025-01-01T00:00:00+0530");
	parse_bad("2025-01-01T00:00:00+05");
	parse_bad("2025-01-01T00:00:00+5:30");
}

static void truncates_fraction_to_microseconds(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("1970-01-01T00:00:00.5Z"), 500000);
	assert_int_equal(parse_ok("1970-01-01T00:00:00.000001Z"), 1);
	assert_int_equal(parse_ok("1970-01-01T00:00:00.123456Z"), 123456);
	assert_int_equal(parse_ok("1970-01-01T00:00:00.1234567Z"), 123456);
	assert_int_equal(parse_ok("1970-01-01T00:00:00.123456789Z"), 123456);
	assert_int_equal(parse_ok("1970-01-01T00:00:00.999999999Z"), 999999);
}

static void rejects_empty_or_overlong_fraction(void **state)
{
	(void)state;
	parse_bad("1970-01-01T00:00:00.Z");
	parse_bad("1970-01-01T00:00:00.1234567891Z");
	parse_bad("1970-01-01T00:00:00,5Z");
}

static void accepts_leap_day_in_leap_years(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), 1709164800LL * SEC);
	assert_int_equal(parse_ok("2000-02-29T12:00:00Z"), 951825600LL * SEC);
	assert_int_equal(parse_ok("2024-03-01T00:00:00Z") - parse_ok("2024-02-28T00:00:00Z"),
			 2 * DAY);
}

static void rejects_leap_day_in_common_years(void **state)
{
	(void)state;
	parse_bad("2023-02-29T00:00:00Z");
	parse_bad("1900-02-29T00:00:00Z");  /* divisible by 100, not by 400 */
	parse_bad("2100-02-29T00:00:00Z");
}

static void rejects_impossible_dates(void **state)
{
	(void)state;
	parse_bad("2024-02-30T00:00:00Z");
	parse_bad("2025-13-01T00:00:00Z");
	parse_bad("2025-00-01T00:00:00Z");
	parse_bad("2025-01-00T00:00:00Z");
	parse_bad("2025-01-32T00:00:00Z");
	parse_bad("2025-04-31T00:00:00Z");
	parse_bad("2025-11-31T00:00:00Z");
}

static void rejects_impossible_times_of_day(void **state)
{
	(void)state;
	parse_bad("2025-01-01T24:00:00Z");
	parse_bad("2025-01-01T23:60:00Z");
	parse_bad("2025-01-01T23:59:61Z");
}

static void reads_leap_second_as_last_microsecond(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2016-12-31T23:59:60Z"),
			 parse_ok("2017-01-01T00:00:00Z") - 1);
	assert_int_equal(parse_ok("2016-12-31T23:59:60.5Z"),
			 parse_ok("2017-01-01T00:00:00Z") - 1);
}

static void rejects_malformed_timestamps(void **state)
{
	static const char *bad[] = {
		"", "2025", "2025-01-01", "2025-01-01T00:00:00",
		"2025-01-01T00:00Z", "2025-1-01T00:00:00Z", "2025/01/01T00:00:00Z",
		"2025-01-01X00:00:00Z", "2025-01-01T00-00-00Z", "+2025-01-01T00:00:00Z",
		"2025-01-01T00:00:00ZZ", "2025-01-01T00:00:00Z ", " 2025-01-01T00:00:00Z",
		"２025-01-01T00:00:00Z", "2025-01-01T00:00:00UTC", "20a5-01-01T00:00:00Z",
		"2025-01-01T0 :00:00Z", "2025-01-01T00:00:0-Z",
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		parse_bad(bad[i]);
}

static void parses_year_range_bounds(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("0000-01-01T00:00:00Z"), -62167219200LL * SEC);
	assert_int_equal(parse_ok("9999-12-31T23:59:59.999999Z"), 253402300800LL * SEC - 1);
	assert_int_equal(parse_ok("0000-02-29T00:00:00Z"),  /* year 0 is a leap year */
			 -62167219200LL * SEC + 59 * DAY);
}

/* -------------------------------------------------------------- millis */

static void parses_epoch_millis(void **state)
{
	int64_t us;
	(void)state;
	assert_int_equal(eg_time_parse_millis("1735689600000", 13, &us), 0);
	assert_int_equal(us, T2025);
	assert_int_equal(eg_time_parse_millis("0", 1, &us), 0);
	assert_int_equal(us, 0);
	assert_int_equal(eg_time_parse_millis("-1", 2, &us), 0);
	assert_int_equal(us, -1000);
	assert_int_equal(eg_time_parse_millis("007", 3, &us), 0);
	assert_int_equal(us, 7000);
}

static void rejects_millis_outside_microsecond_range(void **state)
{
	int64_t us;
	(void)state;
	assert_int_equal(eg_time_parse_millis("9223372036854775", 16, &us), 0);
	assert_int_equal(us, 9223372036854775000LL);
	assert_int_equal(eg_time_parse_millis("-9223372036854775", 17, &us), 0);
	assert_int_equal(us, -9223372036854775000LL);
	assert_int_equal(eg_time_parse_millis("9223372036854776", 16, &us), -1);
	assert_int_equal(eg_time_parse_millis("-9223372036854776", 17, &us), -1);
	assert_int_equal(eg_time_parse_millis("99999999999999999999999", 23, &us), -1);
}

static void rejects_millis_with_other_characters(void **state)
{
	static const char *bad[] = { "", "-", "+5", "1.5", "12a", " 1", "1 ", "--1", "1e3" };
	int64_t us;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(eg_time_parse_millis(bad[i], strlen(bad[i]), &us), -1);
}

static void parse_sends_digits_to_millis_and_rest_to_rfc3339(void **state)
{
	int64_t us;
	(void)state;
	assert_int_equal(eg_time_parse("1500", 4, &us), 0);
	assert_int_equal(us, 1500000);
	assert_int_equal(eg_time_parse("-1500", 5, &us), 0);
	assert_int_equal(us, -1500000);
	assert_int_equal(eg_time_parse("2025-01-01T00:00:00Z", 20, &us), 0);
	assert_int_equal(us, T2025);
	assert_int_equal(eg_time_parse("", 0, &us), -1);
	assert_int_equal(eg_time_parse("-", 1, &us), -1);
	assert_int_equal(eg_time_parse("yesterday", 9, &us), -1);
}

/* Command-line times may be a date alone: midnight UTC.  Event input
 * (eg_time_parse_rfc3339) stays strict. */
static void parse_reads_a_date_alone_as_midnight_utc(void **state)
{
	int64_t us;
	(void)state;
	assert_int_equal(eg_time_parse("2025-01-01", 10, &us), 0);
	assert_int_equal(us, T2025);
	assert_int_equal(eg_time_parse("2025-01-02", 10, &us), 0);
	assert_int_equal(us, T2025 + DAY);
	assert_int_equal(eg_time_parse("2024-02-29", 10, &us), 0);
	assert_int_equal(eg_time_parse("1969-12-31", 10, &us), 0);
	assert_int_equal(us, -DAY);
	static const char *bad[] = { "2025-02-29", "2025-13-01", "2025-00-10", "2025-01-32",
				     "2025-1-01", "2025/01/01", "2025-01-0x",
				     "2025-01-01T", "2025-01-01Z" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (eg_time_parse(bad[i], strlen(bad[i]), &us) != -1)
			fail_msg("accepted time \"%s\"", bad[i]);
	assert_int_equal(eg_time_parse_rfc3339("2025-01-01", 10, &us), -1);
}

/* ---------------------------------------------------------- formatting */

static void formats_with_six_fraction_digits_and_z(void **state)
{
	(void)state;
	assert_string_equal(fmt(0), "1970-01-01T00:00:00.000000Z");
	assert_string_equal(fmt(T2025 + 36000 * SEC), "2025-01-01T10:00:00.000000Z");
	assert_string_equal(fmt(T2025 + 123456), "2025-01-01T00:00:00.123456Z");
	assert_string_equal(fmt(parse_ok("2024-02-29T23:59:59.999999Z")),
			    "2024-02-29T23:59:59.999999Z");
}

static void formats_times_before_1970(void **state)
{
	(void)state;
	assert_string_equal(fmt(-1), "1969-12-31T23:59:59.999999Z");
	assert_string_equal(fmt(-SEC), "1969-12-31T23:59:59.000000Z");
	assert_string_equal(fmt(-DAY), "1969-12-31T00:00:00.000000Z");
	assert_string_equal(fmt(-DAY - 1), "1969-12-30T23:59:59.999999Z");
	assert_string_equal(fmt(-2208988800LL * SEC), "1900-01-01T00:00:00.000000Z");
	assert_string_equal(fmt(-62167219200LL * SEC), "0000-01-01T00:00:00.000000Z");
}

static void formats_years_outside_0000_9999_without_overflow(void **state)
{
	static const int64_t t[] = {
		INT64_MIN, INT64_MIN + 1, -62167219200LL * SEC - 1,
		253402300800LL * SEC, INT64_MAX,
	};
	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char out[EG_TIME_LEN + 8];
		int64_t back;
		memset(out, 'X', sizeof out);
		assert_int_equal(eg_time_format(t[i], out), EG_TIME_LEN);
		assert_int_equal(out[EG_TIME_LEN], '\0');
		assert_int_equal(out[EG_TIME_LEN + 1], 'X');
		assert_memory_equal(out, "\?\?\?\?-", 5);
		/* never parses back as some other time */
		assert_int_equal(eg_time_parse(out, EG_TIME_LEN, &back), -1);
	}
	assert_string_equal(fmt(-62167219200LL * SEC - 1), "\?\?\?\?-12-31T23:59:59.999999Z");
	assert_string_equal(fmt(253402300800LL * SEC), "\?\?\?\?-01-01T00:00:00.000000Z");
}

static void format_then_parse_round_trips_every_day(void **state)
{
	/* Midnight of every day from 0000-01-01 to 9999-12-31, plus a
	 * moving time of day: checks the civil arithmetic both ways. */
	int64_t first = -62167219200LL * SEC, last = 253402300800LL * SEC - DAY;
	int64_t i = 0;
	(void)state;
	for (int64_t t = first; t <= last; t += DAY, i++) {
		int64_t u = t + (i * 7919 * SEC + i) % DAY, back;
		const char *s = fmt(u);
		if (eg_time_parse_rfc3339(s, EG_TIME_LEN, &back) != 0 || back != u)
			fail_msg("%lld -> %s does not round trip", (long long)u, s);
	}
	assert_int_equal(i, 3652425);  /* days in 10000 Gregorian years */
}

/* ----------------------------------------------------------- durations */

static int64_t dur_ok(const char *s)
{
	int64_t us = 0;
	if (eg_duration_parse(s, strlen(s), &us) != 0)
		fail_msg("rejected duration %s", s);
	return us;
}

static void parses_each_duration_unit(void **state)
{
	(void)state;
	assert_int_equal(dur_ok("500us"), 500);
	assert_int_equal(dur_ok("500ms"), 500000);
	assert_int_equal(dur_ok("30s"), 30 * SEC);
	assert_int_equal(dur_ok("10m"), 600 * SEC);
	assert_int_equal(dur_ok("6h"), 6 * 3600 * SEC);
	assert_int_equal(dur_ok("7d"), 7 * DAY);
}

static void parses_compound_durations_largest_unit_first(void **state)
{
	(void)state;
	assert_int_equal(dur_ok("1h30m"), 5400 * SEC);
	assert_int_equal(dur_ok("2d12h"), 60 * 3600 * SEC);
	assert_int_equal(dur_ok("1m30s"), 90 * SEC);
	assert_int_equal(dur_ok("1s500ms"), 1500000);
	assert_int_equal(dur_ok("1d2h3m4s5ms6us"), DAY + (2 * 3600 + 3 * 60 + 4) * SEC + 5006);
	assert_int_equal(dur_ok("1h0m"), 3600 * SEC);
	assert_int_equal(dur_ok("5ms"), 5000);      /* ms, not m then s */
	assert_int_equal(dur_ok("90m30s"), 5430 * SEC);
}

static void rejects_compound_duration_overflow(void **state)
{
	int64_t us;
	(void)state;
	assert_int_equal(eg_duration_parse("106751991d4h54s775ms807us", 25, &us), 0);
	assert_int_equal(us, INT64_MAX);
	assert_int_equal(eg_duration_parse("106751991d4h54s775ms808us", 25, &us), -1);
	assert_int_equal(eg_duration_parse("106751991d5h", 12, &us), -1);
}

static void rejects_zero_duration(void **state)
{
	int64_t us;
	(void)state;
	assert_int_equal(eg_duration_parse("0s", 2, &us), -1);
	assert_int_equal(eg_duration_parse("000ms", 5, &us), -1);
}

static void rejects_malformed_durations(void **state)
{
	static const char *bad[] = {
		"", "s", "-5m", "+5m", "10", "5x", "1.5h", "5 m", " 5m", "5m ",
		"5M", "5sec", "5mss", "m5", "5ns",
		/* compounds: units largest first, each once, nothing between */
		"30m1h", "1h1h", "1m1m", "1ms1s", "1h30", "1h 30m", "1h-30m", "h30m",
		"1h30m5", "1s500msx", "0h0m",
	};
	int64_t us;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (eg_duration_parse(bad[i], strlen(bad[i]), &us) != -1)
			fail_msg("accepted duration \"%s\"", bad[i]);
}

static void rejects_duration_overflow(void **state)
{
	int64_t us;
	(void)state;
	assert_int_equal(eg_duration_parse("9223372036854775807us", 21, &us), 0);
	assert_int_equal(us, INT64_MAX);
	assert_int_equal(eg_duration_parse("9223372036854775808us", 21, &us), -1);
	assert_int_equal(eg_duration_parse("106751991d", 10, &us), 0);
	assert_int_equal(eg_duration_parse("106751992d", 10, &us), -1);
	assert_int_equal(eg_duration_parse("99999999999999999999999s", 24, &us), -1);
}

static const char *dfmt(int64_t us)
{
	static char out[32];
	size_t n = eg_duration_format(us, out);
	assert_int_equal(n, strlen(out));
	return out;
}

static void formats_duration_in_largest_exact_unit(void **state)
{
	(void)state;
	assert_string_equal(dfmt(90 * SEC), "90s");
	assert_string_equal(dfmt(3600 * SEC), "1h");
	assert_string_equal(dfmt(5400 * SEC), "90m");
	assert_string_equal(dfmt(7 * DAY), "7d");
	assert_string_equal(dfmt(36 * 3600 * SEC), "36h");
	assert_string_equal(dfmt(1500000), "1500ms");
	assert_string_equal(dfmt(1), "1us");
	assert_string_equal(dfmt(1001), "1001us");
}

static void formats_zero_and_negative_durations(void **state)
{
	(void)state;
	assert_string_equal(dfmt(0), "0s");
	assert_string_equal(dfmt(-300 * SEC), "-5m");
	assert_string_equal(dfmt(INT64_MIN), "-9223372036854775808us");
	assert_string_equal(dfmt(INT64_MAX), "9223372036854775807us");
}

static void duration_format_then_parse_round_trips(void **state)
{
	static const int64_t d[] = {
		1, 999, 1000, 1500000, 90 * SEC, 3600 * SEC, 5400 * SEC, DAY,
		7 * DAY + 1, 106751 * DAY, INT64_MAX,
	};
	(void)state;
	for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
		const char *s = dfmt(d[i]);
		assert_int_equal(dur_ok(s), d[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_utc_with_z),
		cmocka_unit_test(parse_reads_a_date_alone_as_midnight_utc),
		cmocka_unit_test(parses_compound_durations_largest_unit_first),
		cmocka_unit_test(rejects_compound_duration_overflow),
		cmocka_unit_test(parses_lowercase_t_and_z_and_space),
		cmocka_unit_test(parses_positive_offset),
		cmocka_unit_test(parses_negative_offset),
		cmocka_unit_test(accepts_zero_and_extreme_offsets),
		cmocka_unit_test(rejects_offset_out_of_range),
		cmocka_unit_test(truncates_fraction_to_microseconds),
		cmocka_unit_test(rejects_empty_or_overlong_fraction),
		cmocka_unit_test(accepts_leap_day_in_leap_years),
		cmocka_unit_test(rejects_leap_day_in_common_years),
		cmocka_unit_test(rejects_impossible_dates),
		cmocka_unit_test(rejects_impossible_times_of_day),
		cmocka_unit_test(reads_leap_second_as_last_microsecond),
		cmocka_unit_test(rejects_malformed_timestamps),
		cmocka_unit_test(parses_year_range_bounds),
		cmocka_unit_test(parses_epoch_millis),
		cmocka_unit_test(rejects_millis_outside_microsecond_range),
		cmocka_unit_test(rejects_millis_with_other_characters),
		cmocka_unit_test(parse_sends_digits_to_millis_and_rest_to_rfc3339),
		cmocka_unit_test(formats_with_six_fraction_digits_and_z),
		cmocka_unit_test(formats_times_before_1970),
		cmocka_unit_test(formats_years_outside_0000_9999_without_overflow),
		cmocka_unit_test(format_then_parse_round_trips_every_day),
		cmocka_unit_test(parses_each_duration_unit),
		cmocka_unit_test(rejects_zero_duration),
		cmocka_unit_test(rejects_malformed_durations),
		cmocka_unit_test(rejects_duration_overflow),
		cmocka_unit_test(formats_duration_in_largest_exact_unit),
		cmocka_unit_test(formats_zero_and_negative_durations),
		cmocka_unit_test(duration_format_then_parse_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
