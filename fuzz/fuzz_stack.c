/*
 * fuzz_stack.c — libFuzzer target for stack-trace text and error
 * fingerprints (src/util/stack.c, src/util/errfp.c).  The input is parsed
 * as a stack: every frame's texts must lie within it and the frames must
 * print as valid JSON; it is normalised as a message by each version (the
 * output valid UTF-8 when the input is); it is wrapped as data.stack and
 * data.message of an error envelope, which --map stacks must rewrite into
 * valid JSON, and whose fingerprint and title must be computed.
 */
#include "errfp.h"
#include "stack.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static void check_stack(const char *s, size_t n)
{
	eg_stack st;
	CHECK(eg_stack_parse(s, n, &st) == 0);
	for (size_t i = 0; i < st.n; i++) {
		const eg_frame *f = &st.f[i];
		CHECK(!f->func_len || (f->func >= s && f->func + f->func_len <= s + n));
		CHECK(!f->file_len || (f->file >= s && f->file + f->file_len <= s + n));
	}
	CHECK(!st.type_len || (st.type >= s && st.type + st.type_len <= s + n));
	CHECK(!st.msg_len || (st.msg >= s && st.msg + st.msg_len <= s + n));
	buf b = { 0 };
	CHECK(eg_stack_json(&st, &b) == 0);
	if (eg_json_utf8_valid(s, n))
		CHECK(eg_json_validate(b.p, b.n, NULL) == 0);
	free(b.p);
	eg_stack_free(&st);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *s = (const char *)data;
	int utf8 = eg_json_utf8_valid(s, size);
	check_stack(s, size);
	for (int v = 1; v <= EG_ERR_FP_LATEST; v++) {
		buf b = { 0 };
		CHECK(eg_err_normalize(v, s, size, &b) == 0);
		if (utf8)
			CHECK(eg_json_utf8_valid(b.p ? b.p : "", b.n));
		free(b.p);
	}
	if (!utf8)
		return 0;
	/* as an envelope: {"kind":"error","data":{"message":S,"stack":S}} */
	buf env = { 0 }, out = { 0 }, title = { 0 };
	buf_puts(&env, "{\"kind\":\"error\",\"data\":{\"message\":");
	buf_quote(&env, s, size);
	buf_puts(&env, ",\"stack\":");
	buf_quote(&env, s, size);
	buf_puts(&env, "}}");
	char err[128], fp[33];
	CHECK(eg_stack_map_line(env.p, env.n, &out, err, sizeof err) == 0);
	CHECK(eg_json_validate(out.p, out.n, NULL) == 0);
	json_span d;
	json_span obj = { env.p, env.n, JSON_OBJECT };
	CHECK(eg_json_member(&obj, "data", 4, &d));
	for (int v = 1; v <= EG_ERR_FP_LATEST; v++) {
		title.n = 0;
		CHECK(eg_err_fingerprint(v, "E", 1, d.p, d.n, fp, &title) > 0);
		CHECK(strlen(fp) == 32 && eg_json_utf8_valid(title.p, title.n));
	}
	/* the data itself as the fingerprint's input, valid JSON or not */
	if (size && s[0] == '{' && eg_json_validate(s, size, NULL) == 0)
		CHECK(eg_err_fingerprint(2, "E", 1, s, size, fp, NULL) > 0);
	free(env.p);
	free(out.p);
	free(title.p);
	return 0;
}
