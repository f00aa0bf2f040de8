/*
 * map.c — mappings from the JSON that producers already emit (Segment,
 * Snowplow, or a user's own shape) to the input envelope.
 *
 * A mapping file (docs/MAPPING.md) names, for each envelope field, source
 * paths tried in order.  It compiles into a tree of the member names along
 * those paths, so that a line is read in one validating pass over its top
 * level plus one skip-only pass over each nested object a path goes into,
 * and into the list of envelope fields with their alternatives.  The two
 * built-in mappings are mapping files compiled by the same code.
 */
#include "map.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A mapping is small; these bound the stack a line needs. */
#define MAX_SLOTS 256       /* distinct source paths */
#define MAX_MEMBERS 256     /* members of data or of meta */
#define MAX_PATH 256        /* bytes of one path */
#define MAX_DEPTH 32        /* member names in one path */
#define MAX_KEY 256         /* bytes of an output member name */

const char *const eg_map_field_names[MF_N] = {
	"id", "stream", "type", "kind", "time", "actor", "session", "data", "meta"
};

/* One member name along the source paths.  Node 0 is the line itself. */
typedef struct node {
	const char *name;
	size_t n;
	long index;           /* the name read as an array index, or -1 */
	int slot;             /* a path ends here: its value goes to slots[slot]; else -1 */
	int first, next;      /* children, as a list of node indexes (-1 ends) */
	int nkids, has_index;
	const char **knames;  /* the children's names for eg_json_members_valid */
	size_t *klens;
	int *kids;
} node;

/* One alternative of a field: a source path, or a constant. */
typedef struct src {
	int slot;             /* -1 for a constant */
	json_span cval;       /* the constant, minified */
	const char *text;     /* the path, or "value", for messages */
} src;

/* An envelope field, or one member of data or meta. */
typedef struct target {
	const char *key;      /* data/meta: the member's name, decoded */
	size_t keyn;
	const char *qkey;     /* ... as JSON text with the colon: "key": */
	size_t qkeyn;
	int spread;           /* "*": copy every member of the source object */
	src *alt;
	int nalt;
} target;

typedef struct objmap {
	target *t;
	int n;
} objmap;

typedef struct blk {
	struct blk *next;
	double align;
} blk;

struct eg_map {
	target f[MF_N];       /* scalar fields: id .. session */
	objmap obj[2];        /* data, meta */
	const char *tried[MF_N];
	node *nodes;
	int nnodes, cap;
	int nslots;
	size_t width;         /* values a line may copy out, each at most its length */
	size_t overhead;      /* bytes of the mapping's own names and constants */
	blk *blocks;
};

/* ------------------------------------------------------------- compile */

typedef struct mparse {
	eg_map *m;
	char *err;
	size_t errlen;
	int nomem;
} mparse;

static int merr(mparse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int merr(mparse *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (p->err && p->errlen)
		vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return EG_EINVAL;
}

/* Memory that lives as long as the mapping. */
static void *mk(mparse *p, size_t n)
{
	blk *b = malloc(sizeof *b + n + 1);
	if (!b) {
		p->nomem = 1;
		return NULL;
	}
	b->next = p->m->blocks;
	p->m->blocks = b;
	return b + 1;
}

static char *mkstr(mparse *p, const char *s, size_t n)
{
	char *c = mk(p, n + 1);
	if (c) {
		memcpy(c, s, n);
		c[n] = 0;
	}
	return c;
}

static int nomem(mparse *p)
{
	p->nomem = 1;
	return merr(p, "out of memory");
}

static int new_node(mparse *p, const char *name, size_t n)
{
	eg_map *m = p->m;
	if (m->nnodes == m->cap) {
		int cap = m->cap ? 2 * m->cap : 16;
		node *v = realloc(m->nodes, (size_t)cap * sizeof *v);
		if (!v)
			return -1;
		m->nodes = v;
		m->cap = cap;
	}
	node *nd = &m->nodes[m->nnodes];
	memset(nd, 0, sizeof *nd);
	if (!(nd->name = mkstr(p, name, n)))
		return -1;
	nd->n = n;
	nd->slot = nd->first = nd->next = -1;
	nd->index = -1;
	if (n && n <= 9 && strspn(name, "0123456789") == n && (n == 1 || name[0] != '0'))
		nd->index = strtol(nd->name, NULL, 10);
	return m->nnodes++;
}

static int child(mparse *p, int parent, const char *name, size_t n)
{
	eg_map *m = p->m;
	for (int k = m->nodes[parent].first; k >= 0; k = m->nodes[k].next)
		if (m->nodes[k].n == n && !memcmp(m->nodes[k].name, name, n))
			return k;
	int k = new_node(p, name, n);
	if (k < 0)
		return -1;
	node *par = &m->nodes[parent];
	m->nodes[k].next = par->first;
	par->first = k;
	par->nkids++;
	par->has_index |= m->nodes[k].index >= 0;
	return k;
}

/* Add a dotted path (decoded) to the tree; *slot gets where its value goes. */
static int add_path(mparse *p, const char *where, const char *path, size_t n, int *slot)
{
	if (n == 0)
		return merr(p, "%s: expected a path, got an empty string", where);
	if (n > MAX_PATH)
		return merr(p, "%s: expected a path of at most %d bytes", where, MAX_PATH);
	const char *s = path, *end = path + n;
	int cur = 0, depth = 0;
	for (;;) {
		const char *dot = memchr(s, '.', (size_t)(end - s));
		const char *e = dot ? dot : end;
		if (e == s)
			return merr(p, "%s: path \"%.*s\" has an empty member name", where, (int)n, path);
		if (++depth > MAX_DEPTH)
			return merr(p, "%s: path \"%.*s\" has more than %d members", where, (int)n,
				    path, MAX_DEPTH);
		if ((cur = child(p, cur, s, (size_t)(e - s))) < 0)
			return nomem(p);
		if (!dot)
			break;
		s = dot + 1;
	}
	node *nd = &p->m->nodes[cur];
	if (nd->slot < 0) {
		if (p->m->nslots == MAX_SLOTS)
			return merr(p, "%s: a mapping reads at most %d distinct paths", where, MAX_SLOTS);
		nd->slot = p->m->nslots++;
	}
	*slot = nd->slot;
	return EG_OK;
}

/* Decode a JSON string span into mapping memory. */
static char *decode(mparse *p, const json_span *v, size_t *n)
{
	char *s = mk(p, v->n);
	if (!s)
		return NULL;
	*n = eg_json_string_decode(v, s);
	s[*n] = 0;
	return s;
}

/* What a constant of field f must be, or NULL if anything goes. */
static const char *const_check(int f, int spread, const json_span *v)
{
	if (spread)
		return v->type == JSON_OBJECT ? NULL : "a JSON object";
	switch (f) {
	case MF_TIME:
		return v->type == JSON_STRING || v->type == JSON_NUMBER ? NULL
			: "an RFC 3339 string or epoch milliseconds";
	case MF_DATA:
	case MF_META:
		return NULL;
	default:
		return v->type == JSON_STRING ? NULL : "a string";
	}
}

/* One alternative: "a.b.c" or {"value": CONSTANT}. */
static int parse_src(mparse *p, const char *where, const json_span *v, int f, int spread, src *s)
{
	if (v->type == JSON_STRING) {
		size_t n;
		char *path = decode(p, v, &n);
		if (!path)
			return nomem(p);
		s->text = path;
		return add_path(p, where, path, n, &s->slot);
	}
	if (v->type != JSON_OBJECT)
		return merr(p, "%s: expected a path or {\"value\": ...}", where);
	json_obj it;
	json_span k, c;
	int r, got = 0;
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while ((r = eg_json_obj_next(&it, &k, &c, NULL)) == 1) {
		if (got || k.n != 7 || memcmp(k.p, "\"value\"", 7))
			return merr(p, "%s: expected a path or {\"value\": ...} (a constant), "
				    "got an object with member %.*s", where,
				    (int)(k.n < 66 ? k.n : 66), k.p);
		got = 1;
		const char *want = const_check(f, spread, &c);
		if (want)
			return merr(p, "%s.value: expected %s", where, want);
		char *t = mk(p, c.n);
		if (!t)
			return nomem(p);
		s->cval = (json_span){ t, eg_json_minify(&c, t), c.type };
	}
	if (!got)
		return merr(p, "%s: expected a path or {\"value\": ...}, got {}", where);
	s->slot = -1;
	s->text = "value";
	return EG_OK;
}

/* Room for the constants among a target's alternatives: they come from the
 * mapping, not the line, so eg_map_space counts them apart (quoted, and
 * decoded no longer than minified). */
static size_t const_room(const target *t)
{
	size_t n = 0;
	for (int i = 0; i < t->nalt; i++)
		if (t->alt[i].slot < 0)
			n += t->alt[i].cval.n + 2;
	return n;
}

/* A path, a constant, or an array of them tried in order. */
static int parse_srcs(mparse *p, const char *where, const json_span *v, int f, target *t)
{
	if (v->type == JSON_STRING || v->type == JSON_OBJECT) {
		if (!(t->alt = mk(p, sizeof *t->alt)))
			return nomem(p);
		t->nalt = 1;
		return parse_src(p, where, v, f, t->spread, t->alt);
	}
	if (v->type != JSON_ARRAY)
		return merr(p, "%s: expected a path or an array of paths", where);
	json_arr it;
	json_span e;
	int n = 0;
	eg_json_arr_begin(&it, v);
	while (eg_json_arr_next(&it, &e) == 1)
		n++;
	if (!n)
		return merr(p, "%s: expected a path or an array of paths, got []", where);
	if (!(t->alt = mk(p, (size_t)n * sizeof *t->alt)))
		return nomem(p);
	t->nalt = n;
	eg_json_arr_begin(&it, v);
	for (int i = 0; eg_json_arr_next(&it, &e) == 1; i++) {
		char w[MAX_KEY + 64];
		snprintf(w, sizeof w, "%s[%d]", where, i);
		int rc = parse_src(p, w, &e, f, t->spread, &t->alt[i]);
		if (rc)
			return rc;
	}
	return EG_OK;
}

/* data or meta: {"member": sources, ..., "*": sources}, or sources of the
 * whole object (the same as {"*": sources}). */
static int parse_obj(mparse *p, int f, const json_span *v)
{
	const char *name = eg_map_field_names[f];
	objmap *o = &p->m->obj[f - MF_DATA];
	if (v->type == JSON_STRING || v->type == JSON_ARRAY) {
		if (!(o->t = mk(p, sizeof *o->t)))
			return nomem(p);
		memset(o->t, 0, sizeof *o->t);
		o->n = 1;
		o->t->spread = 1;
		return parse_srcs(p, name, v, f, o->t);
	}
	if (v->type != JSON_OBJECT)
		return merr(p, "%s: expected an object of members, a path or an array of paths", name);
	json_obj it;
	json_span k, s;
	int n = 0;
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	while (eg_json_obj_next(&it, &k, &s, NULL) == 1)
		n++;
	if (n > MAX_MEMBERS)
		return merr(p, "%s: at most %d members", name, MAX_MEMBERS);
	if (n && !(o->t = mk(p, (size_t)n * sizeof *o->t)))
		return nomem(p);
	eg_json_obj_begin(&it, v->p, v->n, NULL);
	for (o->n = 0; eg_json_obj_next(&it, &k, &s, NULL) == 1; o->n++) {
		target *t = &o->t[o->n];
		memset(t, 0, sizeof *t);
		char *key = decode(p, &k, &t->keyn);
		if (!key)
			return nomem(p);
		t->key = key;
		char where[MAX_KEY + 16];
		snprintf(where, sizeof where, "%s.%.*s", name,
			 (int)(t->keyn < MAX_KEY ? t->keyn : MAX_KEY), key);
		if (t->keyn > MAX_KEY)
			return merr(p, "%s...: a member name of at most %d bytes", where, MAX_KEY);
		for (int j = 0; j < o->n; j++)
			if (o->t[j].keyn == t->keyn && !memcmp(o->t[j].key, key, t->keyn))
				return merr(p, "%s: given twice", where);
		t->spread = t->keyn == 1 && key[0] == '*';
		if (!t->spread) {
			char *q = mk(p, 6 * t->keyn + 3);
			if (!q)
				return nomem(p);
			t->qkeyn = eg_json_quote(key, t->keyn, q);
			q[t->qkeyn++] = ':';
			t->qkey = q;
		}
		int rc = parse_srcs(p, where, &s, f, t);
		if (rc)
			return rc;
	}
	return EG_OK;
}

/* The lookup arrays of every node with children, and the list of sources
 * of each field for messages. */
static int finish(mparse *p)
{
	eg_map *m = p->m;
	for (int i = 0; i < m->nnodes; i++) {
		int nk = m->nodes[i].nkids;
		if (!nk)
			continue;
		const char **names = mk(p, (size_t)nk * sizeof *names);
		size_t *lens = mk(p, (size_t)nk * sizeof *lens);
		int *kids = mk(p, (size_t)nk * sizeof *kids);
		if (!names || !lens || !kids)
			return nomem(p);
		node *nd = &m->nodes[i];
		int j = 0;
		for (int k = nd->first; k >= 0; k = m->nodes[k].next, j++) {
			names[j] = m->nodes[k].name;
			lens[j] = m->nodes[k].n;
			kids[j] = k;
		}
		nd->knames = names;
		nd->klens = lens;
		nd->kids = kids;
	}
	for (int f = 0; f < MF_DATA; f++) {
		target *t = &m->f[f];
		if (!t->nalt)
			continue;
		size_t n = 1;
		for (int i = 0; i < t->nalt; i++)
			n += strlen(t->alt[i].text) + 2;
		char *s = mk(p, n);
		if (!s)
			return nomem(p);
		s[0] = 0;
		for (int i = 0; i < t->nalt; i++) {
			if (i)
				strcat(s, ", ");
			strcat(s, t->alt[i].text);
		}
		m->tried[f] = s;
		m->width++;
		m->overhead += const_room(t);
	}
	for (int i = 0; i < 2; i++) {
		objmap *o = &m->obj[i];
		m->overhead += 2;
		for (int j = 0; j < o->n; j++) {
			m->width++;
			m->overhead += o->t[j].qkeyn + 1 + const_room(&o->t[j]);
		}
	}
	return EG_OK;
}

static int field_of(const char *k, size_t n)
{
	for (int f = 0; f < MF_N; f++)
		if (strlen(eg_map_field_names[f]) == n && !memcmp(eg_map_field_names[f], k, n))
			return f;
	return -1;
}

static int parse_map(mparse *p, const char *json, size_t n)
{
	json_obj it;
	json_span k, v;
	json_err e;
	if (eg_json_obj_begin(&it, json, n, &e))
		return merr(p, "expected a JSON object of envelope fields: %s at byte %zu",
			    e.what, e.off + 1);
	int r, seen[MF_N] = { 0 };
	if (new_node(p, "", 0) < 0)
		return nomem(p);
	while ((r = eg_json_obj_next(&it, &k, &v, &e)) == 1) {
		char key[80];
		size_t kn = k.n - 2 < 64 ? k.n - 2 : 64;
		memcpy(key, k.p + 1, kn);
		key[kn] = 0;
		int f = eg_json_string_is_plain(&k) ? field_of(k.p + 1, k.n - 2) : -1;
		if (f < 0)
			return merr(p, "%s%s: unknown envelope field (expected one of id, stream, "
				    "type, kind, time, actor, session, data, meta)",
				    key, k.n - 2 > 64 ? "..." : "");
		if (seen[f]++)
			return merr(p, "%s: given twice", key);
		int rc = f >= MF_DATA ? parse_obj(p, f, &v) : parse_srcs(p, key, &v, f, &p->m->f[f]);
		if (rc)
			return rc;
	}
	if (r < 0)
		return merr(p, "invalid JSON: %s at byte %zu", e.what, e.off + 1);
	return finish(p);
}

int eg_map_parse(const char *json, size_t n, eg_map **out, char *err, size_t errlen)
{
	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	eg_map *m = calloc(1, sizeof *m);
	mparse p = { m, err, errlen, 0 };
	if (!m)
		return merr(&p, "out of memory"), EG_ENOMEM;
	int rc = parse_map(&p, json, n);
	if (rc || p.nomem) {
		eg_map_free(m);
		return p.nomem ? EG_ENOMEM : rc;
	}
	*out = m;
	return EG_OK;
}

void eg_map_free(eg_map *m)
{
	if (!m)
		return;
	for (blk *b = m->blocks, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(m->nodes);
	free(m);
}

/* ------------------------------------------------------------ built-ins */

/* Kept in docs/MAPPING.md too, as files a user can copy and edit; a test
 * checks that the copies there map exactly as these do. */
static const char SEGMENT[] =
	"{\n"
	"  \"id\": \"messageId\",\n"
	"  \"stream\": [\"userId\", \"anonymousId\"],\n"
	"  \"type\": [\"event\", \"name\", \"type\"],\n"
	"  \"time\": [\"timestamp\", \"originalTimestamp\", \"receivedAt\"],\n"
	"  \"actor\": \"userId\",\n"
	"  \"session\": [\"properties.session_id\", \"context.sessionId\", \"context.session_id\"],\n"
	"  \"data\": {\n"
	"    \"*\": [\"properties\", \"traits\"],\n"
	"    \"page_url\": [\"properties.url\", \"context.page.url\"],\n"
	"    \"referrer\": [\"properties.referrer\", \"context.page.referrer\"],\n"
	"    \"device\": \"context.device.type\",\n"
	"    \"context\": \"context\"\n"
	"  },\n"
	"  \"meta\": {\n"
	"    \"type\": \"type\",\n"
	"    \"anonymousId\": \"anonymousId\",\n"
	"    \"groupId\": \"groupId\",\n"
	"    \"previousId\": \"previousId\",\n"
	"    \"sentAt\": \"sentAt\",\n"
	"    \"receivedAt\": \"receivedAt\",\n"
	"    \"originalTimestamp\": \"originalTimestamp\",\n"
	"    \"integrations\": \"integrations\"\n"
	"  }\n"
	"}\n";

static const char SNOWPLOW[] =
	"{\n"
	"  \"id\": \"event_id\",\n"
	"  \"stream\": [\"user_id\", \"domain_userid\", \"network_userid\"],\n"
	"  \"type\": [\"event_name\", \"event\"],\n"
	"  \"time\": [\"derived_tstamp\", \"dvce_created_tstamp\", \"collector_tstamp\"],\n"
	"  \"actor\": \"user_id\",\n"
	"  \"session\": \"domain_sessionid\",\n"
	"  \"data\": {\n"
	"    \"*\": \"unstruct_event.data.data\",\n"
	"    \"page_url\": \"page_url\",\n"
	"    \"referrer\": \"page_referrer\",\n"
	"    \"page_title\": \"page_title\",\n"
	"    \"device\": \"dvce_type\",\n"
	"    \"platform\": \"platform\",\n"
	"    \"os\": \"os_family\",\n"
	"    \"se_category\": \"se_category\",\n"
	"    \"se_action\": \"se_action\",\n"
	"    \"se_label\": \"se_label\",\n"
	"    \"se_property\": \"se_property\",\n"
	"    \"se_value\": \"se_value\",\n"
	"    \"contexts\": \"contexts.data\"\n"
	"  },\n"
	"  \"meta\": {\n"
	"    \"app_id\": \"app_id\",\n"
	"    \"event\": \"event\",\n"
	"    \"event_vendor\": \"event_vendor\",\n"
	"    \"event_version\": \"event_version\",\n"
	"    \"schema\": \"unstruct_event.data.schema\",\n"
	"    \"domain_userid\": \"domain_userid\",\n"
	"    \"domain_sessionidx\": \"domain_sessionidx\",\n"
	"    \"network_userid\": \"network_userid\",\n"
	"    \"collector_tstamp\": \"collector_tstamp\",\n"
	"    \"dvce_created_tstamp\": \"dvce_created_tstamp\",\n"
	"    \"dvce_sent_tstamp\": \"dvce_sent_tstamp\",\n"
	"    \"v_tracker\": \"v_tracker\",\n"
	"    \"useragent\": \"useragent\",\n"
	"    \"user_ipaddress\": \"user_ipaddress\"\n"
	"  }\n"
	"}\n";

static const struct builtin {
	const char *name, *json;
} BUILTINS[] = { { "segment", SEGMENT }, { "snowplow", SNOWPLOW } };

const char *eg_map_builtin_json(const char *name)
{
	for (size_t i = 0; i < sizeof BUILTINS / sizeof *BUILTINS; i++)
		if (!strcmp(BUILTINS[i].name, name))
			return BUILTINS[i].json;
	return NULL;
}

int eg_map_builtin(const char *name, eg_map **out)
{
	*out = NULL;
	const char *json = eg_map_builtin_json(name);
	if (!json)
		return EG_ENOTFOUND;
	char err[256];
	return eg_map_parse(json, strlen(json), out, err, sizeof err);
}

/* ---------------------------------------------------------------- apply */

size_t eg_map_space(const eg_map *m, size_t len)
{
	/* Each value copied out is at most the line; the members a spread
	 * copies, with their commas, are too.  Two more lines: decoding. */
	return (m->width + 2) * (len + 2) + m->overhead + 64;
}

const char *eg_map_tried(const eg_map *m, int f)
{
	return f < MF_DATA ? m->tried[f] : NULL;
}

static int aerr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int aerr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Record the value v of node ni and go down its children.  The text was
 * validated by the top-level pass, so the nested passes only skip. */
static void walk(const eg_map *m, int ni, const json_span *v, json_span *slots)
{
	const node *nd = &m->nodes[ni];
	if (nd->slot >= 0)
		slots[nd->slot] = *v;
	if (!nd->nkids)
		return;
	if (v->type == JSON_OBJECT) {
		for (int g = 0; g < nd->nkids; g += 32) {
			int k = nd->nkids - g < 32 ? nd->nkids - g : 32;
			json_span vals[32];
			unsigned found = eg_json_members_valid(v, nd->knames + g, nd->klens + g, k, vals);
			for (int i = 0; i < k; i++)
				if (found & 1u << i)
					walk(m, nd->kids[g + i], &vals[i], slots);
		}
	} else if (v->type == JSON_ARRAY && nd->has_index) {
		json_arr it;
		json_span e;
		eg_json_arr_begin(&it, v);
		for (long i = 0; eg_json_arr_next(&it, &e) == 1; i++)
			for (int k = 0; k < nd->nkids; k++)
				if (m->nodes[nd->kids[k]].index == i)
					walk(m, nd->kids[k], &e, slots);
	}
}

/* The top-level member named by key (a JSON_STRING span), or -1. */
static int top_kid(const eg_map *m, const json_span *key, char *tmp)
{
	const char *kp = key->p + 1;
	size_t kn = key->n - 2;
	if (!eg_json_string_is_plain(key)) {
		kn = eg_json_string_decode(key, tmp);
		kp = tmp;
	}
	const node *root = &m->nodes[0];
	for (int i = 0; i < root->nkids; i++)
		if (root->klens[i] == kn && root->knames[i][0] == kp[0] &&
		    !memcmp(root->knames[i], kp, kn))
			return root->kids[i];
	return -1;
}

/* The first alternative that is present and not null (nor "" when
 * skip_empty: an empty userId is no user, an empty referrer is one). */
static int pick(const target *t, const json_span *slots, int skip_empty, json_span *v,
		const char **from)
{
	for (int i = 0; i < t->nalt; i++) {
		const src *s = &t->alt[i];
		if (s->slot < 0) {
			*v = s->cval;
			*from = s->text;
			return 1;
		}
		const json_span *x = &slots[s->slot];
		if (!x->type || x->type == JSON_NULL || (skip_empty && x->type == JSON_STRING && x->n == 2))
			continue;
		*v = *x;
		*from = s->text;
		return 1;
	}
	return 0;
}

/* Build data or meta at *space: the named members present, and the members
 * of the spread source that no present named member overrides. */
static int build(const objmap *o, const char *name, const json_span *slots, char **space,
		 json_span *res, char *err, size_t errlen)
{
	json_span vals[MAX_MEMBERS];
	const char *from[MAX_MEMBERS];
	unsigned char have[MAX_MEMBERS];
	for (int i = 0; i < o->n; i++)
		have[i] = (unsigned char)pick(&o->t[i], slots, 0, &vals[i], &from[i]);
	char *p = *space;
	*p++ = '{';
	int any = 0;
	for (int i = 0; i < o->n; i++) {
		const target *t = &o->t[i];
		if (!have[i])
			continue;
		if (!t->spread) {
			if (any++)
				*p++ = ',';
			memcpy(p, t->qkey, t->qkeyn);
			p += t->qkeyn;
			p += eg_json_minify(&vals[i], p);
			continue;
		}
		if (vals[i].type != JSON_OBJECT)
			return aerr(err, errlen, "field \"%s\": expected %s to be a JSON object",
				    name, from[i]);
		json_obj it;
		json_span k, v;
		eg_json_obj_begin(&it, vals[i].p, vals[i].n, NULL);
		while (eg_json_obj_next(&it, &k, &v, NULL) == 1) {
			/* The key decoded where it would be written, to compare. */
			char *at = p + (any ? 1 : 0);
			const char *kp = k.p + 1;
			size_t kn = k.n - 2;
			if (!eg_json_string_is_plain(&k)) {
				kn = eg_json_string_decode(&k, at);
				kp = at;
			}
			int named = 0;
			for (int j = 0; j < o->n && !named; j++)
				named = have[j] && !o->t[j].spread && o->t[j].keyn == kn &&
					!memcmp(o->t[j].key, kp, kn);
			if (named)
				continue;
			if (any++)
				*p++ = ',';
			memcpy(p, k.p, k.n);
			p += k.n;
			*p++ = ':';
			p += eg_json_minify(&v, p);
		}
	}
	*p++ = '}';
	if (any) {
		*res = (json_span){ *space, (size_t)(p - *space), JSON_OBJECT };
		*space = p;
	}
	return 0;
}

int eg_map_apply(const eg_map *m, const char *json, size_t len, char **space,
	      map_out *out, char *err, size_t errlen)
{
	json_span slots[MAX_SLOTS];
	memset(out, 0, sizeof *out);
	memset(slots, 0, (size_t)m->nslots * sizeof *slots);
	json_obj it;
	json_span k, v;
	json_err e;
	if (eg_json_obj_begin(&it, json, len, &e))
		return aerr(err, errlen, "expected a JSON object: %s at byte %zu", e.what, e.off + 1);
	int r;
	while ((r = eg_json_obj_next(&it, &k, &v, &e)) == 1) {
		int kid = top_kid(m, &k, *space);
		if (kid >= 0)
			walk(m, kid, &v, slots);
	}
	if (r < 0)
		return aerr(err, errlen, "invalid JSON: %s at byte %zu", e.what, e.off + 1);
	for (int f = 0; f < MF_DATA; f++)
		pick(&m->f[f], slots, 1, &out->v[f], &out->from[f]);
	for (int i = 0; i < 2; i++)
		if (m->obj[i].n && build(&m->obj[i], eg_map_field_names[MF_DATA + i], slots, space,
					 &out->v[MF_DATA + i], err, errlen))
			return -1;
	return 0;
}
