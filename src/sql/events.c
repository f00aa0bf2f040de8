/*
 * events.c — the events table: one row per event, read through engram's
 * iterator with what the WHERE clause says pushed down to it (docs/SQL.md).
 *
 * xBestIndex takes the conditions it can answer exactly — equality and IN
 * on stream, type, kind and id, ranges on pos, time, time_us, recorded,
 * recorded_us, the hidden known_at and as_of, ORDER BY pos either way,
 * LIMIT — and tells SQLite to omit them; every other condition SQLite
 * checks itself.  "Exactly" means with SQLite's own comparison rules for
 * any value on the right (NULL, a number against a TEXT column, text
 * against an INTEGER one, a BLOB), so that a query answers what SQLite
 * would over a plain table of the same rows.  Record time never decreases
 * along the log, so conditions on it become a range of positions.
 *
 * The plan travels from xBestIndex to xFilter in idxStr, which is also
 * what EXPLAIN QUERY PLAN shows: "stream IN ? AND time >= ? ORDER BY pos
 * DESC LIMIT ? (stream postings)".
 */
#include "sql.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coliter.h"
#include "internal.h"   /* eg_iter_lazy_ids */
#include "json.h"
#include "timefmt.h"

enum col {
	C_POS, C_ID, C_STREAM, C_VERSION, C_TYPE, C_KIND, C_TIME, C_RECORDED, C_ACTOR,
	C_SESSION, C_DATA, C_META, C_TIME_US, C_RECORDED_US, C_SCHEMA_VERSION, C_KNOWN_AT,
	C_AS_OF, C_UPCAST, C_DIR, C_TAGS, NCOLS
};

static const char *const COL_NAMES[NCOLS] = {
	"pos", "id", "stream", "version", "type", "kind", "time", "recorded", "actor",
	"session", "data", "meta", "time_us", "recorded_us", "schema_version", "known_at",
	"as_of", "upcast", "dir", "tags",
};

/* data and meta are declared "TEXT JSON": TEXT affinity, and a declared
 * type that tells engram sql to print them as JSON. */
#define SCHEMA_COLS "pos INTEGER, id TEXT, stream TEXT, version INTEGER, type TEXT, " \
	"kind TEXT, time TEXT, recorded TEXT, actor TEXT, session TEXT, data TEXT JSON, " \
	"meta TEXT JSON, time_us INTEGER, recorded_us INTEGER, schema_version INTEGER"

static const char *const KIND_NAMES[] = { "event", "metric", "error" };

/* idxNum's bits. */
#define IDX_LAZY_IDS 1   /* the id column is not read */
#define IDX_COLUMNS 2    /* a scan reading only what the column files hold */

/* The columns whose values the column files do not hold (col.h): a query
 * reading any of them reads the log. */
static int held_by_columns(int c)
{
	return c != C_ID && c != C_VERSION && c != C_ACTOR && c != C_SESSION && c != C_DATA &&
	       c != C_META && c != C_SCHEMA_VERSION && c != C_TAGS;
}

enum op { OP_EQ, OP_IN, OP_LT, OP_LE, OP_GT, OP_GE, OP_LIMIT, NOPS };
static const char *const OP_NAMES[NOPS] = { "=", "IN", "<", "<=", ">", ">=", "LIMIT" };

/* The stores the extension opened, by directory (engram_events('DIR') and
 * engram(DIR) tables); NULL on a connection from eg_sql_open. */
typedef struct ext_state {
	sqlite3 *db;
	eg_sql_conn *conns;
} ext_state;

typedef struct evtab {
	sqlite3_vtab base;
	eg_sql_conn *conn;      /* the store; NULL for engram_events('DIR') */
	ext_state *ext;         /* engram_events: where to find a DIR's store */
	const char *name;       /* for messages */
	int ncols;
	int sem[NCOLS];         /* declared column -> enum col */
} evtab;

/* The texts of an equality or an IN list, copied (sqlite3_vtab_in_next
 * may reuse the value the one before gave), NUL-terminated, with their
 * lengths: a name may hold a NUL (JSON's \u0000). */
typedef struct tlist {
	const char **s;
	size_t *n, len;
	int any;        /* a value matches what SQLite decides: no restriction */
	int nul;        /* a text holds a NUL */
} tlist;

typedef struct evcur {
	sqlite3_vtab_cursor base;
	eg_sql_conn *conn;      /* counted in conn->cursors while set */
	eg_iter *it;
	eg_coliter *ci;         /* instead of it: the plan reads columns */
	const eg_event *ev;
	int eof;
	eg_filter f;            /* strings borrowed from the arrays below */
	tlist streams, types;   /* what the iterator is given, or checks here */
	int check_streams, check_types;  /* names with a NUL: checked here */
	sqlite3_value *known_at, *as_of; /* the hidden columns: as given */
	int upcast;             /* the hidden column upcast: 1 unless given 0 */
	uint64_t limit, emitted;         /* LIMIT of a list of positions */
	int lazy_ids;                    /* the id column is not read */
	int columns;                     /* the plan may read the columns */
	uint64_t *set;          /* positions of an id or pos IN list, sorted */
	size_t nset, iset;
	int has_set;
} evcur;

/* ------------------------------------------------------------ connect */

static int declare(sqlite3 *db, evtab *vt, int with_dir)
{
	int n = 0;
	for (int i = 0; i <= C_SCHEMA_VERSION; i++)
		vt->sem[n++] = i;
	if (with_dir)
		vt->sem[n++] = C_DIR;
	vt->sem[n++] = C_KNOWN_AT;
	vt->sem[n++] = C_AS_OF;
	vt->sem[n++] = C_UPCAST;
	vt->sem[n++] = C_TAGS;
	vt->ncols = n;
	/* tags (docs/CONSISTENCY.md) is hidden: SELECT * stays as it was */
	return sqlite3_declare_vtab(db, with_dir ?
		"CREATE TABLE x(" SCHEMA_COLS ", dir HIDDEN, known_at HIDDEN, as_of HIDDEN, "
		"upcast HIDDEN, tags TEXT JSON HIDDEN)" :
		"CREATE TABLE x(" SCHEMA_COLS ", known_at HIDDEN, as_of HIDDEN, upcast HIDDEN, "
		"tags TEXT JSON HIDDEN)");
}

static int ev_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		      sqlite3_vtab **out, char **err);

static int ev_disconnect(sqlite3_vtab *base)
{
	sqlite3_free(base);
	return SQLITE_OK;
}

/* ------------------------------------------------------------- planning */

static int is_text_col(int c)
{
	return c == C_ID || c == C_STREAM || c == C_TYPE || c == C_KIND || c == C_TIME ||
	       c == C_RECORDED || c == C_KNOWN_AT || c == C_AS_OF || c == C_DIR;
}

static int op_of(unsigned char sop)
{
	switch (sop) {
	case SQLITE_INDEX_CONSTRAINT_EQ: return OP_EQ;
	case SQLITE_INDEX_CONSTRAINT_LT: return OP_LT;
	case SQLITE_INDEX_CONSTRAINT_LE: return OP_LE;
	case SQLITE_INDEX_CONSTRAINT_GT: return OP_GT;
	case SQLITE_INDEX_CONSTRAINT_GE: return OP_GE;
	case SQLITE_INDEX_CONSTRAINT_LIMIT: return OP_LIMIT;
	default: return -1;
	}
}

/* Can the plan take constraint i (column c, operator op) exactly? */
static int takes(sqlite3_index_info *info, int i, int c, int *op)
{
	int is_in = *op == OP_EQ && sqlite3_vtab_in(info, i, -1);
	switch (c) {
	case C_STREAM: case C_TYPE: case C_KIND: case C_ID:
		/* An IN list is taken whole (one scan), or not at all. */
		if (*op != OP_EQ)
			return 0;
		if (is_in) {
			if (!sqlite3_vtab_in(info, i, 1))
				return 0;
			*op = OP_IN;
		}
		return 1;
	case C_POS:
		if (is_in) {
			if (!sqlite3_vtab_in(info, i, 1))
				return 0;
			*op = OP_IN;
		}
		return 1;
	case C_TIME: case C_RECORDED: case C_TIME_US: case C_RECORDED_US:
		return !is_in;
	case C_KNOWN_AT: case C_AS_OF: case C_DIR: case C_UPCAST:
		return *op == OP_EQ && !is_in;
	default:
		return 0;
	}
}

static int ev_best_index(sqlite3_vtab *base, sqlite3_index_info *info)
{
	evtab *vt = (evtab *)base;
	char *plan = sqlite3_mprintf("%s", "");
	int argc = 0, all_taken = 1, limit_at = -1, has_offset = 0, has_dir = 0;
	int seen[NCOLS] = { 0 };
	double rows = 1e6;
	const char *via = "scan";
	int unique = 0;
	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *k = &info->aConstraint[i];
		if (k->op == SQLITE_INDEX_CONSTRAINT_OFFSET) {
			has_offset = 1;
			continue;
		}
		int op = op_of(k->op);
		if (op == OP_LIMIT) {
			if (k->usable)
				limit_at = i;
			continue;
		}
		int c = k->iColumn < 0 ? C_POS : k->iColumn < vt->ncols ? vt->sem[k->iColumn] : -1;
		if (!k->usable || op < 0 || c < 0 ||
		    (is_text_col(c) && strcmp(sqlite3_vtab_collation(info, i), "BINARY")) ||
		    /* one equality per text column: a second is SQLite's */
		    ((c == C_STREAM || c == C_TYPE || c == C_KIND || c == C_ID || c == C_KNOWN_AT ||
		      c == C_AS_OF || c == C_DIR || c == C_UPCAST) && seen[c]) ||
		    !takes(info, i, c, &op)) {
			all_taken = 0;
			continue;
		}
		seen[c] = 1;
		info->aConstraintUsage[i].argvIndex = ++argc;
		/* A number compared with a TEXT column matches by the affinity of
		 * what gave it, which only SQLite knows (text_arg): the condition
		 * is ours alone when its value is text known now; else SQLite
		 * checks it too, and xFilter narrows by it only for text. */
		int exact = !is_text_col(c) || c == C_KIND || c == C_KNOWN_AT || c == C_AS_OF ||
			    c == C_DIR;
		sqlite3_value *rv;
		if (!exact && op != OP_IN && sqlite3_vtab_rhs_value(info, i, &rv) == SQLITE_OK &&
		    sqlite3_value_type(rv) == SQLITE_TEXT)
			exact = 1;
		info->aConstraintUsage[i].omit = (unsigned char)exact;
		all_taken &= exact;
		plan = sqlite3_mprintf("%z%s%s %s ?", plan, argc > 1 ? " AND " : "", COL_NAMES[c],
				       OP_NAMES[op]);
		switch (c) {
		case C_ID:
			rows = op == OP_IN ? 5 : 1;
			unique = op == OP_EQ;
			via = "id index";
			break;
		case C_POS:
			if (op == OP_EQ || op == OP_IN) {
				rows = op == OP_IN ? 5 : 1;
				unique = op == OP_EQ;
				via = "position";
			} else {
				rows /= 4;
				if (!strcmp(via, "scan"))
					via = "position range";
			}
			break;
		case C_STREAM:
			rows = rows / 1000 * (op == OP_IN ? 5 : 1);
			if (strcmp(via, "id index") && strcmp(via, "position"))
				via = "stream postings";
			break;
		case C_TYPE:
			rows = rows / 10 * (op == OP_IN ? 3 : 1);
			if (!strcmp(via, "scan") || !strcmp(via, "position range") || !strcmp(via, "time blocks"))
				via = "type postings";
			break;
		case C_TIME: case C_TIME_US: case C_AS_OF:
			rows /= 4;
			if (!strcmp(via, "scan"))
				via = "time blocks";
			break;
		case C_RECORDED: case C_RECORDED_US: case C_KNOWN_AT:
			rows /= 4;
			if (!strcmp(via, "scan"))
				via = "position range";
			break;
		case C_DIR:
			has_dir = 1;
			break;
		default:
			break;
		}
	}
	if (vt->ext && !has_dir) {
		/* engram_events needs its directory: a plan SQLite takes only when
		 * there is no other, whose xFilter then says so. */
		sqlite3_free(plan);
		info->idxStr = "(no directory)";
		info->needToFreeIdxStr = 0;
		info->estimatedCost = 1e300;
		return SQLITE_OK;
	}
	if (info->nOrderBy == 1) {
		const struct sqlite3_index_orderby *o = &info->aOrderBy[0];
		int c = o->iColumn < 0 ? C_POS : o->iColumn < vt->ncols ? vt->sem[o->iColumn] : -1;
		if (c == C_POS) {
			info->orderByConsumed = 1;
			plan = sqlite3_mprintf("%z%sORDER BY pos%s", plan, argc ? " " : "",
					       o->desc ? " DESC" : "");
		}
	}
	/* A LIMIT is ours only when no row we return can be dropped or
	 * reordered after us. */
	int has_limit = 0;
	if (limit_at >= 0 && all_taken && !has_offset &&
	    (info->nOrderBy == 0 || info->orderByConsumed)) {
		info->aConstraintUsage[limit_at].argvIndex = ++argc;
		info->aConstraintUsage[limit_at].omit = 1;
		plan = sqlite3_mprintf("%z%sLIMIT ?", plan, *plan ? " " : "");
		has_limit = 1;
	}
	/* A scan (whole, or a range of times or positions) that reads only
	 * what the column files hold reads them; what an index serves (a
	 * stream's or a type's postings, positions, ids), a LIMIT (it stops
	 * early) and newest first stay on the log. */
	int cols = eg_col_allowed() && !has_limit &&
		   (!strcmp(via, "scan") || !strcmp(via, "time blocks") ||
		    !strcmp(via, "position range")) &&
		   !(info->orderByConsumed && info->aOrderBy[0].desc);
	for (int i = 0; cols && i < vt->ncols && i < 63; i++)
		if ((info->colUsed & ((sqlite3_uint64)1 << i)) && !held_by_columns(vt->sem[i]))
			cols = 0;
	plan = sqlite3_mprintf("%z%s(%s%s)", plan, plan && *plan ? " " : "", via,
			       cols ? "; columns" : "");
	if (!plan)
		return SQLITE_NOMEM;
	info->idxStr = plan;
	info->needToFreeIdxStr = 1;
	/* A query that never reads id spares formatting each UUID (measured:
	 * 8% of a scan reading one text column). */
	int id_col = 0;
	while (id_col < vt->ncols && vt->sem[id_col] != C_ID)
		id_col++;
	info->idxNum = !(info->colUsed & ((sqlite3_uint64)1 << id_col)) ? IDX_LAZY_IDS : 0;
	if (cols)
		info->idxNum |= IDX_COLUMNS;
	info->estimatedRows = rows < 1 ? 1 : (sqlite3_int64)rows;
	info->estimatedCost = 10 + 2 * (rows < 1 ? 1 : rows);
	if (unique)
		info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
	return SQLITE_OK;
}

/* ------------------------------------------------------------ filtering */

/* The bounds one xFilter call collects. */
enum { R_POS, R_TIME, R_REC };   /* the ranges: positions, event time, record time */
typedef struct bounds {
	int empty;                        /* no row can match */
	sqlite3_int64 r[3][2];            /* [lo, hi] of each */
} bounds;

static void bound(sqlite3_int64 *lo, sqlite3_int64 *hi, int op, sqlite3_int64 v_lo,
		  sqlite3_int64 v_hi)
{
	if ((op == OP_EQ || op == OP_GE || op == OP_GT) && v_lo > *lo)
		*lo = v_lo;
	if ((op == OP_EQ || op == OP_LE || op == OP_LT) && v_hi < *hi)
		*hi = v_hi;
}

/* Column INTEGER op v, as SQLite compares them (numeric affinity applied
 * to v), as a range [*lo, *hi] the column must be in; 0, or -1 when no
 * value can match. */
static int int_range(sqlite3_value *v, int op, sqlite3_int64 *lo, sqlite3_int64 *hi)
{
	*lo = INT64_MIN;
	*hi = INT64_MAX;
	switch (sqlite3_value_numeric_type(v)) {
	case SQLITE_INTEGER: {
		sqlite3_int64 i = sqlite3_value_int64(v);
		if ((op == OP_GT && i == INT64_MAX) || (op == OP_LT && i == INT64_MIN))
			return -1;
		if (op == OP_EQ || op == OP_GE)
			*lo = i;
		if (op == OP_EQ || op == OP_LE)
			*hi = i;
		if (op == OP_GT)
			*lo = i + 1;
		if (op == OP_LT)
			*hi = i - 1;
		return 0;
	}
	case SQLITE_FLOAT: {
		double d = sqlite3_value_double(v);
		if (d >= 9223372036854775808.0)     /* above every int64 */
			return op == OP_LT || op == OP_LE ? 0 : -1;
		if (d < -9223372036854775808.0)
			return op == OP_GT || op == OP_GE ? 0 : -1;
		double fl = floor(d), ce = ceil(d);
		if (op == OP_EQ) {
			if (fl != d)
				return -1;
			*lo = *hi = (sqlite3_int64)d;
		}
		if (op == OP_GE)
			*lo = (sqlite3_int64)ce;
		if (op == OP_GT) {
			if (fl >= 9223372036854775807.0)
				return -1;
			*lo = (sqlite3_int64)fl + 1;
		}
		if (op == OP_LE)
			*hi = (sqlite3_int64)fl;
		if (op == OP_LT) {
			if (ce <= -9223372036854775808.0)
				return -1;
			*hi = (sqlite3_int64)ce - 1;
		}
		return 0;
	}
	case SQLITE_NULL:
		return -1;
	default:   /* TEXT or BLOB: greater than every number */
		return op == OP_LT || op == OP_LE ? 0 : -1;
	}
}

/* Years 0000 to 9999: every time engram stores, and the range in which
 * its text form sorts as the time does. */
#define TEXT_TIME_MIN (-62167219200000000LL)
#define TEXT_TIME_MAX (253402300799999999LL)

/* fmt(t) compared with s[0, n), as SQLite's BINARY collation does. */
static int time_cmp(sqlite3_int64 t, const char *s, size_t n)
{
	char buf[EG_TIME_LEN + 1];
	eg_time_format(t, buf);
	int c = memcmp(buf, s, n < EG_TIME_LEN ? n : EG_TIME_LEN);
	if (c)
		return c;
	return n == EG_TIME_LEN ? 0 : n < EG_TIME_LEN ? 1 : -1;
}

/* The first time t in [TEXT_TIME_MIN, TEXT_TIME_MAX + 1] at which
 * time_cmp(t) >= 0 (strict: > 0): the text form sorts as the time does,
 * so the answer is a binary search. */
static sqlite3_int64 first_time(const char *s, size_t n, int strict)
{
	sqlite3_int64 lo = TEXT_TIME_MIN, hi = TEXT_TIME_MAX + 1;
	while (lo < hi) {
		sqlite3_int64 mid = lo + (hi - lo) / 2;
		int c = time_cmp(mid, s, n);
		if (strict ? c > 0 : c >= 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Column TEXT (an engram time) op v, as a range of times. */
static int time_text_range(sqlite3_value *v, int op, sqlite3_int64 *lo, sqlite3_int64 *hi)
{
	*lo = INT64_MIN;
	*hi = INT64_MAX;
	int t = sqlite3_value_type(v);
	if (t == SQLITE_NULL)
		return -1;
	if (t == SQLITE_BLOB)   /* greater than every text */
		return op == OP_LT || op == OP_LE ? 0 : -1;
	if (t != SQLITE_TEXT)   /* a number: see text_arg */
		return 0;
	const char *s = (const char *)sqlite3_value_text(v);
	if (!s)
		return -1;
	size_t n = (size_t)sqlite3_value_bytes(v);
	if (op == OP_EQ || op == OP_GE)
		*lo = first_time(s, n, 0);
	if (op == OP_GT)
		*lo = first_time(s, n, 1);
	if (op == OP_EQ || op == OP_LE)
		*hi = first_time(s, n, 1) - 1;
	if (op == OP_LT)
		*hi = first_time(s, n, 0) - 1;
	return *lo > *hi ? -1 : 0;
}

/* What a TEXT column = v can match.  A number's match depends on the
 * affinity of the expression that gave it, which a virtual table cannot
 * see (with none, SQLite compares its text; from a REAL column, it
 * compares numbers, so stream '42.0' = 42): such a condition is planned
 * with SQLite checking it too (see ev_best_index), and here restricts
 * nothing. */
enum { T_NONE, T_TEXT, T_ANY };
static int text_arg(sqlite3_value *v, const char **s, size_t *n)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_TEXT:
		*s = (const char *)sqlite3_value_text(v);
		*n = (size_t)sqlite3_value_bytes(v);
		return *s ? T_TEXT : T_NONE;
	case SQLITE_INTEGER:
	case SQLITE_FLOAT:
		return T_ANY;
	default:   /* NULL equals nothing; a BLOB never equals text */
		return T_NONE;
	}
}

/* The values of an equality (one) or an IN list (each). */
typedef struct values {
	sqlite3_value *v;
	int in;
	int rc;
} values;

static sqlite3_value *values_first(values *vs, sqlite3_value *arg, int op)
{
	vs->in = op == OP_IN;
	vs->rc = SQLITE_OK;
	if (!vs->in)
		return arg;
	vs->rc = sqlite3_vtab_in_first(arg, &vs->v);
	return vs->rc == SQLITE_OK ? vs->v : NULL;
}

static sqlite3_value *values_next(values *vs, sqlite3_value *arg)
{
	if (!vs->in)
		return NULL;
	vs->rc = sqlite3_vtab_in_next(arg, &vs->v);
	return vs->rc == SQLITE_OK ? vs->v : NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Keep in cur->set only the positions also in p[0, n) (the first list:
 * take them). */
static int set_meet(evcur *cur, uint64_t *p, size_t n)
{
	if (n)   /* no ids found: p is NULL, which qsort must not see */
		qsort(p, n, sizeof *p, cmp_u64);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || p[i] != p[k - 1])
			p[k++] = p[i];
	if (!cur->has_set) {
		cur->set = p;
		cur->nset = k;
		cur->has_set = 1;
		return SQLITE_OK;
	}
	size_t m = 0;
	for (size_t i = 0, j = 0; i < cur->nset && j < k;) {
		if (cur->set[i] == p[j]) {
			cur->set[m++] = cur->set[i];
			i++, j++;
		} else if (cur->set[i] < p[j]) {
			i++;
		} else {
			j++;
		}
	}
	cur->nset = m;
	sqlite3_free(p);
	return SQLITE_OK;
}

/* Parse one "COLUMN OP ?" of the plan; returns the place after it, or
 * NULL at its end. */
static const char *plan_term(const char *p, int *col, int *op)
{
	while (*p == ' ')
		p++;
	if (!strncmp(p, "AND ", 4))
		p += 4;
	if (!strncmp(p, "LIMIT ?", 7)) {
		*col = -1;
		*op = OP_LIMIT;
		return p + 7;
	}
	for (int c = 0; c < NCOLS; c++) {
		size_t n = strlen(COL_NAMES[c]);
		if (strncmp(p, COL_NAMES[c], n) || p[n] != ' ')
			continue;
		const char *q = p + n + 1;
		for (int o = 0; o < OP_LIMIT; o++) {
			size_t m = strlen(OP_NAMES[o]);
			if (!strncmp(q, OP_NAMES[o], m) && !strncmp(q + m, " ?", 2)) {
				*col = c;
				*op = o;
				return q + m + 2;
			}
		}
	}
	return NULL;
}

static eg_sql_conn *ext_conn(evtab *vt, sqlite3_value *dir);

static void tlist_free(tlist *l)
{
	for (size_t i = 0; l->s && i < l->len; i++)
		sqlite3_free((char *)l->s[i]);
	sqlite3_free(l->s);
	sqlite3_free(l->n);
	memset(l, 0, sizeof *l);
}

/* Is s[0, n) in the list? */
static int tlist_has(const tlist *l, const char *s, size_t n)
{
	for (size_t i = 0; i < l->len; i++)
		if (l->n[i] == n && !memcmp(l->s[i], s, n))
			return 1;
	return 0;
}

static void cur_reset(evcur *cur)
{
	eg_iter_free(cur->it);
	cur->it = NULL;
	eg_coliter_free(cur->ci);
	cur->ci = NULL;
	cur->columns = 0;
	tlist_free(&cur->streams);
	tlist_free(&cur->types);
	cur->check_streams = cur->check_types = 0;
	sqlite3_value_free(cur->known_at);
	sqlite3_value_free(cur->as_of);
	cur->known_at = cur->as_of = NULL;
	cur->upcast = 1;
	cur->limit = cur->emitted = 0;
	sqlite3_free(cur->set);
	cur->set = NULL;
	cur->nset = cur->iset = 0;
	cur->has_set = 0;
	cur->ev = NULL;
	cur->eof = 1;
	memset(&cur->f, 0, sizeof cur->f);
}

static int cur_step(evcur *cur);

/* Collect the texts of an equality or IN list. */
static int text_list(sqlite3_value *arg, int op, tlist *l)
{
	values vs;
	size_t cap = 0;
	for (sqlite3_value *v = values_first(&vs, arg, op); v; v = values_next(&vs, arg)) {
		const char *s;
		size_t n;
		int t = text_arg(v, &s, &n);
		l->any |= t == T_ANY;
		if (t != T_TEXT)
			continue;
		if (l->len == cap) {
			cap = cap ? 2 * cap : 8;
			const char **g = sqlite3_realloc64(l->s, cap * sizeof *g);
			if (!g)
				return SQLITE_NOMEM;
			l->s = g;
			size_t *gn = sqlite3_realloc64(l->n, cap * sizeof *gn);
			if (!gn)
				return SQLITE_NOMEM;
			l->n = gn;
		}
		char *c = sqlite3_malloc64(n + 1);
		if (!c)
			return SQLITE_NOMEM;
		memcpy(c, s, n);
		c[n] = 0;
		l->nul |= strlen(c) != n;
		l->s[l->len] = c;
		l->n[l->len++] = n;
	}
	if (!l->s && !(l->s = sqlite3_malloc(sizeof *l->s)))
		return SQLITE_NOMEM;   /* an empty list: nothing matches */
	return vs.rc == SQLITE_DONE || vs.rc == SQLITE_OK ? SQLITE_OK : vs.rc;
}

/* pos IN (…): the list of positions (numeric affinity, as SQLite
 * applies to the values compared with an INTEGER column). */
static int pos_list(evcur *cur, sqlite3_value *arg)
{
	values vs;
	size_t n = 0, cap = 0;
	uint64_t *ps = NULL;
	sqlite3_int64 lo, hi;
	for (sqlite3_value *x = values_first(&vs, arg, OP_IN); x; x = values_next(&vs, arg)) {
		if (int_range(x, OP_EQ, &lo, &hi) || lo < 1)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			uint64_t *g = sqlite3_realloc64(ps, cap * sizeof *g);
			if (!g) {
				sqlite3_free(ps);
				return SQLITE_NOMEM;
			}
			ps = g;
		}
		ps[n++] = (uint64_t)lo;
	}
	return set_meet(cur, ps, n);
}

static int ev_filter(sqlite3_vtab_cursor *base, int idxNum, const char *idxStr, int argc,
		     sqlite3_value **argv)
{
	evcur *cur = (evcur *)base;
	evtab *vt = (evtab *)base->pVtab;
	cur_reset(cur);
	cur->lazy_ids = idxNum & IDX_LAZY_IDS;
	cur->columns = (idxNum & IDX_COLUMNS) != 0;
	bounds b = { 0, { { 1, INT64_MAX }, { INT64_MIN, INT64_MAX }, { INT64_MIN, INT64_MAX } } };
	int kinds_given = 0, rc = SQLITE_OK;
	eg_sql_conn *conn = vt->conn;
	const char *p = idxStr;
	int col, op;
	/* engram_events('DIR'): the store first. */
	if (vt->ext) {
		int i = 0;
		for (const char *q = p; i < argc && (q = plan_term(q, &col, &op)); i++)
			if (col == C_DIR)
				break;
		if (!(conn = ext_conn(vt, i < argc ? argv[i] : NULL)))
			return SQLITE_ERROR;
	}
	if (cur->conn != conn) {
		if (cur->conn)
			eg_sql_cursor_close(cur->conn);
		cur->conn = conn;
		eg_sql_cursor_open(conn);
	}
	uint64_t snap;
	if ((rc = eg_sql_snapshot(conn, &snap)))
		return eg_sql_store_err(&vt->base, conn, rc);
	rc = SQLITE_OK;
	for (int i = 0; i < argc && rc == SQLITE_OK && (p = plan_term(p, &col, &op)); i++) {
		sqlite3_value *v = argv[i];
		sqlite3_int64 lo, hi;
		if (op == OP_LIMIT) {
			sqlite3_int64 n = sqlite3_value_int64(v);
			if (n == 0)
				b.empty = 1;
			else if (n > 0)
				cur->f.limit = (uint64_t)n;
			continue;
		}
		switch (col) {
		case C_STREAM:
			if ((rc = text_list(v, op, &cur->streams)) || cur->streams.any)
				break;
			if (cur->streams.nul) {
				cur->check_streams = 1;
			} else {
				cur->f.streams = cur->streams.s;
				cur->f.nstreams = cur->streams.len;
			}
			break;
		case C_TYPE:
			if ((rc = text_list(v, op, &cur->types)) || cur->types.any)
				break;
			b.empty |= cur->types.len == 0;   /* ntypes 0 would mean any */
			if (cur->types.nul) {
				cur->check_types = 1;
			} else {
				cur->f.types = cur->types.s;
				cur->f.ntypes = cur->types.len;
			}
			break;
		case C_KIND: {
			values vs;
			kinds_given = 1;
			/* A kind is never a number's text, whatever the affinity. */
			for (sqlite3_value *x = values_first(&vs, v, op); x; x = values_next(&vs, v)) {
				const char *s;
				size_t n;
				int t = text_arg(x, &s, &n);
				for (unsigned k = 0; t == T_TEXT && k < 3; k++)
					if (n == strlen(KIND_NAMES[k]) && !memcmp(s, KIND_NAMES[k], n))
						cur->f.kinds |= 1u << k;
			}
			break;
		}
		case C_ID: {
			tlist ids = { 0 };
			uint64_t *ps = NULL;
			size_t n = 0;
			if ((rc = text_list(v, op, &ids)) || ids.any) {
				tlist_free(&ids);
				break;
			}
			if (ids.len && !(ps = sqlite3_malloc64(ids.len * sizeof *ps)))
				rc = SQLITE_NOMEM;
			for (size_t k = 0; rc == SQLITE_OK && k < ids.len; k++) {
				uint64_t at;
				int r = eg_store_find_id(conn->st, ids.s[k], ids.n[k], &at);
				if (r == EG_OK)
					ps[n++] = at;
				else if (r != EG_ENOTFOUND)
					rc = eg_sql_store_err(&vt->base, conn, r);
			}
			tlist_free(&ids);
			if (rc == SQLITE_OK)
				rc = set_meet(cur, ps, n);
			else
				sqlite3_free(ps);
			break;
		}
		case C_POS: case C_TIME_US: case C_RECORDED_US: case C_TIME: case C_RECORDED: {
			if (col == C_POS && op == OP_IN) {
				rc = pos_list(cur, v);
				break;
			}
			/* pos, time and record time: each a range of its own */
			sqlite3_int64 *r = b.r[col == C_POS ? R_POS :
					       col == C_TIME_US || col == C_TIME ? R_TIME : R_REC];
			int none = col == C_TIME || col == C_RECORDED ? time_text_range(v, op, &lo, &hi) :
					int_range(v, op, &lo, &hi);
			b.empty |= none;
			bound(&r[0], &r[1], op, lo, hi);
			break;
		}
		case C_UPCAST:
			/* upcast = 0: events as stored, not at their type's latest
			 * schema version (docs/CONTRACTS.md) */
			if (sqlite3_value_numeric_type(v) != SQLITE_INTEGER ||
			    (sqlite3_value_int64(v) != 0 && sqlite3_value_int64(v) != 1)) {
				eg_sql_vtab_err(&vt->base, "upcast: expected 0 (events as stored) or 1 "
						"(at their type's latest schema version)");
				return SQLITE_ERROR;
			}
			cur->upcast = (int)sqlite3_value_int64(v);
			break;
		case C_KNOWN_AT: case C_AS_OF: {
			/* known_at: recorded <= it; as_of: time <= it */
			int64_t k;
			sqlite3_value **keep = col == C_KNOWN_AT ? &cur->known_at : &cur->as_of;
			if (eg_sql_time_arg(&vt->base, COL_NAMES[col], v, &k))
				return SQLITE_ERROR;
			sqlite3_value_free(*keep);
			if (!(*keep = sqlite3_value_dup(v)))
				return SQLITE_NOMEM;
			sqlite3_int64 *r = b.r[col == C_KNOWN_AT ? R_REC : R_TIME];
			bound(&r[0], &r[1], OP_LE, k, k);
			break;
		}
		default:
			break;
		}
	}
	if (rc != SQLITE_OK)
		return rc;
	if (conn->has_as_of)     /* the connection's bound (eg_sql_open_at) */
		bound(&b.r[R_TIME][0], &b.r[R_TIME][1], OP_LE, conn->as_of, conn->as_of);
	if (kinds_given && !cur->f.kinds)
		b.empty = 1;
	/* Record time never decreases along the log: a range of it is a
	 * range of positions. */
	if (!b.empty && b.r[R_REC][1] < INT64_MAX) {
		uint64_t at;
		if ((rc = eg_known_pos(conn->st, b.r[R_REC][1], &at)))
			return eg_sql_store_err(&vt->base, conn, rc);
		if ((sqlite3_int64)at < b.r[R_POS][1])
			b.r[R_POS][1] = (sqlite3_int64)at;
	}
	if (!b.empty && b.r[R_REC][0] > INT64_MIN) {
		uint64_t at;
		if ((rc = eg_known_pos(conn->st, b.r[R_REC][0] - 1, &at)))
			return eg_sql_store_err(&vt->base, conn, rc);
		if ((sqlite3_int64)at + 1 > b.r[R_POS][0])
			b.r[R_POS][0] = (sqlite3_int64)at + 1;
	}
	if (b.r[R_POS][1] > (sqlite3_int64)snap)
		b.r[R_POS][1] = (sqlite3_int64)snap;
	if (b.r[R_POS][0] < 1)
		b.r[R_POS][0] = 1;
	if (b.empty || b.r[R_POS][0] > b.r[R_POS][1] || b.r[R_TIME][0] > b.r[R_TIME][1])
		return SQLITE_OK;   /* eof */
	cur->f.from = (uint64_t)b.r[R_POS][0];
	cur->f.to = (uint64_t)b.r[R_POS][1];
	/* SQL sees every event at its type's latest schema version,
	 * unless upcast = 0. */
	cur->f.upcast = cur->upcast;
	cur->f.has_since = b.r[R_TIME][0] > INT64_MIN;
	cur->f.since = b.r[R_TIME][0];
	cur->f.has_until = b.r[R_TIME][1] < INT64_MAX;
	cur->f.until = b.r[R_TIME][1];
	cur->f.by = EG_BY_EVENT;
	cur->f.reverse = strstr(idxStr, "ORDER BY pos DESC") != NULL;
	if (cur->has_set) {
		/* Only the listed positions inside the range, each read alone. */
		size_t k = 0;
		for (size_t i = 0; i < cur->nset; i++)
			if (cur->set[i] >= cur->f.from && cur->set[i] <= cur->f.to)
				cur->set[k++] = cur->set[i];
		cur->nset = k;
		if (cur->f.reverse)
			for (size_t i = 0; i < k / 2; i++) {
				uint64_t t = cur->set[i];
				cur->set[i] = cur->set[k - 1 - i];
				cur->set[k - 1 - i] = t;
			}
		/* The LIMIT counts rows that pass the other conditions too. */
		cur->limit = cur->f.limit;
		cur->f.limit = 0;
	}
	cur->eof = 0;
	return cur_step(cur);
}

/* Start reading the plan's events (cur->f, or the next listed position):
 * the columns when the plan may read them and they cover the filter, else
 * the log.  *done: no listed position is left.  An SQLite code. */
static int cur_open(evcur *cur, int *done)
{
	evtab *vt = (evtab *)cur->base.pVtab;
	eg_filter one = cur->f;
	if (cur->has_set) {
		if (cur->iset >= cur->nset) {
			*done = 1;
			return SQLITE_OK;
		}
		one.from = one.to = cur->set[cur->iset++];
		one.reverse = 0;
	} else if (cur->columns) {
		static const eg_colneed none = { 0 };
		const char *why;
		int rc = eg_coliter_new(cur->conn->st, &cur->f, &none, &cur->ci, &why);
		if (rc == EG_OK)
			return SQLITE_OK;
		if (rc != EG_ENOTFOUND)
			return eg_sql_store_err(&vt->base, cur->conn, rc);
	}
	int rc = eg_iter_new(cur->conn->st, &cur->it, &one);
	if (rc)
		return eg_sql_store_err(&vt->base, cur->conn, rc);
	if (cur->lazy_ids)
		eg_iter_lazy_ids(cur->it);
	return SQLITE_OK;
}

/* The next event of the plan, or eof. */
static int cur_step(evcur *cur)
{
	evtab *vt = (evtab *)cur->base.pVtab;
	for (;;) {
		if (!cur->it && !cur->ci) {
			int done = 0, rc = cur_open(cur, &done);
			if (rc || done) {
				cur->eof = 1;
				return rc;
			}
		}
		if (cur->limit && cur->emitted >= cur->limit) {
			cur->eof = 1;
			return SQLITE_OK;
		}
		int rc = cur->ci ? eg_coliter_next(cur->ci, &cur->ev) : eg_iter_next(cur->it, &cur->ev);
		if (rc == EG_OK) {
			const eg_event *e = cur->ev;
			if ((cur->check_streams && !tlist_has(&cur->streams, e->stream, e->stream_len)) ||
			    (cur->check_types && !tlist_has(&cur->types, e->type, e->type_len)))
				continue;
			cur->emitted++;
			return SQLITE_OK;
		}
		eg_iter_free(cur->it);
		cur->it = NULL;
		eg_coliter_free(cur->ci);
		cur->ci = NULL;
		if (rc != EG_END)
			return eg_sql_store_err(&vt->base, cur->conn, rc);
		if (!cur->has_set) {
			cur->eof = 1;
			return SQLITE_OK;
		}
	}
}

static int ev_next(sqlite3_vtab_cursor *base)
{
	return cur_step((evcur *)base);
}

static int ev_eof(sqlite3_vtab_cursor *base)
{
	return ((evcur *)base)->eof;
}

/* -------------------------------------------------------------- values */

static void result_text(sqlite3_context *ctx, const char *s, size_t n)
{
	sqlite3_result_text64(ctx, s, n, SQLITE_TRANSIENT, SQLITE_UTF8);
}

static void result_time(sqlite3_context *ctx, int64_t us)
{
	char buf[EG_TIME_LEN + 1];
	eg_time_format(us, buf);
	result_text(ctx, buf, EG_TIME_LEN);
}

/* An event's tags as a JSON array; NULL when it has none. */
static void result_tags(sqlite3_context *ctx, const eg_event *e)
{
	if (!e->ntags) {
		sqlite3_result_null(ctx);
		return;
	}
	char *s = sqlite3_malloc64(6 * e->tags_len + 3 * e->ntags + 8), *p = s;
	if (!s) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	size_t off = 0, n;
	const char *t;
	*p++ = '[';
	for (int k = 0; eg_event_tag(e, &off, &t, &n); k++) {
		if (k)
			*p++ = ',';
		p += eg_json_quote(t, n, p);
	}
	*p++ = ']';
	sqlite3_result_text64(ctx, s, (sqlite3_uint64)(p - s), sqlite3_free, SQLITE_UTF8);
}

static int ev_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int i)
{
	evcur *cur = (evcur *)base;
	evtab *vt = (evtab *)base->pVtab;
	const eg_event *e = cur->ev;
	switch (vt->sem[i]) {
	case C_POS: sqlite3_result_int64(ctx, (sqlite3_int64)e->pos); break;
	case C_ID: result_text(ctx, e->id, e->id_len); break;
	case C_STREAM: result_text(ctx, e->stream, e->stream_len); break;
	case C_VERSION: sqlite3_result_int64(ctx, (sqlite3_int64)e->version); break;
	case C_TYPE: result_text(ctx, e->type, e->type_len); break;
	case C_KIND:
		sqlite3_result_text(ctx, KIND_NAMES[e->kind < 3 ? e->kind : 0], -1, SQLITE_STATIC);
		break;
	case C_TIME: result_time(ctx, e->time); break;
	case C_RECORDED: result_time(ctx, e->recorded); break;
	case C_ACTOR:
		if (e->actor_len)
			result_text(ctx, e->actor, e->actor_len);
		break;
	case C_SESSION:
		if (e->session_len)
			result_text(ctx, e->session, e->session_len);
		break;
	case C_DATA: result_text(ctx, e->data, e->data_len); break;
	case C_SCHEMA_VERSION:
		if (e->schema_version)
			sqlite3_result_int64(ctx, (sqlite3_int64)e->schema_version);
		else
			sqlite3_result_null(ctx);
		break;
	case C_META:
		if (e->meta_len)
			result_text(ctx, e->meta, e->meta_len);
		break;
	case C_TIME_US: sqlite3_result_int64(ctx, e->time); break;
	case C_RECORDED_US: sqlite3_result_int64(ctx, e->recorded); break;
	/* As given, so that SQLite's own check of known_at = X (under an
	 * OR, SQLite reads each branch and checks every term) holds. */
	case C_KNOWN_AT:
		if (cur->known_at)
			sqlite3_result_value(ctx, cur->known_at);
		break;
	case C_AS_OF:
		if (cur->as_of)
			sqlite3_result_value(ctx, cur->as_of);
		break;
	case C_UPCAST: sqlite3_result_int(ctx, cur->upcast); break;
	case C_TAGS: result_tags(ctx, e); break;
	case C_DIR:
		if (cur->conn && cur->conn->dir)
			sqlite3_result_text(ctx, cur->conn->dir, -1, SQLITE_TRANSIENT);
		break;
	default:
		break;
	}
	return SQLITE_OK;
}

static int ev_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((evcur *)base)->ev->pos;
	return SQLITE_OK;
}

/* ------------------------------------------------------------- cursors */

static int ev_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out)
{
	evtab *vt = (evtab *)base;
	evcur *cur = sqlite3_malloc(sizeof *cur);
	if (!cur)
		return SQLITE_NOMEM;
	memset(cur, 0, sizeof *cur);
	cur->eof = 1;
	if (vt->conn) {
		cur->conn = vt->conn;
		eg_sql_cursor_open(cur->conn);
	}
	*out = &cur->base;
	return SQLITE_OK;
}

static int ev_close(sqlite3_vtab_cursor *base)
{
	evcur *cur = (evcur *)base;
	cur_reset(cur);
	if (cur->conn)
		eg_sql_cursor_close(cur->conn);
	sqlite3_free(cur);
	return SQLITE_OK;
}

/* engram(DIR): a table the user creates over a store. */
static int ev_create(sqlite3 *db, void *aux, int argc, const char *const *argv,
		     sqlite3_vtab **out, char **err)
{
	return ev_connect(db, aux, argc, argv, out, err);
}

/* The events table (eponymous: xCreate NULL, the module is the table) and
 * engram(DIR), which differ only in that. */
#define EV_METHODS \
	.iVersion = 0, .xConnect = ev_connect, .xBestIndex = ev_best_index, \
	.xDisconnect = ev_disconnect, .xDestroy = ev_disconnect, .xOpen = ev_open, \
	.xClose = ev_close, .xFilter = ev_filter, .xNext = ev_next, .xEof = ev_eof, \
	.xColumn = ev_column, .xRowid = ev_rowid
static sqlite3_module EVENTS_MODULE = { EV_METHODS, .xCreate = NULL };
static sqlite3_module ENGRAM_MODULE = { EV_METHODS, .xCreate = ev_create };

/* --------------------------------------------------------- the extension */

static void ext_free(void *p)
{
	ext_state *x = p;
	while (x->conns) {
		eg_sql_conn *c = x->conns;
		x->conns = c->next;
		eg_sql_conn_free(c);
	}
	free(x);
}

/* The store in directory dir, opened for reading the first time a
 * statement names it and kept for the connection. */
static eg_sql_conn *ext_open(ext_state *x, const char *dir, char **msg)
{
	for (eg_sql_conn *c = x->conns; c; c = c->next)
		if (!strcmp(c->dir, dir))
			return c;
	eg_sql_conn *c = calloc(1, sizeof *c);
	if (!c || !(c->dir = strdup(dir))) {
		free(c);
		*msg = sqlite3_mprintf("out of memory");
		return NULL;
	}
	int rc = eg_store_open(&c->st, dir, EG_OPEN_READ, NULL);
	if (rc) {
		*msg = sqlite3_mprintf("cannot open the engram store %s: %s", dir,
				       c->st ? eg_errmsg(c->st) : eg_strerror(rc));
		eg_store_close(c->st);
		free(c->dir);
		free(c);
		return NULL;
	}
	c->own = 1;
	c->db = x->db;
	c->next = x->conns;
	x->conns = c;
	return c;
}

static eg_sql_conn *ext_conn(evtab *vt, sqlite3_value *dir)
{
	const char *d = NULL;
	size_t n = 0;
	char *msg = NULL;
	if (!dir || text_arg(dir, &d, &n) != T_TEXT || !n || strlen(d) != n) {
		eg_sql_vtab_err(&vt->base, "%s: expected the directory of a store, as in %s('DIR')",
				vt->name, vt->name);
		return NULL;
	}
	eg_sql_conn *c = ext_open(vt->ext, d, &msg);
	if (!c) {
		eg_sql_vtab_err(&vt->base, "%s: %s", vt->name, msg ? msg : "out of memory");
		sqlite3_free(msg);
	}
	return c;
}

typedef struct mod_aux {
	int kind;            /* 0: events (fixed store), 1: engram_events, 2: engram(DIR) */
	eg_sql_conn *conn;
	ext_state *ext;
} mod_aux;

static int ev_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
		      sqlite3_vtab **out, char **err)
{
	mod_aux *m = aux;
	eg_sql_conn *conn = m->conn;
	if (m->kind == 2) {
		if (argc != 4) {
			*err = sqlite3_mprintf("engram: expected one argument, the directory of a "
					       "store, as in CREATE VIRTUAL TABLE e USING engram(DIR)");
			return SQLITE_ERROR;
		}
		char *dir = eg_sql_dequote(argv[3]);
		if (!dir)
			return SQLITE_NOMEM;
		conn = ext_open(m->ext, dir, err);
		sqlite3_free(dir);
		if (!conn)
			return SQLITE_ERROR;
	} else if (argc > 3) {
		*err = sqlite3_mprintf("%s takes no module arguments", argv[0]);
		return SQLITE_ERROR;
	}
	evtab *vt = sqlite3_malloc(sizeof *vt);
	if (!vt)
		return SQLITE_NOMEM;
	memset(vt, 0, sizeof *vt);
	vt->conn = conn;
	vt->ext = m->kind == 1 ? m->ext : NULL;
	vt->name = m->kind == 1 ? "engram_events" : m->kind == 2 ? "engram" : "events";
	int rc = declare(db, vt, m->kind == 1);
	if (rc != SQLITE_OK) {
		sqlite3_free(vt);
		return rc;
	}
	sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
	*out = &vt->base;
	return SQLITE_OK;
}

static void aux_free(void *p)
{
	mod_aux *m = p;
	if (m && m->kind == 1)
		ext_free(m->ext);
	free(m);
}

int eg_sql_register_events(sqlite3 *db, eg_sql_conn *c)
{
	mod_aux *m = calloc(1, sizeof *m);
	if (!m)
		return SQLITE_NOMEM;
	m->conn = c;
	return sqlite3_create_module_v2(db, "events", &EVENTS_MODULE, m, free);
}

int eg_sql_register_ext(sqlite3 *db)
{
	mod_aux *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	ext_state *x = calloc(1, sizeof *x);
	if (!a || !b || !x) {
		free(a), free(b), free(x);
		return SQLITE_NOMEM;
	}
	/* engram_events owns the stores; engram(DIR) tables share them, and
	 * are disconnected before the modules are destroyed. */
	x->db = db;
	a->kind = 1, a->ext = x;
	b->kind = 2, b->ext = x;
	int rc = sqlite3_create_module_v2(db, "engram", &ENGRAM_MODULE, b, free);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_module_v2(db, "engram_events", &EVENTS_MODULE, a, aux_free);
	else
		aux_free(a);
	return rc;
}
