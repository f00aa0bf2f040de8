/*
 * metric.h — the rollups' cells (metric.c): the fold of one sample into a
 * cell and the merge of cells, shared by the engine and its unit test.
 * A cell is the count, sum, min, max and last of the samples of one series
 * (or one name) in one bucket of a level, with a quantile sketch once it
 * holds more than two samples (up to two, min and max are the values).
 */
#ifndef EG_METRIC_H
#define EG_METRIC_H

#include <stdint.h>

#include "sketch.h"

typedef struct mt_cell {
	uint32_t id;          /* series id, or name id in the per-name levels */
	int32_t bucket;       /* bucket index: time / level, rounded down */
	uint64_t count;
	double sum, min, max, last;
	int64_t last_time;    /* the sample of greatest (time, pos) gives last */
	uint64_t last_pos;
	qs_sketch *sk;        /* NULL while count <= 2, or not decoded yet */
	const unsigned char *enc;  /* the sketch's bytes in a mapped file, decoded
				      on first use (eg_mt_cell_sketch) */
	uint32_t enc_n;
} mt_cell;

/* An empty cell of id and bucket. */
void eg_mt_cell_init(mt_cell *c, uint32_t id, int32_t bucket);
/* Fold one sample; EG_OK or EG_ENOMEM. */
int eg_mt_cell_add(mt_cell *c, double v, int64_t t, uint64_t pos);
/* Fold the samples of src into dst (with a sketch of dst's when want_sk,
 * else dst keeps none); EG_OK or EG_ENOMEM. */
int eg_mt_cell_merge(mt_cell *dst, const mt_cell *src, int want_sk);
/* Decode the sketch of a cell read from a file, if not yet; EG_OK,
 * EG_ECORRUPT or EG_ENOMEM. */
int eg_mt_cell_sketch(mt_cell *c);
/* The q-quantile of the cell's samples (exact for count <= 2). */
double eg_mt_cell_quantile(const mt_cell *c, double q);
void eg_mt_cell_free(mt_cell *c);

/* The sample in an event's data (a JSON object, valid): its value and its
 * canonical tags (keys sorted by their bytes, the last of duplicate keys
 * kept, compact JSON; "{}" without tags) into tags (cap bytes), their
 * length in *tags_len.  0, or -1 when it is not a sample: no finite
 * numeric "value", "tags" neither an object of strings nor null, more than
 * 64 tags or longer than cap. */
int eg_mt_sample_parse(const char *data, size_t n, double *v, char *tags, size_t cap,
		       size_t *tags_len);

#endif
