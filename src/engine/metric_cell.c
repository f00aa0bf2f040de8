/*
 * metric_cell.c — one cell of the metric rollups (metric.h): folding a
 * sample and merging cells.  A cell of at most two samples keeps no
 * sketch: its min and max are its values, so the 1-minute level of a
 * series sampled once a minute costs no sketch at all.
 */
#include "engram.h"
#include "metric.h"

#include <math.h>
#include <stdlib.h>

void eg_mt_cell_init(mt_cell *c, uint32_t id, int32_t bucket)
{
	*c = (mt_cell){ .id = id, .bucket = bucket, .min = INFINITY, .max = -INFINITY,
			.last_time = INT64_MIN };
}

void eg_mt_cell_free(mt_cell *c)
{
	if (c->sk) {
		eg_qs_free(c->sk);
		free(c->sk);
		c->sk = NULL;
	}
}

/* Give c a sketch holding the (at most two) values it has so far. */
static int cell_spill(mt_cell *c)
{
	if (c->sk)
		return EG_OK;
	qs_sketch *s = malloc(sizeof *s);
	if (!s)
		return EG_ENOMEM;
	eg_qs_init(s);
	if ((c->count >= 1 && eg_qs_add(s, c->min)) ||
	    (c->count == 2 && eg_qs_add(s, c->max))) {
		eg_qs_free(s);
		free(s);
		return EG_ENOMEM;
	}
	c->sk = s;
	return EG_OK;
}

int eg_mt_cell_sketch(mt_cell *c)
{
	if (c->sk || !c->enc)
		return EG_OK;
	qs_sketch *s = malloc(sizeof *s);
	if (!s)
		return EG_ENOMEM;
	int r = eg_qs_decode(s, c->enc, c->enc_n);
	if (r) {
		free(s);
		return r;
	}
	c->sk = s;
	c->enc = NULL;
	return EG_OK;
}

static void cell_last(mt_cell *c, double v, int64_t t, uint64_t pos)
{
	if (t > c->last_time || (t == c->last_time && pos > c->last_pos)) {
		c->last = v;
		c->last_time = t;
		c->last_pos = pos;
	}
}

int eg_mt_cell_add(mt_cell *c, double v, int64_t t, uint64_t pos)
{
	int r = eg_mt_cell_sketch(c);
	if (r)
		return r;
	if (c->count >= 2 && (cell_spill(c) || eg_qs_add(c->sk, v)))
		return EG_ENOMEM;
	c->count++;
	c->sum += v;
	if (v < c->min)
		c->min = v;
	if (v > c->max)
		c->max = v;
	cell_last(c, v, t, pos);
	return EG_OK;
}

int eg_mt_cell_merge(mt_cell *dst, const mt_cell *src, int want_sk)
{
	if (!src->count)
		return EG_OK;
	if (want_sk && dst->count + src->count > 2) {
		if (cell_spill(dst))
			return EG_ENOMEM;
		int r = src->sk ? eg_qs_merge(dst->sk, src->sk)
				: eg_qs_add(dst->sk, src->min) ||
				  (src->count == 2 && eg_qs_add(dst->sk, src->max));
		if (r)
			return EG_ENOMEM;
	}
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	cell_last(dst, src->last, src->last_time, src->last_pos);
	return EG_OK;
}

double eg_mt_cell_quantile(const mt_cell *c, double q)
{
	if (!c->count)
		return NAN;
	if (c->sk)
		return eg_qs_quantile(c->sk, q);
	/* nearest rank of one or two values: r = ceil(q n), 1 at least */
	return c->count == 2 && ceil(q * 2) >= 2 ? c->max : c->min;
}
