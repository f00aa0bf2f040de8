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

/* How gen clickstream writes each event. */
enum eg_gen_format {
	EG_GEN_ENGRAM = 0,   /* engram's input envelope, appended as is */
	EG_GEN_SEGMENT,      /* Segment spec messages: page, screen, track, identify */
	EG_GEN_SNOWPLOW,     /* Snowplow enriched events as JSON */
};

typedef struct eg_gen_opts {
	uint64_t events;     /* how many lines (clickstream: distinct events) to write */
	uint64_t accounts;   /* bank: how many accounts (0 = default 1000) */
	double late;         /* orders, clickstream: fraction of events written late, 0..1 */
	uint64_t seed;       /* PRNG seed (0 is a valid seed) */
	int64_t start_us;    /* start of the clock; 0 = 2025-01-01T00:00:00Z */
	uint64_t users;      /* clickstream: visitors (0 = default 10000) */
	double dup;          /* clickstream: fraction of events sent twice, 0..1 */
	uint32_t days;       /* clickstream: days the events spread over (0 = default 7) */
	int format;          /* clickstream: enum eg_gen_format */
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

/* Largest o->users and o->days that eg_gen_clickstream accepts. */
#define EG_GEN_MAX_USERS 100000000
#define EG_GEN_MAX_DAYS 36500

/* Write the clickstream of an online shop: o->events distinct events of
 * o->users visitors (user-000001 ...) in sessions spread over o->days days
 * from o->start_us, with a daily rhythm: page_view (screen_view in the
 * mobile apps), search, product_click, add_to_cart, checkout, purchase and
 * login.  Lines come in event-time order, except that a fraction o->late
 * of the events (of mobile users only, who queue them while offline) is
 * written minutes to hours late, and a fraction o->dup is written a second
 * time, byte for byte, seconds after the first.  Changing o->late or o->dup
 * changes neither the events nor, in EG_GEN_ENGRAM format, their lines;
 * o->format changes how each line is written, not which events there are or
 * in which order.  Returns 0, or -1 on a write error or out of memory
 * (errno set; EINVAL if o->late or o->dup is not in [0, 1], o->format is
 * unknown, or o->users or o->days is too large). */
int eg_gen_clickstream(FILE *out, const eg_gen_opts *o);

#endif
