/*
 * feat.h — point-in-time features (docs/FEATURES.md): the spec as parsed
 * (featspec.c), the entity table they read (feattab.c) and the queries
 * (feature.c).
 */
#ifndef EG_FEAT_H
#define EG_FEAT_H

#include "derived.h"
#include "engram.h"
#include "num.h"
#include "path.h"

#include <stdint.h>

enum fagg {
	F_COUNT, F_SUM, F_AVG, F_MIN, F_MAX, F_FIRST, F_LAST, F_DISTINCT,
	F_SINCE, F_RATIO, F_PROJ
};

/* Features per spec: a bit each in the per-type masks of a query. */
#define FEAT_MAX 64
/* Event types a spec may name: a table's type ids are 16 bits. */
#define FEAT_MAX_TYPES 1000

typedef struct ffeat {
	char *name;
	int agg;                    /* enum fagg */
	int path;                   /* index into spec->paths; -1: none */
	char **types;               /* NULL: any type */
	int ntypes;
	int64_t window;             /* 0: none */
	int64_t lo;                 /* min(window, ttl): how far back it reads; 0: no bound */
	int64_t unit;               /* since_last */
	int ratio[2];               /* ratio: feature indexes */
	char *proj_file;            /* projection: as written */
	char *proj_field;
	eg_proj_spec *proj;         /* given by eg_feat_spec_set_projection */
	int proj_field_ix;
	int proj_late;              /* keyed by the entity: the table lists its late events */
	int push;                   /* ... and the field is a count, sum, min or max (no sign)
	                               over the table's rows: answered from them */
	int pagg;                   /* push: F_COUNT, F_SUM, F_MIN or F_MAX */
} ffeat;

struct eg_feat_spec {
	char *src;
	size_t srclen;
	eg_path entity;
	char *label_entity, *label_cutoff;
	int64_t ttl;                /* 0: none */
	int inclusive;
	ffeat f[FEAT_MAX];
	int nf;
	int order[FEAT_MAX];        /* evaluation order: ratios after what they divide */
	eg_path paths[FEAT_MAX];    /* distinct value paths of the features */
	int npaths;
	char **types;               /* the union of the features' types; NULL: any */
	int ntypes;
	unsigned char table_hash[32];  /* what the entity table holds: entity, paths, types */
};

/* ------------------------------------------------------------ the table
 *
 * The events of the entities, grouped by entity (entities sorted by their
 * text) and in event-time order within one (then log order): columns of
 * time, recorded, pos, type and one value id per path.  Value ids index a
 * per-path dictionary of JSON texts (strings re-quoted in one form, so
 * equal strings have one id), with the number each text is, if any. */
typedef struct fdict {
	uint32_t n;                  /* ids 1..n; 0 is "absent" */
	const uint32_t *off;         /* n + 1 offsets into text (id - 1) */
	const char *text;
	const nacc *nums;            /* per id - 1: the number, ready to add */
	const uint8_t *isnum;
} fdict;

/* How an entity was written: a string, a number, or (both bits) some
 * events one way and some the other (a projection keeps the two apart). */
#define ENT_STRING 1
#define ENT_NUMBER 2

typedef struct ftab {
	uint64_t bound;              /* holds the events at positions <= bound */
	uint64_t from;               /* ... and > from (a tail starts after the file) */
	uint64_t ident;              /* of the event at bound: the log is still the one it read */
	uint64_t nrows;
	uint32_t nent, ntypes, npaths;
	const uint32_t *ent_off;     /* nent + 1, into ent_text */
	const char *ent_text;
	const uint64_t *ent_row;     /* nent + 1: rows of entity i */
	const uint8_t *ent_kind;     /* nent: ENT_STRING | ENT_NUMBER, as its events gave it */
	const uint32_t *type_off;    /* ntypes + 1, into type_text */
	const char *type_text;
	const int64_t *time, *rec;
	const uint64_t *pos;
	const uint16_t *type;
	const uint32_t *val[FEAT_MAX];
	fdict dict[FEAT_MAX];
	uint32_t *slot;              /* entity + 1 by the hash of its text (eg_ftab_index) */
	uint32_t scap;               /* slots, a power of two; 0: binary search */
	const char *path;            /* built: "columns" or "log" (its events); NULL:
	                                none read (loaded, or an empty range) */
	const char *path_why;        /* with "log": why not the columns */
	uint64_t from_columns, from_log;   /* with "columns": events read each way */
	void *mem;                   /* the image, when built in memory */
	size_t memlen;
	eg_ds_view view;             /* or the mapped file */
} ftab;

/* Build the table of spec's events at positions in (from, to] from the log. */
int eg_ftab_build(struct eg_store *st, const eg_feat_spec *spec, uint64_t from,
		  uint64_t to, ftab *t);
/* Write t as the checkpoint "table" of the directory d. */
int eg_ftab_save(const struct eg_ds *d, const ftab *t);
/* Read it back: EG_DS_OK (0), or EG_DS_ABSENT / EG_DS_DAMAGED / EG_DS_IOERR. */
int eg_ftab_load(const struct eg_ds *d, const eg_feat_spec *spec, ftab *t);
void eg_ftab_free(ftab *t);
/* Hash the entities of t for eg_ftab_find (else it searches their sorted
 * texts): 0, or -1 out of memory. */
int eg_ftab_index(ftab *t);
/* Rows [*a, *b) of entity e: its index, or UINT32_MAX when t has none. */
uint32_t eg_ftab_find(const ftab *t, const char *e, size_t n, uint64_t *a, uint64_t *b);

#endif
