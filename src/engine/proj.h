/*
 * proj.h — projection specs, as parsed (projspec.c) and folded (project.c).
 */
#ifndef EG_PROJ_H
#define EG_PROJ_H

#include "engram.h"
#include "json.h"
#include "num.h"
#include "path.h"

#include <stdint.h>

enum agg { A_COUNT, A_SUM, A_MIN, A_MAX, A_FIRST, A_LAST, A_OPEN };

#define PROJ_MAX_FIELDS 16
#define PROJ_MAX_TYPES 63    /* type index 63: any other type */
#define PROJ_MAX_NUMS 8

typedef struct pfield {
	char *name;
	int agg;             /* enum agg */
	eg_path path;        /* sum, min, max, first, last */
	int num;             /* index of the numeric path, sum/min/max; else -1 */
	uint64_t types;      /* type indexes this field takes (bit 63: others) */
	uint64_t opens;      /* open: the opening types (closing = types & ~opens) */
	int64_t sign[PROJ_MAX_TYPES + 1];  /* multiplier per type index */
} pfield;

struct eg_proj_spec {
	char *src;                  /* the JSON text it was parsed from */
	size_t srclen;
	char *name;
	eg_path key;
	uint64_t snapshot_every;
	int no_upcast;               /* "upcast": false: events as stored */
	uint64_t types;             /* the top-level filter; all ones if none */
	char **tnames;              /* every type the spec names, by index */
	int ntypes;
	int filter;                 /* top-level "types" given */
	pfield f[PROJ_MAX_FIELDS];
	int nf;
	eg_path *nums[PROJ_MAX_NUMS]; /* distinct numeric paths (borrowed) */
	int nnum;
	unsigned char hash[32];
};

/* Type index of an event type name: 0..ntypes-1, or PROJ_MAX_TYPES. */
int eg_proj_type_index(const eg_proj_spec *s, const char *type, size_t n);

/* Spec parsing helpers shared with the windows spec (winspec.c). */

/* Where a spec parser writes its one error: "JSON path: what is allowed". */
typedef struct spec_err {
	char *msg;
	size_t len;
	int failed;          /* the first error stays */
} spec_err;
/* Write the error (unless one was written already); returns -1. */
int eg_spec_bad(spec_err *e, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* 0 if json is valid; else -1 with "$: not valid JSON at line L, column C". */
int eg_spec_check_json(spec_err *e, const char *json, size_t n);
/* A NUL-terminated copy of a spec's text (malloc'd), or NULL. */
char *eg_spec_src_dup(const char *json, size_t n);
/* Whether a member key (a JSON_STRING span) is name. */
int eg_proj_key_is(const json_span *k, const char *name);

#endif
