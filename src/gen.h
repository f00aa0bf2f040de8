/*
 * gen.h — deterministic generators of realistic events, as NDJSON.
 *
 * Used by `engram gen`, the demo, the tests and the benchmarks.  The same
 * arguments always give the same bytes.
 */
#ifndef EG_GEN_H
#define EG_GEN_H

#include <stdint.h>
#include <stdio.h>

typedef struct eg_gen_opts {
	uint64_t events;     /* how many lines to write */
	uint64_t accounts;   /* bank: how many accounts (0 = default 1000) */
	double late;         /* orders: fraction of events written late, 0..1 */
	uint64_t seed;       /* PRNG seed (0 is a valid seed) */
	int64_t start_us;    /* event time of the first event; 0 = 2025-01-01T00:00:00Z */
} eg_gen_opts;

/* Write o->events bank events to out.  Returns 0, or -1 on a write error
 * (errno set). */
int eg_gen_bank(FILE *out, const eg_gen_opts *o);

/* Write o->events order events to out: orders placed, paid, shipped,
 * delivered, cancelled and refunded, many in flight at once.  Lines come in
 * event-time order, except that a fraction o->late of them is held back and
 * written 1 to 12 hours (of event time) later than its own time; changing
 * o->late only reorders the same lines.  Returns 0, or -1 on a write error
 * or out of memory (errno set; EINVAL if o->late is not in [0, 1]). */
int eg_gen_orders(FILE *out, const eg_gen_opts *o);

#endif
