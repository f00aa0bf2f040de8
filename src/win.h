/*
 * win.h — windows specs, as parsed (winspec.c) and run (window.c).
 */
#ifndef EG_WIN_H
#define EG_WIN_H

#include "proj.h"

#include <stdint.h>

enum wkind { W_TUMBLE, W_HOP, W_SESSION };

enum wagg { WA_COUNT, WA_SUM, WA_MIN, WA_MAX, WA_AVG, WA_DISTINCT, WA_PCT };

#define WIN_MAX_AGGS 16
#define WIN_MAX_GROUPS 8
#define WIN_MAX_TYPES 64
/* "allowed_lateness": "forever" */
#define WIN_FOREVER INT64_MAX

typedef struct waggspec {
	char *name;
	int agg;             /* enum wagg */
	ppath path;          /* all but count */
	double q;            /* WA_PCT: 0.5, 0.9, 0.95 or 0.99 */
} waggspec;

struct eg_win_spec {
	char *src;                  /* the JSON text it was parsed from */
	size_t srclen;
	char *name;
	char **types;               /* the top-level filter (NULL-terminated), or NULL */
	int ntypes;
	int kind;                   /* enum wkind */
	int64_t size;               /* tumble/hop: window length; session: the gap */
	int64_t every;              /* hop: the slide; tumble: = size */
	ppath group[WIN_MAX_GROUPS];
	int ngroup;
	waggspec a[WIN_MAX_AGGS];
	int na;
	int64_t watermark;          /* the delay behind the largest event time */
	int64_t lateness;           /* WIN_FOREVER: never final */
	unsigned char hash[32];     /* SHA-256 of the meaning (not the name) */
};

#endif
