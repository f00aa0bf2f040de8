/*
 * serve_parse.c — what engram serve parses of a request itself (see
 * serve_parse.h): no libmicrohttpd here, only text in and values out.
 */
#include "serve_parse.h"
#include "json.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* n decimal digits at s into *v: 0, or -1 (none, another character, or
 * more than 64 bits). */
static int digits(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	if (!n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int srv_ndjson_type(const char *t)
{
	if (!t)
		return 1;
	size_t n = strcspn(t, ";");
	while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	return (n == 20 && !strncasecmp(t, "application/x-ndjson", n)) ||
	       (n == 16 && !strncasecmp(t, "application/json", n)) ||
	       (n == 10 && !strncasecmp(t, "text/plain", n)) ||
	       (n == 21 && !strncasecmp(t, "application/jsonlines", n));
}

int srv_expected_version(const char *v, int64_t *res)
{
	uint64_t n;
	if (!v || !strcmp(v, "any"))
		*res = -1;
	else if (!strcmp(v, "new"))
		*res = 0;
	else if (!digits(v, strlen(v), &n) && n <= INT64_MAX)
		*res = (int64_t)n;
	else
		return -1;
	return 0;
}

int srv_line_stream(const char *p, size_t len, const char *dflt, char *buf, size_t cap,
		    size_t *n)
{
	json_obj it;
	json_span k, v;
	json_err je;
	int r, any = 0;
	const char *s = dflt;
	size_t sn = strlen(dflt);
	if (eg_json_obj_begin(&it, p, len, &je))
		return -1;
	while ((r = eg_json_obj_next(&it, &k, &v, &je)) == 1) {
		char key[24];
		if (k.n > sizeof key || eg_json_string_decode(&k, key) != 6 ||
		    memcmp(key, "stream", 6))
			continue;
		/* the store refuses a repeated "stream": any copy must be allowed */
		if (any++)
			return -1;
		if (v.type == JSON_NULL)
			continue;
		if (v.type != JSON_STRING)
			return 0;
		if (v.n > cap)
			return -1;
		sn = eg_json_string_decode(&v, buf);
		s = buf;
	}
	if (r < 0)
		return -1;
	if (s != buf) {
		if (sn > cap)
			return -1;
		memcpy(buf, s, sn);
	}
	*n = sn;
	return 1;
}

int srv_ack_pos(const char *body, size_t len, uint64_t *pos, char *err, size_t cap)
{
	json_obj it;
	json_span key, val;
	json_err je;
	int r, found = 0;
	if (!body || eg_json_obj_begin(&it, body, len, &je)) {
		snprintf(err, cap, "body: expected a JSON object {\"pos\": P}");
		return -1;
	}
	while ((r = eg_json_obj_next(&it, &key, &val, &je)) == 1) {
		if (key.n != 5 || memcmp(key.p, "\"pos\"", 5))
			continue;
		found = val.type == JSON_NUMBER && !digits(val.p, val.n, pos);
		if (!found)
			break;
	}
	if (r < 0) {
		snprintf(err, cap, "body: invalid JSON at byte %zu: %s", je.off, je.what);
		return -1;
	}
	if (!found) {
		snprintf(err, cap, "pos: expected a position (a whole number) in {\"pos\": P}");
		return -1;
	}
	return 0;
}
