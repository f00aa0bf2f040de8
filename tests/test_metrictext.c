/*
 * test_metrictext.c — the text converters of --map prometheus, openmetrics
 * and statsd (src/util/metrictext.c) as a specification: what each line
 * becomes, which input line each envelope names, and what is refused with
 * which message.
 */
#include "testutil.h"
#include "metrictext.h"

/* Convert s with fn: the output as a NUL-terminated string (static), the
 * line numbers into lines (up to 16), their count into *n. */
static const char *conv_ok(eg_textconv_fn fn, const char *s, uint32_t *lines, size_t *n)
{
	static char text[8192];
	buf out = { 0 };
	uint32_t *l = NULL;
	char err[256];
	if (fn(s, strlen(s), &out, &l, err, sizeof err))
		fail_msg("refused %s: %s", s, err);
	size_t k = 0;
	for (size_t i = 0; i < out.n; i++)
		if (out.p[i] == '\n') {
			if (lines && k < 16)
				lines[k] = l[k];
			k++;
		}
	if (n)
		*n = k;
	assert_true(out.n < sizeof text);
	memcpy(text, out.p ? out.p : "", out.n);
	text[out.n] = 0;
	free(out.p);
	free(l);
	return text;
}

/* fn refuses s with a message that contains want. */
static void conv_bad(eg_textconv_fn fn, const char *s, const char *want)
{
	buf out = { 0 };
	uint32_t *l = (uint32_t *)1;
	char err[256] = "";
	if (!fn(s, strlen(s), &out, &l, err, sizeof err))
		fail_msg("accepted %s", s);
	assert_null(l);
	assert_int_equal(out.n, 0);
	if (!strstr(err, want))
		fail_msg("for %s: message '%s' lacks '%s'", s, err, want);
	free(out.p);
}

static void prometheus_sample_with_labels_type_and_ms_timestamp(void **st)
{
	(void)st;
	uint32_t l[16];
	size_t n;
	const char *o = conv_ok(eg_mt_prometheus,
		"# HELP http_requests_total The total.\n"
		"# TYPE http_requests_total counter\n"
		"http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n", l, &n);
	assert_string_equal(o, "{\"kind\":\"metric\",\"type\":\"http_requests_total\","
			    "\"time\":\"2014-03-17T14:26:03.000000Z\",\"data\":{\"value\":1027,"
			    "\"metric_type\":\"counter\",\"tags\":{\"method\":\"post\",\"code\":\"200\"}}}\n");
	assert_int_equal(n, 1);
	assert_int_equal(l[0], 3);
}

static void prometheus_escapes_blank_lines_and_no_timestamp(void **st)
{
	(void)st;
	uint32_t l[16];
	size_t n;
	const char *o = conv_ok(eg_mt_prometheus,
		"\n  \nmsdos{path=\"C:\\\\DIR\",error=\"not:\\n\\\"F\\\"\"} 1.458255915e9\n"
		"plain 12.47\r\n", l, &n);
	assert_string_equal(o,
		"{\"kind\":\"metric\",\"type\":\"msdos\",\"data\":{\"value\":1.458255915e9,"
		"\"metric_type\":\"untyped\",\"tags\":{\"path\":\"C:\\\\DIR\",\"error\":\"not:\\n\\\"F\\\"\"}}}\n"
		"{\"kind\":\"metric\",\"type\":\"plain\",\"data\":{\"value\":12.47,\"metric_type\":\"untyped\"}}\n");
	assert_int_equal(n, 2);
	assert_int_equal(l[0], 3);
	assert_int_equal(l[1], 4);
}

static void prometheus_family_types_reach_suffixed_samples(void **st)
{
	(void)st;
	const char *o = conv_ok(eg_mt_prometheus,
		"# TYPE d histogram\nd_bucket{le=\"+Inf\"} 3\nd_sum 2\nd_count 3\n"
		"# TYPE s summary\ns{quantile=\"0.5\"} 1\n# TYPE g gauge\ng 2\n", NULL, NULL);
	assert_non_null(strstr(o, "\"type\":\"d_bucket\",\"data\":{\"value\":3,\"metric_type\":\"histogram\","
				  "\"tags\":{\"le\":\"+Inf\"}}"));
	assert_non_null(strstr(o, "\"type\":\"d_count\",\"data\":{\"value\":3,\"metric_type\":\"histogram\"}"));
	assert_non_null(strstr(o, "\"metric_type\":\"summary\""));
	assert_non_null(strstr(o, "\"type\":\"g\",\"data\":{\"value\":2,\"metric_type\":\"gauge\"}"));
}

static void prometheus_name_label_is_never_a_tag(void **st)
{
	(void)st;
	const char *o = conv_ok(eg_mt_prometheus, "m{__name__=\"m\",a=\"b\"} 1\n", NULL, NULL);
	assert_string_equal(o, "{\"kind\":\"metric\",\"type\":\"m\",\"data\":{\"value\":1,"
			    "\"metric_type\":\"untyped\",\"tags\":{\"a\":\"b\"}}}\n");
}

static void prometheus_values_become_json_numbers_or_strings(void **st)
{
	(void)st;
	const char *o = conv_ok(eg_mt_prometheus, "a +1\nb .5\nc NaN\nd -Inf\ne 1e999\nf 2.\n",
				NULL, NULL);
	assert_non_null(strstr(o, "\"type\":\"a\",\"data\":{\"value\":1,"));
	assert_non_null(strstr(o, "\"type\":\"b\",\"data\":{\"value\":0.5,"));
	assert_non_null(strstr(o, "\"type\":\"c\",\"data\":{\"value\":\"NaN\","));
	assert_non_null(strstr(o, "\"type\":\"d\",\"data\":{\"value\":\"-Inf\","));
	assert_non_null(strstr(o, "\"type\":\"e\",\"data\":{\"value\":\"1e999\","));
	assert_non_null(strstr(o, "\"type\":\"f\",\"data\":{\"value\":2,"));
}

static void openmetrics_seconds_exemplars_and_eof(void **st)
{
	(void)st;
	const char *om = "# TYPE a counter\na_total{x=\"1\"} 5 1700000000.25 # {t=\"q\"} 1 2\n# EOF\n";
	const char *want = "{\"kind\":\"metric\",\"type\":\"a_total\",\"time\":\"2023-11-14T22:13:20.250000Z\","
			   "\"data\":{\"value\":5,\"metric_type\":\"counter\",\"tags\":{\"x\":\"1\"}}}\n";
	assert_string_equal(conv_ok(eg_mt_prometheus, om, NULL, NULL), want);
	assert_string_equal(conv_ok(eg_mt_openmetrics, om, NULL, NULL), want);
	conv_bad(eg_mt_openmetrics, "a 1 5\n", "line 1: expected # EOF");
	conv_bad(eg_mt_prometheus, "# EOF\na 1\n", "line 2: expected nothing after # EOF");
}

static void prometheus_refusals_name_the_line(void **st)
{
	(void)st;
	conv_bad(eg_mt_prometheus, "ok 1\n{a=\"b\"} 1\n", "line 2: expected a metric name");
	conv_bad(eg_mt_prometheus, "a{b=\"c} 1\n", "line 1: label b: expected a closing '\"'");
	conv_bad(eg_mt_prometheus, "a{b=c} 1\n", "label b: expected a quoted value");
	conv_bad(eg_mt_prometheus, "a{b=\"\\t\"} 1\n", "expected \\\\, \\\" or \\n after a backslash");
	conv_bad(eg_mt_prometheus, "a{b=\"1\",b=\"2\"} 1\n", "label \"b\" is given twice");
	conv_bad(eg_mt_prometheus, "a\n", "a: expected a value");
	conv_bad(eg_mt_prometheus, "a one\n", "value: expected a number");
	conv_bad(eg_mt_prometheus, "a 1 1.5\n", "timestamp: expected integer epoch milliseconds");
	conv_bad(eg_mt_prometheus, "a 1 2 3\n", "expected the end of the line");
	conv_bad(eg_mt_prometheus, "# TYPE a counterish\n", "# TYPE a: expected counter");
	conv_bad(eg_mt_prometheus, "# TYPE a\n", "# TYPE: expected a metric name and a type");
	conv_bad(eg_mt_prometheus, "a{b=\"\xff\"} 1\n", "label value: expected UTF-8 text");
}

static void statsd_types_rates_tags_and_multi_values(void **st)
{
	(void)st;
	uint32_t l[16];
	size_t n;
	const char *o = conv_ok(eg_mt_statsd,
		"api.requests:3|c|@0.1|#region:eu,canary\n\nlat:12.5:13|d|T1700000000\n"
		"q:+5|g\nt:7|ms\nh:2|h\n", l, &n);
	assert_string_equal(o,
		"{\"kind\":\"metric\",\"type\":\"api.requests\",\"data\":{\"value\":30,\"metric_type\":\"counter\","
		"\"sample_rate\":0.1,\"tags\":{\"region\":\"eu\",\"canary\":\"\"}}}\n"
		"{\"kind\":\"metric\",\"type\":\"lat\",\"time\":\"2023-11-14T22:13:20.000000Z\",\"data\":{\"value\":12.5,"
		"\"metric_type\":\"distribution\"}}\n"
		"{\"kind\":\"metric\",\"type\":\"lat\",\"time\":\"2023-11-14T22:13:20.000000Z\",\"data\":{\"value\":13,"
		"\"metric_type\":\"distribution\"}}\n"
		"{\"kind\":\"metric\",\"type\":\"q\",\"data\":{\"value\":5,\"metric_type\":\"gauge\",\"gauge_delta\":true}}\n"
		"{\"kind\":\"metric\",\"type\":\"t\",\"data\":{\"value\":7,\"metric_type\":\"timer\"}}\n"
		"{\"kind\":\"metric\",\"type\":\"h\",\"data\":{\"value\":2,\"metric_type\":\"histogram\"}}\n");
	assert_int_equal(n, 6);
	uint32_t want[6] = { 1, 3, 3, 4, 5, 6 };
	for (int i = 0; i < 6; i++)
		assert_int_equal(l[i], want[i]);
}

static void statsd_refusals_name_the_line(void **st)
{
	(void)st;
	conv_bad(eg_mt_statsd, "a:1|c\nb:1|s\n", "line 2: type s (a set)");
	conv_bad(eg_mt_statsd, "a:1|x\n", "type: expected c, g, ms, h or d");
	conv_bad(eg_mt_statsd, "a1|c\n", "expected name:value|type");
	conv_bad(eg_mt_statsd, "a:one|c\n", "value: expected a number");
	conv_bad(eg_mt_statsd, "a:1|c|@0\n", "sample rate: expected");
	conv_bad(eg_mt_statsd, "a:1|c|@1.5\n", "sample rate: expected");
	conv_bad(eg_mt_statsd, "a:1|c|#a:1,a:2\n", "tag \"a\" is given twice");
	conv_bad(eg_mt_statsd, "a:1|c|#,x\n", "tags: expected TAG");
	conv_bad(eg_mt_statsd, "a:1|c|q\n", "expected |@RATE");
	conv_bad(eg_mt_statsd, "a:1|c|Tsoon\n", "timestamp: expected T and epoch seconds");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prometheus_sample_with_labels_type_and_ms_timestamp),
		cmocka_unit_test(prometheus_escapes_blank_lines_and_no_timestamp),
		cmocka_unit_test(prometheus_family_types_reach_suffixed_samples),
		cmocka_unit_test(prometheus_name_label_is_never_a_tag),
		cmocka_unit_test(prometheus_values_become_json_numbers_or_strings),
		cmocka_unit_test(openmetrics_seconds_exemplars_and_eof),
		cmocka_unit_test(prometheus_refusals_name_the_line),
		cmocka_unit_test(statsd_types_rates_tags_and_multi_values),
		cmocka_unit_test(statsd_refusals_name_the_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
