/*
 * winspec.c — parsing windows specs (docs/WINDOWS.md).
 *
 * Every error names the JSON path of the offending member and what is
 * allowed there, e.g. "$.window.every: expected a duration no longer than
 * the window (1h)".
 */
#include "chain.h"
#include "win.h"
#include "timefmt.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wctx {
	eg_win_spec *s;
	spec_err e;
} wctx;

#define bad(c, ...) eg_spec_bad(&(c)->e, __VA_ARGS__)

static const char DUR_HELP[] = "expected a duration: " EG_DURATION_FORMS;

/* A duration member; zero_ok: "0" or "0s" (etc.) is accepted as 0; also:
 * what else is allowed, for the message. */
static int duration(wctx *c, const char *where, const json_span *v, int zero_ok,
		    const char *also, int64_t *out)
{
	if (v->type != JSON_STRING)
		return bad(c, where, "%s%s", DUR_HELP, also);
	const char *t = v->p + 1;
	size_t n = v->n - 2;
	if (zero_ok && n >= 1 && t[0] == '0') {
		size_t i = 1;
		while (i < n && t[i] == '0')
			i++;
		static const char *const units[] = { "", "us", "ms", "s", "m", "h", "d" };
		for (size_t u = 0; u < sizeof units / sizeof *units; u++)
			if (n - i == strlen(units[u]) && !memcmp(t + i, units[u], n - i)) {
				*out = 0;
				return 0;
			}
	}
	if (eg_duration_parse(t, n, out))
		return bad(c, where, "%s%s; got %.*s", DUR_HELP, also, (int)v->n, v->p);
	return 0;
}

static int window(wctx *c, const json_span *v)
{
	eg_win_spec *s = c->s;
	static const char HELP[] = "expected {\"tumble\": D}, {\"hop\": D, \"every\": S} or "
				   "{\"session\": GAP}";
	if (v->type != JSON_OBJECT)
		return bad(c, "$.window", "%s", HELP);
	json_obj it;
	json_span k, x, every = { 0 };
	int kinds = 0, r;
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while ((r = eg_json_obj_next(&it, &k, &x, NULL)) == 1) {
		if (eg_proj_key_is(&k, "tumble") || eg_proj_key_is(&k, "hop") ||
		    eg_proj_key_is(&k, "session")) {
			char w[64];
			s->kind = eg_proj_key_is(&k, "tumble") ? W_TUMBLE :
				  eg_proj_key_is(&k, "hop") ? W_HOP : W_SESSION;
			snprintf(w, sizeof w, "$.window.%.*s", (int)k.n - 2, k.p + 1);
			if (duration(c, w, &x, 0, "", &s->size))
				return -1;
			kinds++;
		} else if (eg_proj_key_is(&k, "every")) {
			every = x;
		} else {
			char *kn = eg_json_string_dup(&k, NULL);
			char w[300];
			snprintf(w, sizeof w, "$.window.%s", kn ? kn : "?");
			free(kn);
			return bad(c, w, "unknown window member; %s", HELP);
		}
	}
	if (kinds != 1)
		return bad(c, "$.window", "%s (exactly one kind)", HELP);
	s->every = s->size;
	if (s->kind == W_HOP) {
		if (!every.p)
			return bad(c, "$.window.every", "missing: a hopping window needs \"every\"");
		if (duration(c, "$.window.every", &every, 0, "", &s->every))
			return -1;
		if (s->every > s->size) {
			char d[32];
			eg_duration_format(s->size, d);
			return bad(c, "$.window.every", "expected a duration no longer than the "
				   "window (%s)", d);
		}
		if (s->size % s->every)
			return bad(c, "$.window.every", "expected a duration that divides the window "
				   "length evenly");
	} else if (every.p) {
		return bad(c, "$.window.every", "only a hopping window takes \"every\"");
	}
	return 0;
}

static const char AGG_HELP[] =
	"expected {\"count\": true} or one of {\"sum\"|\"min\"|\"max\"|\"avg\"|"
	"\"count_distinct\"|\"p50\"|\"p90\"|\"p95\"|\"p99\": PATH}";

static int agg(wctx *c, const json_span *name, const json_span *v, waggspec *a)
{
	char w[300];
	if (!(a->name = eg_json_string_dup(name, NULL)))
		return bad(c, "$.aggs", "out of memory");
	snprintf(w, sizeof w, "$.aggs.%s", a->name);
	if (!a->name[0])
		return bad(c, w, "expected a non-empty name");
	if (v->type != JSON_OBJECT)
		return bad(c, w, "%s", AGG_HELP);
	static const struct { const char *key; int agg; double q; } kinds[] = {
		{ "count", WA_COUNT, 0 }, { "sum", WA_SUM, 0 }, { "min", WA_MIN, 0 },
		{ "max", WA_MAX, 0 }, { "avg", WA_AVG, 0 }, { "count_distinct", WA_DISTINCT, 0 },
		{ "p50", WA_PCT, 0.5 }, { "p90", WA_PCT, 0.9 }, { "p95", WA_PCT, 0.95 },
		{ "p99", WA_PCT, 0.99 },
	};
	json_obj it;
	json_span k, x;
	int n = 0, r;
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while ((r = eg_json_obj_next(&it, &k, &x, NULL)) == 1) {
		size_t i = 0;
		while (i < sizeof kinds / sizeof *kinds && !eg_proj_key_is(&k, kinds[i].key))
			i++;
		char wk[400];
		snprintf(wk, sizeof wk, "%s.%.*s", w, (int)k.n - 2, k.p + 1);
		if (i == sizeof kinds / sizeof *kinds)
			return bad(c, wk, "unknown aggregate; %s", AGG_HELP);
		if (n++)
			return bad(c, w, "one aggregate per name; %s", AGG_HELP);
		a->agg = kinds[i].agg;
		a->q = kinds[i].q;
		if (a->agg == WA_COUNT) {
			if (x.type != JSON_TRUE)
				return bad(c, wk, "expected true");
			continue;
		}
		char why[400];
		if (eg_path_parse(&x, &a->path, why, sizeof why))
			return bad(c, wk, "%s", why);
	}
	if (!n)
		return bad(c, w, "%s", AGG_HELP);
	return 0;
}

static int group_by(wctx *c, const json_span *v)
{
	eg_win_spec *s = c->s;
	if (v->type != JSON_ARRAY)
		return bad(c, "$.group_by", "expected an array of field paths");
	json_arr it;
	json_span e;
	eg_json_arr_begin(&it, v);
	while (eg_json_arr_next(&it, &e)) {
		char w[64], why[400];
		snprintf(w, sizeof w, "$.group_by[%d]", s->ngroup);
		if (s->ngroup == WIN_MAX_GROUPS)
			return bad(c, w, "at most %d group-by paths", WIN_MAX_GROUPS);
		if (eg_path_parse(&e, &s->group[s->ngroup++], why, sizeof why))
			return bad(c, w, "%s", why);
		for (int i = 0; i < s->ngroup - 1; i++)
			if (!strcmp(s->group[i].text, s->group[s->ngroup - 1].text))
				return bad(c, w, "\"%s\" is already grouped by", s->group[i].text);
	}
	return 0;
}

static int type_list(wctx *c, const json_span *v)
{
	eg_win_spec *s = c->s;
	if (v->type != JSON_ARRAY)
		return bad(c, "$.types", "expected an array of event type names");
	json_arr it;
	json_span e;
	eg_json_arr_begin(&it, v);
	while (eg_json_arr_next(&it, &e)) {
		char w[64];
		snprintf(w, sizeof w, "$.types[%d]", s->ntypes);
		if (e.type != JSON_STRING || e.n <= 2)
			return bad(c, w, "expected a non-empty event type name (a string)");
		if (s->ntypes == WIN_MAX_TYPES)
			return bad(c, w, "at most %d event types", WIN_MAX_TYPES);
		char **t = realloc(s->types, (size_t)(s->ntypes + 2) * sizeof *t);
		if (!t)
			return bad(c, w, "out of memory");
		s->types = t;
		if (!(t[s->ntypes] = eg_json_string_dup(&e, NULL)))
			return bad(c, w, "out of memory");
		t[++s->ntypes] = NULL;
	}
	if (!s->ntypes)
		return bad(c, "$.types", "expected at least one event type name");
	return 0;
}

static int spec_hash(eg_win_spec *s)
{
	const EVP_MD *md = eg_chain_sha256();
	EVP_MD_CTX *m = md ? EVP_MD_CTX_new() : NULL;
	char line[1024];
	int ok = m && EVP_DigestInit_ex(m, md, NULL) == 1;
#define PUT(...) do {                                                          \
		int k_ = snprintf(line, sizeof line, __VA_ARGS__);             \
		ok = ok && k_ > 0 && EVP_DigestUpdate(m, line, (size_t)k_) == 1; \
	} while (0)
	PUT("engram-windows 2\nkind %d size %lld every %lld wm %lld late %lld\n", s->kind,
	    (long long)s->size, (long long)s->every, (long long)s->watermark,
	    (long long)s->lateness);
	if (s->wm_heartbeats)
		PUT("wm heartbeats\n");
	for (int i = 0; i < s->ntypes; i++)
		PUT("type %zu:%.900s\n", strlen(s->types[i]), s->types[i]);
	for (int i = 0; i < s->ngroup; i++)
		PUT("group %.900s\n", s->group[i].text);
	for (int i = 0; i < s->na; i++)
		PUT("agg %zu:%.500s %d %.3f %.400s\n", strlen(s->a[i].name), s->a[i].name,
		    s->a[i].agg, s->a[i].q, s->a[i].path.text ? s->a[i].path.text : "-");
#undef PUT
	unsigned int n = 0;
	ok = ok && EVP_DigestFinal_ex(m, s->hash, &n) == 1 && n == 32;
	EVP_MD_CTX_free(m);
	return ok ? 0 : -1;
}

static int parse(wctx *c, const char *json, size_t n)
{
	eg_win_spec *s = c->s;
	if (eg_spec_check_json(&c->e, json, n))
		return -1;
	static const char MEMBERS[] = "a spec has \"name\", \"types\", \"window\", \"group_by\", "
				      "\"aggs\", \"watermark\", \"allowed_lateness\" and \"upcast\"";
	json_obj it;
	json_span k, v, win = { 0 }, aggs = { 0 };
	if (eg_json_obj_begin(&it, json, n, NULL))
		return bad(c, "$", "expected a JSON object: %s", MEMBERS);
	int r;
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		if (eg_proj_key_is(&k, "name")) {
			if (v.type != JSON_STRING)
				return bad(c, "$.name", "expected a string");
			free(s->name);
			if (!(s->name = eg_json_string_dup(&v, NULL)))
				return bad(c, "$.name", "out of memory");
		} else if (eg_proj_key_is(&k, "types")) {
			if (type_list(c, &v))
				return -1;
		} else if (eg_proj_key_is(&k, "window")) {
			win = v;
		} else if (eg_proj_key_is(&k, "group_by")) {
			if (group_by(c, &v))
				return -1;
		} else if (eg_proj_key_is(&k, "aggs")) {
			aggs = v;
		} else if (eg_proj_key_is(&k, "watermark")) {
			if (v.type == JSON_STRING && v.n == 12 && !memcmp(v.p, "\"heartbeats\"", 12))
				s->wm_heartbeats = 1;
			else if (duration(c, "$.watermark", &v, 1, ", 0, or \"heartbeats\"",
					  &s->watermark))
				return -1;
		} else if (eg_proj_key_is(&k, "upcast")) {
			if (v.type != JSON_TRUE && v.type != JSON_FALSE)
				return bad(c, "$.upcast", "expected true (the default: events at their "
					   "type's latest schema version) or false (as stored)");
			s->no_upcast = v.type == JSON_FALSE;
		} else if (eg_proj_key_is(&k, "allowed_lateness")) {
			if (v.type == JSON_STRING && v.n == 9 && !memcmp(v.p, "\"forever\"", 9))
				s->lateness = WIN_FOREVER;
			else if (duration(c, "$.allowed_lateness", &v, 1, ", 0, or \"forever\"",
					  &s->lateness))
				return -1;
		} else {
			char *kn = eg_json_string_dup(&k, NULL);
			char w[300];
			snprintf(w, sizeof w, "$.%s", kn ? kn : "?");
			free(kn);
			return bad(c, w, "unknown member; %s", MEMBERS);
		}
	}
	if (!win.p)
		return bad(c, "$.window", "missing: expected {\"tumble\": D}, {\"hop\": D, "
			   "\"every\": S} or {\"session\": GAP}");
	if (window(c, &win))
		return -1;
	if (!aggs.p)
		return bad(c, "$.aggs", "missing: expected an object of name to aggregate");
	if (aggs.type != JSON_OBJECT)
		return bad(c, "$.aggs", "expected an object of name to aggregate");
	eg_json_obj_begin(&it, aggs.p, aggs.n, NULL);
	while ((r = eg_json_obj_next(&it, &k, &v, NULL)) == 1) {
		if (s->na == WIN_MAX_AGGS)
			return bad(c, "$.aggs", "at most %d aggregates", WIN_MAX_AGGS);
		waggspec *a = &s->a[s->na++];
		if (agg(c, &k, &v, a))
			return -1;
		for (int i = 0; i < s->na - 1; i++)
			if (!strcmp(s->a[i].name, a->name)) {
				char w[300];
				snprintf(w, sizeof w, "$.aggs.%s", a->name);
				return bad(c, w, "the aggregate is defined twice");
			}
		static const char *const fixed[] = { "window_start", "window_end", "revision",
						     "final", "too_late" };
		for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
			if (!strcmp(a->name, fixed[i])) {
				char w[300];
				snprintf(w, sizeof w, "$.aggs.%s", a->name);
				return bad(c, w, "the name is taken by an output column");
			}
	}
	if (s->na == 0)
		return bad(c, "$.aggs", "expected at least one aggregate");
	if (!s->name && !(s->name = strdup("windows")))
		return bad(c, "$.name", "out of memory");
	if (spec_hash(s))
		return bad(c, "$", "cannot hash the spec (out of memory)");
	return 0;
}

int eg_win_spec_parse(const char *json, size_t n, eg_win_spec **out, char *err, size_t errlen)
{
	*out = NULL;
	if (errlen)
		err[0] = 0;
	eg_win_spec *s = calloc(1, sizeof *s);
	if (!s)
		return EG_ENOMEM;
	wctx c = { s, { err, errlen, 0 } };
	if (!(s->src = eg_spec_src_dup(json, n))) {
		free(s);
		return EG_ENOMEM;
	}
	s->srclen = n;
	errno = 0;
	if (parse(&c, json, n)) {
		eg_win_spec_free(s);
		/* an allocation failed on the way (its message says so): not
		 * the spec's fault */
		return errno == ENOMEM ? EG_ENOMEM : EG_EINVAL;
	}
	*out = s;
	return EG_OK;
}

void eg_win_spec_free(eg_win_spec *s)
{
	if (!s)
		return;
	free(s->src);
	free(s->name);
	for (int i = 0; i < s->ntypes; i++)
		free(s->types[i]);
	free(s->types);
	for (int i = 0; i < s->ngroup; i++)
		eg_path_free(&s->group[i]);
	for (int i = 0; i < s->na; i++) {
		free(s->a[i].name);
		eg_path_free(&s->a[i].path);
	}
	free(s);
}

const char *eg_win_spec_name(const eg_win_spec *s)
{
	return s->name;
}

const char *eg_win_spec_type(const eg_win_spec *s, size_t i)
{
	return i < (size_t)s->ntypes ? s->types[i] : NULL;
}
