/*
 * dset.h — what the dataset files of src/sql/ share: the kept table's
 * format (docs/FORMAT.md, "Datasets"), the open dataset, and the value
 * encoding.
 *
 * File DIR/datasets/NAME/table (little-endian; sections 8-aligned),
 * written in one pass, front to back:
 *   "EGDSET1\0";
 *   values: each row's values, one after the other (dset_put_value);
 *   rowoff u64[nrows+1]: where each row's values start in values;
 *   pass, null: per filter, a bitmap of nrows bits in u64 words (1: the
 *     row passes; 1: the expression was NULL);
 *   keep: the rows that pass every filter;
 *   keyid u32[nrows]: each row's key, numbered in order of first
 *     appearance; keyfirst u64[nkeys]: each key's first row;
 *   meta: the spec as the readers need it (dset_meta);
 *   manifest: JSON text (what engram dataset list and show print);
 *   trailer: "EGDSET1\0", nrows u64, nkeys u64, ncols u32, nfilters u32,
 *     then the offset and length (u64 each) of: values, rowoff, pass,
 *     null, keep, keyid, keyfirst, meta, manifest;
 * and the XXH3-64 of all that (the derived-state module's tail sum).
 */
#ifndef EG_DSET_H
#define EG_DSET_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "derived.h"
#include "engram.h"

#define DSET_MAGIC "EGDSET1"
#define DSET_SUB "/datasets"
#define DSET_FILE "table"
#define DSET_NAME_MAX 128

enum { DSEC_VALUES, DSEC_ROWOFF, DSEC_PASS, DSEC_NULL, DSEC_KEEP, DSEC_KEYID, DSEC_KEYFIRST,
       DSEC_META, DSEC_MANIFEST, DSEC_N };

/* The trailer: 8 + 16 + 8 + 16 per section. */
#define DSET_HDR (32 + 16 * DSEC_N)

/* Value tags. */
enum { DV_NULL = 0, DV_INT = 1, DV_REAL = 2, DV_TEXT = 3, DV_BLOB = 4 };

/* The spec as kept in meta: every string NUL-terminated in one block. */
typedef struct dset_filter {
	const char *name, *sql, *why;
	size_t *reads, nreads;
} dset_filter;

struct eg_dataset {
	eg_ds_view v;
	uint64_t nrows, nkeys, words;     /* words: u64 per bitmap */
	size_t ncols, nfilters;
	const unsigned char *values;
	uint64_t values_len;
	const uint64_t *rowoff, *pass, *null, *keep, *keyfirst;
	const uint32_t *keyid;
	const char *manifest;
	size_t manifest_len;
	/* from meta */
	char *name;
	char **cols;
	size_t key_col;
	size_t *output, noutput;
	int distinct;
	dset_filter *filters;
	uint64_t head;
	int64_t as_of, known_at;          /* EG_TIME_NONE: none */
	char fingerprint[65];
	char *meta_block;                 /* the strings above point in it */
};

/* Append v, SQLite's value, in the values encoding; -1 out of memory. */
struct sqlite3_value;
int dset_put_value(buf *b, struct sqlite3_value *v);
/* Append the integer i so. */
int dset_put_int(buf *b, int64_t i);
/* Decode the value at *p (below end) into v and move *p past it; -1 if
 * it runs past end. */
int dset_get_value(const unsigned char **p, const unsigned char *end, eg_dset_value *v);
/* The values of row r start and end. */
void dset_row(const eg_dataset *d, uint64_t r, const unsigned char **p, const unsigned char **end);

static inline int dset_bit(const uint64_t *bits, uint64_t r)
{
	return (int)(bits[r >> 6] >> (r & 63) & 1);
}

/* Is name a dataset name: letters, digits, '_', '-', '.', not starting
 * with '.' and not "..", at most DSET_NAME_MAX bytes?  NULL if so, else
 * what is wrong. */
const char *dset_name_error(const char *name);

#endif
