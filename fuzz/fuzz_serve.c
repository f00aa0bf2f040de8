/*
 * fuzz_serve.c — libFuzzer target for what engram serve parses of a
 * request itself (cli/serve_parse.c): Content-Type, Expected-Version, the
 * stream of an append's line (for a token's streams pattern) and the body
 * of a consumer's ack.  The first byte picks the parser, the rest is its
 * input.  Beyond not crashing:
 *  - a Content-Type's answer does not change with parameters after ';';
 *  - an Expected-Version taken as a number prints back to the same text;
 *  - a line's stream fits the buffer, and is the default when the line has
 *    no "stream" member (no `stream` text at all);
 *  - an ack's position is a number written in the body.
 */
#include "../cli/serve_parse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* s (n bytes) as a C string (NULs cut it short, as a header would). */
static char *cstr(const unsigned char *s, size_t n)
{
	char *p = malloc(n + 1);
	CHECK(p);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size < 1)
		return 0;
	const unsigned char *in = data + 1;
	size_t n = size - 1;
	switch (data[0] % 4) {
	case 0: {
		char *t = cstr(in, n);
		int a = srv_ndjson_type(t);
		if (!strchr(t, ';')) {
			char *u = malloc(strlen(t) + 20);
			CHECK(u);
			sprintf(u, "%s; charset=utf-8", t);
			CHECK(srv_ndjson_type(u) == a);
			free(u);
		}
		free(t);
		break;
	}
	case 1: {
		char *v = cstr(in, n);
		int64_t r = 7;
		if (srv_expected_version(v, &r) == 0 && strcmp(v, "any") && strcmp(v, "new")) {
			char back[32];
			snprintf(back, sizeof back, "%" PRId64, r);
			CHECK(r >= 0);
			/* the same number, leading zeros aside */
			const char *d = v;
			while (*d == '0' && d[1])
				d++;
			CHECK(!strcmp(back, d));
		}
		free(v);
		break;
	}
	case 2: {
		char buf[64];
		size_t len = 99;
		const char *dflt = n % 2 ? "dflt" : "";
		int r = srv_line_stream((const char *)in, n, dflt, buf, sizeof buf, &len);
		CHECK(r >= -1 && r <= 1);
		if (r == 1) {
			CHECK(len <= sizeof buf);
			if (!memmem(in, n, "stream", 6) && !memmem(in, n, "\\u", 2))
				CHECK(len == strlen(dflt) && !memcmp(buf, dflt, len));
		}
		break;
	}
	default: {
		char err[128];
		uint64_t pos = 0;
		if (srv_ack_pos((const char *)in, n, &pos, err, sizeof err) == 0) {
			char num[24];
			int k = snprintf(num, sizeof num, "%" PRIu64, pos);
			CHECK(memmem(in, n, num, (size_t)k) != NULL);
		} else {
			CHECK(err[0] != 0);
		}
		break;
	}
	}
	return 0;
}
