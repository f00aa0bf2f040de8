/*
 * test_errfp.c — stack-trace text into frames (each language's format,
 * chained exceptions, in_app), --map stacks' rewrite of an envelope, the
 * message normalisation (each placeholder, their order, unicode) and the
 * fingerprint's order of precedence and versions (docs/ERRORS.md).
 */
#include "testutil.h"
#include "errfp.h"
#include "stack.h"

static eg_stack parse(const char *s)
{
	eg_stack st;
	assert_int_equal(eg_stack_parse(s, strlen(s), &st), 0);
	return st;
}

static void frame_is(const eg_stack *st, size_t i, const char *func, const char *file,
		     unsigned line, int in_app)
{
	assert_true(i < st->n);
	const eg_frame *f = &st->f[i];
	if (f->func_len != strlen(func) || memcmp(f->func, func, f->func_len))
		fail_msg("frame %zu: function '%.*s', expected '%s'", i, (int)f->func_len, f->func, func);
	if (f->file_len != strlen(file) || memcmp(f->file, file, f->file_len))
		fail_msg("frame %zu: file '%.*s', expected '%s'", i, (int)f->file_len, f->file, file);
	assert_int_equal(f->line, line);
	assert_int_equal(f->in_app, in_app);
}

static void type_msg_is(const eg_stack *st, const char *type, const char *msg)
{
	assert_int_equal(st->type_len, strlen(type));
	assert_memory_equal(st->type, type, st->type_len);
	assert_int_equal(st->msg_len, strlen(msg));
	if (st->msg_len)
		assert_memory_equal(st->msg, msg, st->msg_len);
}

/* ------------------------------------------------------------ stacks */

static void python_traceback_outermost_first_last_of_a_chain(void **state)
{
	(void)state;
	eg_stack st = parse(
		"Traceback (most recent call last):\n"
		"  File \"/app/old.py\", line 9, in gone\n"
		"    x()\n"
		"KeyError: 'a'\n"
		"\n"
		"During handling of the above exception, another exception occurred:\n"
		"\n"
		"Traceback (most recent call last):\n"
		"  File \"/app/main.py\", line 30, in <module>\n"
		"    main()\n"
		"  File \"/app/billing/charge.py\", line 12, in charge\n"
		"    resp = requests.post(url)\n"
		"  File \"/usr/lib/python3/site-packages/requests/api.py\", line 115, in post\n"
		"    return request('post', url)\n"
		"ValueError: amount 12.50 is not valid for card 4242\n");
	assert_int_equal(st.lang, EG_STACK_PYTHON);
	assert_int_equal(st.n, 3);
	frame_is(&st, 0, "<module>", "/app/main.py", 30, 1);
	frame_is(&st, 1, "charge", "/app/billing/charge.py", 12, 1);
	frame_is(&st, 2, "post", "/usr/lib/python3/site-packages/requests/api.py", 115, 0);
	type_msg_is(&st, "ValueError", "amount 12.50 is not valid for card 4242");
	eg_stack_free(&st);
}

static void java_trace_reversed_causes_left_out(void **state)
{
	(void)state;
	eg_stack st = parse(
		"Exception in thread \"main\" java.lang.IllegalStateException: order 42 not found\n"
		"\tat com.shop.orders.OrderService.load(OrderService.java:88)\n"
		"\tat com.shop.api.OrderController.get(OrderController.java:41)\n"
		"\tat java.base/java.lang.reflect.Method.invoke(Method.java:568)\n"
		"\tat sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n"
		"Caused by: java.sql.SQLException: timeout\n"
		"\tat org.h2.Driver.connect(Driver.java:10)\n"
		"\t... 5 more\n");
	assert_int_equal(st.lang, EG_STACK_JAVA);
	assert_int_equal(st.n, 4);
	frame_is(&st, 0, "sun.reflect.NativeMethodAccessorImpl.invoke0", "", 0, 0);
	frame_is(&st, 1, "java.lang.reflect.Method.invoke", "Method.java", 568, 0);
	frame_is(&st, 2, "com.shop.api.OrderController.get", "OrderController.java", 41, 1);
	frame_is(&st, 3, "com.shop.orders.OrderService.load", "OrderService.java", 88, 1);
	type_msg_is(&st, "java.lang.IllegalStateException", "order 42 not found");
	eg_stack_free(&st);
}

static void go_panic_first_goroutine(void **state)
{
	(void)state;
	eg_stack st = parse(
		"panic: runtime error: index out of range [5] with length 3\n"
		"\n"
		"goroutine 1 [running]:\n"
		"main.(*Server).handle(0xc000010000, {0x4b2f60, 0x5})\n"
		"\t/home/dev/app/server.go:42 +0x1d\n"
		"main.main()\n"
		"\t/home/dev/app/main.go:12 +0x25\n"
		"runtime.main()\n"
		"\t/usr/local/go/src/runtime/proc.go:250 +0x207\n"
		"\n"
		"goroutine 7 [chan receive]:\n"
		"main.worker()\n"
		"\t/home/dev/app/worker.go:9 +0x1\n");
	assert_int_equal(st.lang, EG_STACK_GO);
	assert_int_equal(st.n, 3);
	frame_is(&st, 0, "runtime.main", "/usr/local/go/src/runtime/proc.go", 250, 0);
	frame_is(&st, 1, "main.main", "/home/dev/app/main.go", 12, 1);
	frame_is(&st, 2, "main.(*Server).handle", "/home/dev/app/server.go", 42, 1);
	type_msg_is(&st, "panic", "runtime error: index out of range [5] with length 3");
	eg_stack_free(&st);
}

static void node_stack_each_frame_shape(void **state)
{
	(void)state;
	eg_stack st = parse(
		"TypeError: Cannot read properties of undefined (reading 'id')\n"
		"    at getUser (/app/src/users.js:14:22)\n"
		"    at async handler (/app/src/routes.js:7:5)\n"
		"    at /app/src/index.js:3:7\n"
		"    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)\n"
		"    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n");
	assert_int_equal(st.lang, EG_STACK_NODE);
	assert_int_equal(st.n, 5);
	frame_is(&st, 0, "process.processTicksAndRejections", "node:internal/process/task_queues", 95, 0);
	frame_is(&st, 1, "Layer.handle", "/app/node_modules/express/lib/router/layer.js", 95, 0);
	frame_is(&st, 2, "", "/app/src/index.js", 3, 1);
	frame_is(&st, 3, "handler", "/app/src/routes.js", 7, 1);
	frame_is(&st, 4, "getUser", "/app/src/users.js", 14, 1);
	type_msg_is(&st, "TypeError", "Cannot read properties of undefined (reading 'id')");
	eg_stack_free(&st);
}

static void unknown_text_has_no_frames(void **state)
{
	(void)state;
	eg_stack st = parse("something went wrong\nat the end of the day\n");
	assert_int_equal(st.n, 0);
	eg_stack_free(&st);
	st = parse("nothing here");
	assert_int_equal(st.n, 0);
	assert_int_equal(st.lang, EG_STACK_NONE);
	eg_stack_free(&st);
	st = parse("");
	assert_int_equal(st.n, 0);
	eg_stack_free(&st);
}

static void map_line_puts_frames_and_keeps_text(void **state)
{
	(void)state;
	const char *line = "{\"kind\":\"error\",\"time\":1,\"data\":{\"service\":\"api\","
			   "\"stack\":\"Traceback (most recent call last):\\n  File \\\"/app/a.py\\\", "
			   "line 3, in f\\n    g()\\nKeyError: 'x'\\n\"}}";
	buf out = { 0 };
	char err[128];
	assert_int_equal(eg_stack_map_line(line, strlen(line), &out, err, sizeof err), 0);
	assert_int_equal(eg_json_validate(out.p, out.n, NULL), 0);
	buf_add(&out, "", 1);
	assert_non_null(strstr(out.p, "\"stack\":[{\"function\":\"f\",\"file\":\"/app/a.py\","
				      "\"line\":3,\"in_app\":true}]"));
	assert_non_null(strstr(out.p, "\"stack_text\":\"Traceback"));
	assert_non_null(strstr(out.p, "\"message\":\"'x'\""));
	assert_non_null(strstr(out.p, "\"type\":\"KeyError\""));
	assert_non_null(strstr(out.p, "\"service\":\"api\""));
	/* no text stack: as it was */
	out.n = 0;
	const char *plain = "{\"type\":\"E\",\"data\":{\"message\":\"m\"}}";
	assert_int_equal(eg_stack_map_line(plain, strlen(plain), &out, err, sizeof err), 0);
	assert_int_equal(out.n, strlen(plain));
	out.n = 0;
	assert_int_equal(eg_stack_map_line("[1]", 3, &out, err, sizeof err), 1);
	free(out.p);
}

/* ------------------------------------------------------------ normalising */

static char *norm(int v, const char *s)
{
	static char keep[4][512];
	static int k;
	buf b = { 0 };
	assert_int_equal(eg_err_normalize(v, s, strlen(s), &b), 0);
	char *o = keep[k++ & 3];
	snprintf(o, 512, "%.*s", (int)b.n, b.p ? b.p : "");
	free(b.p);
	return o;
}

static void normalize_each_placeholder(void **state)
{
	(void)state;
	assert_string_equal(norm(1, "order 42 of 3.5 kg"), "order <num> of <num> kg");
	assert_string_equal(norm(1, "user42 missing"), "user<num> missing");
	assert_string_equal(norm(1, "ptr 0xdeadBEEF bad"), "ptr <hex> bad");
	assert_string_equal(norm(1, "commit 9f86d081884c7d65 lost"), "commit <hex> lost");
	assert_string_equal(norm(1, "id 123e4567-e89b-12d3-a456-426614174000 gone"), "id <uuid> gone");
	assert_string_equal(norm(1, "key 'abc' and \"x y\" and `z`"), "key <str> and <str> and <str>");
	assert_string_equal(norm(1, "can't open /var/data/x.db."), "can't open <path>.");
	assert_string_equal(norm(1, "see ./conf/a.yml and ~/b and C:\\x\\y"),
			    "see <path> and <path> and <path>");
	assert_string_equal(norm(1, "at 2025-01-02T10:11:12.123Z ok"), "at <ts> ok");
	assert_string_equal(norm(1, "at 2025-01-02 10:11:12+02:00 ok"), "at <ts> ok");
	assert_string_equal(norm(1, "on 2025-01-02, at 10:11:12"), "on <ts>, at <ts>");
	/* not words that only look hex, nor the apostrophe of a word */
	assert_string_equal(norm(1, "defaced cafe don't"), "defaced cafe don't");
}

static void normalize_order_specific_first(void **state)
{
	(void)state;
	/* a UUID is hex and numbers; a date numbers; a quote wins over all */
	assert_string_equal(norm(1, "123e4567-e89b-12d3-a456-426614174000"), "<uuid>");
	assert_string_equal(norm(1, "'123e4567-e89b-12d3-a456-426614174000'"), "<str>");
	assert_string_equal(norm(1, "2025-01-02"), "<ts>");
	assert_string_equal(norm(1, "12345678"), "<num>");
	assert_string_equal(norm(1, "1234567a"), "<hex>");
	assert_string_equal(norm(1, "10.0.0.1"), "<num>.<num>");
	assert_string_equal(norm(2, "10.0.0.1"), "<ip>");
	assert_string_equal(norm(1, "bob@example.com"), "bob@example.com");
	assert_string_equal(norm(2, "mail bob.s+1@example.co.uk now"), "mail <email> now");
	assert_string_equal(norm(1, "a  b\n c"), "a  b\n c");
	assert_string_equal(norm(2, "  a  b\n c  "), "a b c");
	assert_string_equal(norm(1, "GET https://h.example/a/1 failed"), "GET https:/<path> failed");
	assert_string_equal(norm(2, "GET https://h.example/a/1?x=2, failed"), "GET <url>, failed");
	assert_string_equal(norm(2, "no account for élodie7@example.com"), "no account for <email>");
}

static void normalize_keeps_unicode(void **state)
{
	(void)state;
	assert_string_equal(norm(1, "Bestellung 17 für Müller fehlt"), "Bestellung <num> für Müller fehlt");
	assert_string_equal(norm(1, "注文 12 が見つかりません"), "注文 <num> が見つかりません");
	assert_string_equal(norm(2, "ユーザー '太郎' 7"), "ユーザー <str> <num>");
}

/* ------------------------------------------------------------ fingerprints */

static int fp(int v, const char *type, const char *data, char out[33])
{
	int r = eg_err_fingerprint(v, type, strlen(type), data, strlen(data), out, NULL);
	assert_true(r > 0);
	return r;
}

static void message_variants_share_a_fingerprint(void **state)
{
	(void)state;
	static const char *const same[] = {
		"{\"message\":\"order 17 for user 'alice' failed at 2025-01-01T10:00:00Z (id 123e4567-e89b-12d3-a456-426614174000, /srv/a.db, 0x1f)\"}",
		"{\"message\":\"order 9023 for user 'bob' failed at 2026-11-30T23:59:59.999+01:00 (id 00000000-0000-4000-8000-00000000abcd, /tmp/other/b.db, 0xffff)\"}",
		"{\"message\":\"order 0 for user \\\"carol\\\" failed at 1999-12-31 (id ABCDEF01-2345-6789-ABCD-EF0123456789, ./x.db, 0x0)\"}",
		"{\"message\":\"order 5 for user 'élodie' failed at 2025-01-01T10:00:00Z (id 123e4567-e89b-12d3-a456-426614174000, /srv/a.db, 0x1f)\",\"service\":\"x\"}",
	};
	char a[33], b[33];
	for (int v = 1; v <= EG_ERR_FP_LATEST; v++) {
		assert_int_equal(fp(v, "OrderError", same[0], a), EG_FP_MESSAGE);
		for (size_t i = 1; i < sizeof same / sizeof *same; i++) {
			fp(v, "OrderError", same[i], b);
			if (strcmp(a, b))
				fail_msg("v%d: variant %zu has another fingerprint", v, i);
		}
		/* another type, another message: another group */
		fp(v, "PaymentError", same[0], b);
		assert_string_not_equal(a, b);
		fp(v, "OrderError", "{\"message\":\"order 17 for user 'alice' timed out\"}", b);
		assert_string_not_equal(a, b);
	}
	/* the versions hash apart */
	fp(1, "OrderError", same[0], a);
	fp(2, "OrderError", same[0], b);
	assert_string_not_equal(a, b);
}

/* A template's markers filled at random: %n number, %u UUID, %q quoted
 * value (ASCII or not), %p path, %h hex, %t time, %e e-mail, %i IPv4. */
static void fill(const char *tpl, uint64_t *seed, char *out, size_t cap)
{
	static const char *const words[] = { "alice", "b o b", "Müller", "太郎", "x-1_y", "" };
	size_t n = 0;
	out[0] = 0;
	for (const char *p = tpl; *p && n + 80 < cap; p++) {
		if (*p != '%') {
			out[n++] = *p;
			continue;
		}
		uint64_t r = tu_rnd(seed);
		switch (*++p) {
		case 'n': n += (size_t)snprintf(out + n, cap - n, "%llu", (unsigned long long)(r % 100000)); break;
		case 'u': n += (size_t)snprintf(out + n, cap - n, "%08llx-%04llx-4%03llx-a%03llx-%012llx",
						(unsigned long long)(r & 0xffffffff), (unsigned long long)(r >> 48),
						(unsigned long long)(r >> 52), (unsigned long long)(r >> 40 & 0xfff),
						(unsigned long long)(r & 0xffffffffffffULL)); break;
		case 'q': n += (size_t)snprintf(out + n, cap - n, r & 1 ? "'%s'" : "\"%s\"", words[r / 2 % 6]); break;
		case 'p': n += (size_t)snprintf(out + n, cap - n, "/var/lib/app%llu/%s.db",
						(unsigned long long)(r % 7), r & 1 ? "main" : "x.y"); break;
		case 'h': n += (size_t)snprintf(out + n, cap - n, "0x%llx", (unsigned long long)(r | 1)); break;
		case 't': n += (size_t)snprintf(out + n, cap - n, "20%02llu-%02llu-%02lluT%02llu:%02llu:%02llu.%03lluZ",
						(unsigned long long)(r % 99), (unsigned long long)(r / 7 % 12 + 1),
						(unsigned long long)(r / 11 % 28 + 1), (unsigned long long)(r / 13 % 24),
						(unsigned long long)(r / 17 % 60), (unsigned long long)(r / 19 % 60),
						(unsigned long long)(r / 23 % 1000)); break;
		case 'e': n += (size_t)snprintf(out + n, cap - n, "u%llu.%s@mail%llu.example.org",
						(unsigned long long)(r % 1000), r & 1 ? "a" : "b-c", (unsigned long long)(r % 9)); break;
		case 'i': n += (size_t)snprintf(out + n, cap - n, "%llu.%llu.%llu.%llu", (unsigned long long)(r % 256),
						(unsigned long long)(r >> 8 & 255), (unsigned long long)(r >> 16 & 255),
						(unsigned long long)(r >> 24 & 255)); break;
		}
	}
	out[n] = 0;
}

static void random_variants_of_each_template_share_a_fingerprint(void **state)
{
	(void)state;
	static const char *const v1[] = {
		"order %n not found", "user %q has no cart %u", "cannot open %p: denied since %t",
		"bad pointer %h in frame %n", "%n items, %n left, %q said at %t (%u)",
		"Zeitüberschreitung nach %n ms für %q", "ключ %q не найден в %p",
	};
	static const char *const v2_only[] = { "no account for %e", "connect %i:%n refused" };
	char msg[512], data[1200], want[33], got[33];
	uint64_t seed = 7;
	char firsts[16][33];
	size_t nf = 0;
	for (int v = 1; v <= 2; v++) {
		size_t nt = sizeof v1 / sizeof *v1 + (v == 2 ? sizeof v2_only / sizeof *v2_only : 0);
		for (size_t t = 0; t < nt; t++) {
			const char *tpl = t < sizeof v1 / sizeof *v1 ? v1[t] : v2_only[t - sizeof v1 / sizeof *v1];
			for (int k = 0; k < 300; k++) {
				fill(tpl, &seed, msg, sizeof msg);
				buf b = { 0 };
				buf_puts(&b, "{\"message\":");
				buf_quote(&b, msg, strlen(msg));
				buf_puts(&b, "}");
				snprintf(data, sizeof data, "%.*s", (int)b.n, b.p);
				free(b.p);
				fp(v, "E", data, k ? got : want);
				if (k && strcmp(want, got))
					fail_msg("v%d: '%s' from '%s' has another fingerprint", v, msg, tpl);
			}
			/* each template its own group */
			for (size_t j = 0; j < nf; j++)
				assert_string_not_equal(firsts[j], want);
			if (nf < 16)
				strcpy(firsts[nf++], want);
		}
	}
}

static void explicit_fingerprint_wins(void **state)
{
	(void)state;
	char a[33], b[33], c[33];
	assert_int_equal(fp(1, "E", "{\"message\":\"x 1\",\"fingerprint\":\"db-down\"}", a), EG_FP_EXPLICIT);
	fp(1, "Other", "{\"message\":\"y\",\"fingerprint\":\"db-down\",\"stack\":[{\"function\":\"f\",\"file\":\"a\"}]}", b);
	assert_string_equal(a, b);
	/* an array; {{ default }} stands for the default parts */
	fp(1, "E", "{\"message\":\"x 1\",\"fingerprint\":[\"{{ default }}\",\"eu\"]}", a);
	fp(1, "E", "{\"message\":\"x 2\",\"fingerprint\":[\"{{ default }}\",\"eu\"]}", b);
	fp(1, "E", "{\"message\":\"x 2\",\"fingerprint\":[\"{{ default }}\",\"us\"]}", c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	/* ["a","b"] is not the string "ab" */
	fp(1, "E", "{\"fingerprint\":[\"a\",\"b\"]}", a);
	fp(1, "E", "{\"fingerprint\":\"ab\"}", b);
	assert_string_not_equal(a, b);
	/* an empty array is none */
	assert_int_equal(fp(1, "E", "{\"message\":\"m\",\"fingerprint\":[]}", a), EG_FP_MESSAGE);
}

static void in_app_frames_without_lines(void **state)
{
	(void)state;
	char a[33], b[33], c[33];
	const char *s1 = "{\"message\":\"a\",\"stack\":[{\"function\":\"lib\",\"file\":\"/x/site-packages/l.py\",\"line\":1,\"in_app\":false},{\"function\":\"f\",\"file\":\"/app/a.py\",\"line\":3,\"in_app\":true}]}";
	const char *s2 = "{\"message\":\"b\",\"stack\":[{\"function\":\"lib2\",\"file\":\"/x/other.py\",\"line\":9,\"in_app\":false},{\"function\":\"f\",\"file\":\"/app/a.py\",\"line\":99,\"in_app\":true}]}";
	const char *s3 = "{\"message\":\"a\",\"stack\":[{\"function\":\"g\",\"file\":\"/app/a.py\",\"line\":3,\"in_app\":true}]}";
	assert_int_equal(fp(1, "E", s1, a), EG_FP_STACK);
	fp(1, "E", s2, b);
	fp(1, "E", s3, c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	/* the same frames as text: the same group as the JSON frames */
	const char *t = "{\"message\":\"q\",\"stack\":\"Traceback (most recent call last):\\n  File \\\"/x/site-packages/l.py\\\", line 1, in lib\\n  File \\\"/app/a.py\\\", line 7, in f\\nE: q\\n\"}";
	fp(1, "E", t, b);
	assert_string_equal(a, b);
	/* no frame in app: all of them count */
	const char *n1 = "{\"stack\":[{\"function\":\"x\",\"file\":\"p\",\"in_app\":false}]}";
	const char *n2 = "{\"stack\":[{\"function\":\"y\",\"file\":\"p\",\"in_app\":false}]}";
	assert_int_equal(fp(1, "E", n1, a), EG_FP_STACK);
	fp(1, "E", n2, b);
	assert_string_not_equal(a, b);
}

static void version_2_groups_by_base_name(void **state)
{
	(void)state;
	char a[33], b[33];
	const char *d1 = "{\"stack\":[{\"function\":\"f\",\"file\":\"/srv/releases/1.2.0/app/a.py\",\"in_app\":true}]}";
	const char *d2 = "{\"stack\":[{\"function\":\"f\",\"file\":\"/srv/releases/1.3.0/app/a.py\",\"in_app\":true}]}";
	fp(1, "E", d1, a);
	fp(1, "E", d2, b);
	assert_string_not_equal(a, b);
	fp(2, "E", d1, a);
	fp(2, "E", d2, b);
	assert_string_equal(a, b);
	/* closure numbers */
	fp(2, "E", "{\"stack\":[{\"function\":\"main.main.func1\",\"file\":\"m.go\"}]}", a);
	fp(2, "E", "{\"stack\":[{\"function\":\"main.main.func2\",\"file\":\"m.go\"}]}", b);
	assert_string_equal(a, b);
}

static void title_is_type_and_first_line_cut(void **state)
{
	(void)state;
	char f[33];
	buf t = { 0 };
	const char *d = "{\"message\":\"user 42 not found\\nmore\"}";
	assert_true(eg_err_fingerprint(1, "KeyError", 8, d, strlen(d), f, &t) > 0);
	assert_int_equal(t.n, strlen("KeyError: user <num> not found"));
	assert_memory_equal(t.p, "KeyError: user <num> not found", t.n);
	t.n = 0;
	char big[400];
	strcpy(big, "{\"message\":\"");
	for (int i = 0; i < 120; i++)
		strcat(big, "é");
	strcat(big, "\"}");
	assert_true(eg_err_fingerprint(1, "E", 1, big, strlen(big), f, &t) > 0);
	assert_true(t.n <= EG_ERR_TITLE_MAX + 3);
	assert_int_equal(eg_json_utf8_valid(t.p, t.n), 1);
	assert_memory_equal(t.p + t.n - 3, "...", 3);
	free(t.p);
	assert_int_equal(eg_err_fingerprint(9, "E", 1, "{}", 2, f, NULL), -2);
	/* odd data counts as none */
	assert_int_equal(eg_err_fingerprint(1, "E", 1, "[1]", 3, f, NULL), EG_FP_MESSAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(python_traceback_outermost_first_last_of_a_chain),
		cmocka_unit_test(java_trace_reversed_causes_left_out),
		cmocka_unit_test(go_panic_first_goroutine),
		cmocka_unit_test(node_stack_each_frame_shape),
		cmocka_unit_test(unknown_text_has_no_frames),
		cmocka_unit_test(map_line_puts_frames_and_keeps_text),
		cmocka_unit_test(normalize_each_placeholder),
		cmocka_unit_test(normalize_order_specific_first),
		cmocka_unit_test(normalize_keeps_unicode),
		cmocka_unit_test(message_variants_share_a_fingerprint),
		cmocka_unit_test(random_variants_of_each_template_share_a_fingerprint),
		cmocka_unit_test(explicit_fingerprint_wins),
		cmocka_unit_test(in_app_frames_without_lines),
		cmocka_unit_test(version_2_groups_by_base_name),
		cmocka_unit_test(title_is_type_and_first_line_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
