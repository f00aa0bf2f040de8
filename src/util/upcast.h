/*
 * upcast.h — how an event's data written under schema version N becomes
 * version N+1: a list of pure operations on the data object, applied on
 * read (the log is never rewritten).  docs/CONTRACTS.md, "Upcasting",
 * describes the document:
 *
 *   [{"op": "rename", "path": "/total", "to": "amount"},
 *    {"op": "move",   "from": "/customer/email", "path": "/email"},
 *    {"op": "default","path": "/currency", "value": "EUR"},
 *    {"op": "drop",   "path": "/legacy"},
 *    {"op": "scale",  "path": "/price", "factor": 0.01},
 *    {"op": "split",  "from": "/name", "separator": " ", "path": ["/first", "/last"]},
 *    {"op": "join",   "from": ["/first", "/last"], "separator": " ", "path": "/name"}]
 *
 * Paths are RFC 6901 JSON pointers into `data` naming object members; the
 * token "*" stands for every element of an array (every member of an
 * object).  This module knows nothing of stores or schemas.
 */
#ifndef EG_UPCAST_H
#define EG_UPCAST_H

#include <stddef.h>

enum eg_upop {
	UP_RENAME,   /* path's last member gets the name `to`, in place */
	UP_MOVE,     /* the value at from goes to path (removed from from) */
	UP_DEFAULT,  /* path gets value when absent (or null) */
	UP_DROP,     /* path is removed */
	UP_SCALE,    /* the number at path is multiplied by factor */
	UP_SPLIT,    /* the string at from is cut at separator into paths[] */
	UP_JOIN      /* the strings at froms[] joined by separator go to path */
};

/* One operation as parsed.  Pointers are NUL-terminated JSON pointer text
 * as written ("/a/b"); value is minified JSON text; separator decoded. */
typedef struct eg_upcast_op {
	int op;                  /* enum eg_upop */
	char *from;              /* move, split; NULL otherwise */
	char *path;              /* every op but split and join's sources */
	char *to;                /* rename: the new member name (decoded) */
	char **froms;            /* join: nfrom sources */
	size_t nfrom;
	char **paths;            /* split: npath targets */
	size_t npath;
	char *value;             /* default: minified JSON text */
	size_t value_len;
	char *factor;            /* scale: the number as written */
	char *separator;         /* split, join */
	size_t separator_len;
} eg_upcast_op;

typedef struct eg_upcast {
	eg_upcast_op *ops;
	size_t n;
} eg_upcast;

/* Parse an upcast document json[0..n) (an array of operations).  0, or -1
 * with "DOC_PATH: what is wrong" in err ("/2/factor: expected a number")
 * and *out NULL. */
int eg_upcast_parse(const char *json, size_t n, eg_upcast **out, char *err, size_t errlen);

void eg_upcast_free(eg_upcast *u);

/*
 * Apply u to the data object data[0..n) (valid minified JSON object text):
 * the result, minified, goes to *out (a malloc'd buffer of *cap bytes,
 * grown as needed; *out NULL and *cap 0 at first).  Every byte the
 * operations do not touch is kept (member order, number text, escapes).
 * Operations whose source is absent do nothing.  Returns the result's
 * length, or (size_t)-1 out of memory.  Linear in n per operation.
 * The data is not validated again (stored data was, when appended): text
 * that is not an object, does not close, or is not UTF-8 comes back as it
 * was; other invalid text gives some output, never a read outside it.
 * Each thread keeps its working memory from call to call (freed when the
 * thread ends), so calls on the same thread allocate nothing once warm.
 */
size_t eg_upcast_apply(const eg_upcast *u, const char *data, size_t n, char **out, size_t *cap);

#endif
