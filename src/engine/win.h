/*
 * win.h — windows specs, as parsed (winspec.c), run (window.c) and their
 * derived files: change records and checkpoints (winfile.c).
 */
#ifndef EG_WIN_H
#define EG_WIN_H

#include "buf.h"
#include "colsrc.h"
#include "derived.h"
#include "proj.h"
#include "sketch.h"

#include <limits.h>
#include <stddef.h>
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
	eg_path path;        /* all but count */
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
	eg_path group[WIN_MAX_GROUPS];
	int ngroup;
	waggspec a[WIN_MAX_AGGS];
	int na;
	int64_t watermark;          /* the delay behind the largest event time */
	int wm_heartbeats;          /* "watermark": "heartbeats": only heartbeats
	                               move it (a source's own watermark, such as
	                               engram kafka import's per-partition one) */
	int64_t lateness;           /* WIN_FOREVER: never final */
	int no_upcast;              /* "upcast": false: events as stored */
	unsigned char hash[32];     /* SHA-256 of the meaning (not the name) */
};


/* ------------------------------------------------------------ the engine */

/* count_distinct: the values themselves, not hashes, so that the count is
 * exact whatever the collisions. */
typedef struct tset {
	uint64_t *h;                 /* hash | 1; 0 = empty */
	uint32_t *off, *len;
	uint32_t cap, n;
	buf text;
} tset;

int eg_tset_add(tset *s, const char *v, size_t n);
int eg_tset_add_h(tset *s, uint64_t h, const char *v, size_t n);
void eg_tset_free(tset *s);

/* One aggregate of one window.  A window's accumulators are one array of
 * eg_win.astride bytes each, cut to what the spec's aggregates touch: n
 * alone when they are all counts, n and v without count_distinct and
 * percentiles, the whole struct else (a count-only spec's windows were
 * 288 bytes of fresh memory each, mostly faulted in for nothing). */
typedef struct wacc {
	uint64_t n;                  /* values taken (count: events) */
	nacc v;                      /* sum and avg: the sum; min, max: the value;
	                                count: always zero (0 in the state file) */
	tset set;                    /* count_distinct */
	qs_sketch qs;                /* p50 … p99 */
} wacc;

/* A window in memory: one not final yet.  A final window leaves memory;
 * its rows live on in the change records. */
typedef struct wwin {
	int64_t start, end;
	uint64_t serial;             /* unique, in order of creation; 0: a free slot */
	uint64_t rev, events;
	uint64_t last;               /* offset + 1 of its latest REV record, 0: none */
	uint32_t gid;
	int emitted;
	wacc *acc;
} wwin;

/* A min-heap of windows by (key, serial): ties break the same way whatever
 * the history of the heap, so a run resumed from a checkpoint emits in the
 * order an uninterrupted one does. */
typedef struct wheap {
	struct hent { int64_t key; uint64_t serial; uint32_t slot; } *v;
	size_t n, cap;
} wheap;

int eg_heap_push(wheap *h, int64_t key, uint64_t serial, uint32_t slot);

/* Change records: appended to mem, written to fd in large pieces. */
typedef struct wchanges {
	int fd;                      /* -1: in memory only */
	uint64_t flushed;            /* bytes in the file; mem follows them */
	uint64_t mine;               /* records from here on were made by this handle */
	buf mem;
	unsigned char *map;          /* the file mapped for reading */
	size_t maplen;
} wchanges;

/* The kinds of change record (docs/FORMAT.md, "Windows"). */
enum { WR_REV = 1, WR_LATE, WR_FINAL, WR_RETRACT };
#define WR_CAUSE_EVENT 1             /* the event at pos was folded into the window */
#define WR_HDR 64

/* A change record's header, decoded. */
typedef struct wrec {
	uint32_t len;
	int kind, flags, nvals;
	uint64_t pos, serial;
	int64_t start, end;
	uint32_t gid;
	uint64_t rev, prev;
	const unsigned char *vals;   /* nvals of (u32 length, bytes) */
} wrec;

/* ------------------------------------------------- events, extracted */

/* What the engine takes of one event, read out of it by winrun.c (on a
 * second thread in a long run): the group's text and its hash, and each
 * aggregate's value. */
typedef struct witem {
	uint64_t pos;
	uint64_t ident;              /* the event's identity at a save point, else 0 */
	int64_t time;
	uint64_t ghash;              /* XXH3 of the group's text */
	uint32_t goff, glen;         /* the group's text in the batch's arena */
	int heartbeat;
	uint32_t gkey;               /* 0, or the reader's number for the group's
	                                text (the same text, the same number,
	                                within a run): the engine then finds the
	                                group without hashing the text */
} witem;

/* One aggregate's value of one event. */
typedef struct wav {
	int32_t st;                  /* 1 a value, 0 missing, -1 not a number */
	uint32_t len;                /* count_distinct: the text's length */
	union {
		nacc n;                  /* sum, avg, min, max */
		double d;                /* p50 … p99 */
		struct { uint64_t off; } t;      /* count_distinct: text offset */
	} u;
} wav;

/* Events extracted, in log order: items[i]'s values are av[i * na …]. */
typedef struct wbatch {
	witem *items;
	wav *av;
	buf text;
	uint32_t n;
	int rc;                      /* EG_END after the last event, or an error */
} wbatch;

#define WB_CAP 2048
/* Value paths a spec reads at most (a path may feed a group and aggregates). */
#define WIN_MAX_VALS (WIN_MAX_GROUPS + WIN_MAX_AGGS)

int eg_win_take_batch(eg_win *w, const wbatch *b);
/* A run begins: the readers' group numbers (witem.gkey) start afresh. */
void eg_win_run_begin(eg_win *w);

/* winrun.c: a run saves a checkpoint every eg_win_save_every positions, and
 * reads on a second thread when it spans eg_win_pipe_min positions or more
 * (tests lower both, to take those paths on small logs). */
extern uint64_t eg_win_save_every, eg_win_pipe_min;

struct sess { uint32_t *id; uint32_t n, cap; };

struct eg_win {
	eg_store *st;
	const eg_win_spec *spec;
	int flags;
	/* derived files: idx/win/HASH/ */
	eg_ds ds;                    /* ds.lockfd -1: not open */
	int gfd, nosave;
	uint64_t saved_through, saved_len;   /* what the state file holds */
	uint64_t groups_saved;       /* bytes of gtext in the groups file */
	wchanges ch;
	/* the run */
	uint64_t through;
	int64_t max_time, wm;        /* INT64_MIN until the first event */
	uint64_t next_serial;
	/* groups: their JSON texts, each value prefixed by its u32 length */
	buf gtext;
	uint64_t *goff;              /* group id -> offset in gtext */
	uint32_t ngroups, gcap;
	uint32_t *gslot;             /* group id + 1 by hash */
	uint32_t gscap;
	/* session windows: per group, its sessions' slots by start */
	struct sess *sess;
	/* lookups saved (window.c): per group, the slot + 1 of the window it
	 * took an event into last; per witem.gkey, its group id + 1 (for
	 * the run under way: eg_win_run_begin clears it) */
	uint32_t *glast, nglast;
	uint32_t *gkmap, ngkmap;
	/* windows in memory, by slot */
	wwin *w;
	uint32_t nw, wcap;           /* slots used (free ones included), allocated */
	uint32_t *freeslots, nfree, freecap;
	size_t astride;              /* bytes of one wacc in a window's array */
	wacc **spare;                /* accumulators of windows gone, for reuse */
	uint32_t nspare, sparecap;
	uint32_t *wslot;             /* tumble/hop: slot + 1 by (start, group) */
	uint32_t wscap;
	wheap pend;                  /* not emitted, by end */
	wheap live;                  /* emitted, not final, by end + lateness */
	uint32_t open;
	/* formatting */
	buf vals;
	size_t voffs[WIN_MAX_AGGS + 1];
	buf rec;
	/* explain */
	uint64_t events, too_late, revs, corrections, heartbeats, created;
	uint64_t resumed_from;
	eg_colpath cols;             /* which path the runs read */
	eg_win_agg_stats ast[WIN_MAX_AGGS];
	/* row output */
	const char *gnames[WIN_MAX_GROUPS], *gvals[WIN_MAX_GROUPS];
	size_t glens[WIN_MAX_GROUPS];
	const char *anames[WIN_MAX_AGGS], *avals[WIN_MAX_AGGS], *pvals[WIN_MAX_AGGS];
	size_t alens[WIN_MAX_AGGS], plens[WIN_MAX_AGGS];
};

/* Aggregate i of the accumulator array a (strided by w->astride). */
static inline wacc *eg_win_acc(const eg_win *w, wacc *a, int i)
{
	return (wacc *)(void *)((char *)a + (size_t)i * w->astride);
}
/* Does this window's wacc hold v (else v reads as zero)? */
static inline int eg_win_has_v(const eg_win *w)
{
	return w->astride > offsetof(wacc, v);
}

/* window.c, for winfile.c */
uint32_t eg_win_slot_new(eg_win *w, int64_t start, int64_t end, uint32_t gid, uint64_t serial);
void eg_win_reset(eg_win *w);
int64_t eg_win_final_at(const eg_win_spec *s, int64_t end);
int eg_win_format(eg_win *w, const wwin *x);
const char *eg_win_empty_value(int agg);
void eg_win_group_row(eg_win *w, uint32_t gid);
int eg_win_group_add(eg_win *w, const char *key, size_t n, uint32_t *gid);
int eg_win_group_add_h(eg_win *w, const char *key, size_t n, uint64_t h, uint32_t *gid);

/* winfile.c */
int eg_wch_append(eg_win *w, const wrec *r, int with_vals, uint64_t *off);
int eg_wch_read(eg_win *w, uint64_t off, wrec *r);
uint64_t eg_wch_len(const eg_win *w);
void eg_wch_free(wchanges *c);
int eg_win_files_open(eg_win *w);
void eg_win_files_close(eg_win *w);
int eg_win_lock(eg_win *w);
void eg_win_unlock(eg_win *w);
/* window.c: restore the run from the state file, else start afresh. */
int eg_win_load(eg_win *w);
int eg_win_stale(eg_win *w);
/* The state file's header: WIN_ST_HDR bytes, then the run (winfile.c). */
#define WIN_ST_HDR 184
/* Read the state file, checked whole and of this spec: EG_OK, or
 * EG_DS_ABSENT / EG_DS_DAMAGED (start afresh). */
int eg_win_state_read(eg_win *w, eg_ds_view *v);
/* A check of the last bytes of changes before len (0 if none). */
int eg_win_tail_check(eg_win *w, uint64_t len, uint64_t *out);
/* Cut changes and groups back to what a checkpoint counts. */
int eg_win_files_cut(eg_win *w, uint64_t clen, uint64_t glen);
/* The lengths of changes and groups on disk; 0 or -1. */
int eg_win_files_size(eg_win *w, uint64_t *clen, uint64_t *glen);
/* The first len bytes of groups into *out (malloc'd): EG_OK, -1 if they
 * cannot be read (start afresh), or EG_ENOMEM. */
int eg_win_groups_read(eg_win *w, uint64_t len, char **out);
/* Forget the change records in memory and their mapping. */
void eg_win_files_forget(eg_win *w);
int eg_win_save(eg_win *w, uint64_t ident);

#endif
