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
	uint64_t seed;       /* PRNG seed (0 is a valid seed) */
	int64_t start_us;    /* event time of the first event; 0 = 2025-01-01T00:00:00Z */
} eg_gen_opts;

/* Write o->events bank events to out.  Returns 0, or -1 on a write error
 * (errno set). */
int eg_gen_bank(FILE *out, const eg_gen_opts *o);

#endif
