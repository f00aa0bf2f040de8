/*
 * funnel.h — the core of funnels (funnel.c), shared with the tests: the
 * longest chain of steps one stream makes, given each step's event times.
 */
#ifndef EG_FUNNEL_H
#define EG_FUNNEL_H

#include <stddef.h>
#include <stdint.h>

/*
 * t[i] holds the n[i] times (ascending, repeats allowed) of the events that
 * match step i, for 0 <= i < k.  A chain is e_1 … e_L with e_i matching
 * step i, times strictly increasing, and t(e_L) - t(e_1) <= within.
 * Returns the length L of the longest chain (0 when step 1 has no event)
 * and writes the times of the lexicographically earliest chain of that
 * length (earliest first step, then earliest second step, …) to
 * chain[0, L).  within >= 0.
 */
int eg_funnel_chain(const int64_t *const *t, const size_t *n, int k, int64_t within,
		 int64_t *chain);

#endif
