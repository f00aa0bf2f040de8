/*
 * path.c — field paths (path.h): parsing "data.a.b" once into its member
 * names, so that following it through each event's payload is a walk of
 * eg_json_member calls, and printing what a path finds as JSON.
 */
#include "path.h"
#include "buf.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char PATH_HELP[] =
	"expected a field path: stream, type, actor, session, time, recorded, "
	"id, version, pos, or data.NAME[.NAME...] or meta.NAME[...]";

/* The envelope paths, in the order of enum eg_path_root. */
static const char *const ROOTS[] = { "stream", "type", "actor", "session", "time",
				     "recorded", "id", "version", "pos" };

/* Split what follows "data." or "meta." at its dots into p->seg. */
static int parse_members(eg_path *p, const char *rest, char *why, size_t whylen)
{
	for (const char *q = rest;;) {
		const char *dot = strchr(q, '.');
		size_t n = dot ? (size_t)(dot - q) : strlen(q);
		if (n == 0) {
			snprintf(why, whylen, "empty member name in \"%s\"; %s", p->text, PATH_HELP);
			return -1;
		}
		char **seg = realloc(p->seg, (size_t)(p->nseg + 1) * sizeof *seg);
		if (seg)
			p->seg = seg;
		if (!seg || !(seg[p->nseg] = strndup(q, n))) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		p->nseg++;
		if (!dot)
			return 0;
		q = dot + 1;
	}
}

int eg_path_parse(const json_span *v, eg_path *p, char *why, size_t whylen)
{
	memset(p, 0, sizeof *p);
	if (v->type != JSON_STRING) {
		snprintf(why, whylen, "%s", PATH_HELP);
		return -1;
	}
	char *t = malloc(v->n + 1);
	if (!t) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	t[eg_json_string_decode(v, t)] = 0;
	p->text = t;
	for (int i = 0; i < (int)(sizeof ROOTS / sizeof *ROOTS); i++)
		if (!strcmp(t, ROOTS[i])) {
			p->root = i;
			return 0;
		}
	if (!strncmp(t, "data.", 5))
		p->root = EG_PATH_DATA;
	else if (!strncmp(t, "meta.", 5))
		p->root = EG_PATH_META;
	else {
		snprintf(why, whylen, "%s; got \"%s\"", PATH_HELP, t);
		return -1;
	}
	return parse_members(p, t + 5, why, whylen);
}

void eg_path_free(eg_path *p)
{
	free(p->text);
	for (int i = 0; i < p->nseg; i++)
		free(p->seg[i]);
	free(p->seg);
}

int eg_path_get(const eg_event *e, const eg_path *p, json_span *out)
{
	json_span v;
	if (p->root == EG_PATH_DATA) {
		v = (json_span){ e->data, e->data_len, JSON_OBJECT };
	} else if (p->root == EG_PATH_META) {
		if (!e->meta_len)
			return 0;
		v = (json_span){ e->meta, e->meta_len, JSON_OBJECT };
	} else {
		return 0;
	}
	for (int i = 0; i < p->nseg; i++)
		if (!eg_json_member(&v, p->seg[i], strlen(p->seg[i]), &v))
			return 0;
	if (v.type == JSON_NULL)
		return 0;
	*out = v;
	return 1;
}

int eg_path_json(const eg_event *e, const eg_path *p, const json_span *found, buf *b)
{
	const char *s = NULL;
	size_t n = 0;
	char t[EG_TIME_LEN + 2];
	switch (p->root) {
	case EG_PATH_STREAM: s = e->stream, n = e->stream_len; break;
	case EG_PATH_TYPE: s = e->type, n = e->type_len; break;
	case EG_PATH_ACTOR: s = e->actor, n = e->actor_len; break;
	case EG_PATH_SESSION: s = e->session, n = e->session_len; break;
	case EG_PATH_ID: s = e->id, n = e->id_len; break;
	case EG_PATH_TIME: case EG_PATH_RECORDED:
		t[0] = '"';
		eg_time_format(p->root == EG_PATH_TIME ? e->time : e->recorded, t + 1);
		t[EG_TIME_LEN + 1] = '"';
		return buf_add(b, t, sizeof t);
	case EG_PATH_VERSION: case EG_PATH_POS: {
		uint64_t v = p->root == EG_PATH_POS ? e->pos : e->version;
		if (p->root == EG_PATH_VERSION && !v)
			return buf_add(b, "null", 4);
		int k = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
		return buf_add(b, t, (size_t)k);
	}
	default: {
		json_span v = { 0 };
		if (found)
			v = *found;
		else if (!eg_path_get(e, p, &v))
			v.p = NULL;
		/* stored data is minified */
		return v.p ? buf_add(b, v.p, v.n) : buf_add(b, "null", 4);
	}
	}
	if (!n)
		return buf_add(b, "null", 4);
	if (buf_reserve(b, 6 * n + 2))
		return -1;
	b->n += eg_json_quote(s, n, b->p + b->n);
	return 0;
}
