/*
 * sess.h — what the session engine (session.c) and its checkpoint files
 * (sessfile.c) share: the state of every stream's sessions.
 */
#ifndef EG_SESS_H
#define EG_SESS_H

#include "buf.h"
#include "derived.h"
#include "itab.h"
#include "engram.h"

#include <limits.h>
#include <stdint.h>

/* One session.  The client sessions it spans are a set of 64-bit hashes:
 * one inline, more in a sorted array. */
typedef struct ssess {
	int64_t start, end;           /* first and last event time */
	int64_t entry_t, exit_t;      /* first and last page view with a url */
	uint64_t entry_pos, exit_pos;
	uint64_t events, page_views;
	union {
		uint64_t one;
		uint64_t *many;
	} cs;
	uint64_t last_cs;             /* 0 or the set's latest: events repeat it */
	uint32_t entry_url, exit_url; /* url id + 1; 0: none */
	uint32_t stream, ncs;
} ssess;

/* A stream's sessions by start: the older ones in the pool (ids in ss),
 * the newest inline in cur, where nearly every event lands, so that taking
 * an event in time order touches the stream's entry and nothing else.  A
 * stream with sessions always has cur. */
typedef struct sorder {
	ssess cur;
	uint32_t *ss;
	uint32_t n, cap;
	int has_cur;
} sorder;

typedef struct sstate {
	uint64_t through;             /* events <= this position are in */
	uint64_t events, merges;
	itab streams, urls;
	sorder *ord;                  /* per stream id */
	uint32_t capord;
	ssess *s;                     /* the sessions; merged-away ones freed */
	uint32_t ns, caps;
	uint32_t *freel;
	uint32_t nfree, capfree;
	uint64_t live;
	/* A part of a run read on its own (session.c): where each session it
	 * made began, for counting merges as one reading in order would. */
	struct sborn {
		uint32_t sid;
		int64_t t;
	} *born;
	uint32_t nborn, capborn;
	int track;
} sstate;

/* How many sessions stream o has, and the i-th by start. */
static inline uint32_t sess_count(const sorder *o)
{
	return o->n + (uint32_t)o->has_cur;
}

static inline const ssess *sess_at(const sstate *S, const sorder *o, uint32_t i)
{
	return i < o->n ? &S->s[o->ss[i]] : &o->cur;
}

/* Ask for the i-th older session of o ahead of its use: the pool is in
 * order of creation, so a walk by stream and start would otherwise wait on
 * memory at every session.  (Asking for the second cache line it may span
 * as well made the walk slower.) */
static inline void sess_prefetch(const sstate *S, const sorder *o, uint32_t i)
{
	if (i < o->n)
		__builtin_prefetch(&S->s[o->ss[i]]);
}

void eg_sess_state_free(sstate *S);
/* The id of stream name, added (with no sessions) if new. */
uint32_t eg_sess_stream(sstate *S, const char *name, uint32_t len);
/* A new, empty pool session of stream at index i of its older ones. */
uint32_t eg_sess_new(sstate *S, uint32_t stream, uint32_t i);
/* Drop the pool session at index i of stream's older ones; the caller
 * counts S->live. */
int eg_sess_drop(sstate *S, uint32_t stream, uint32_t i);
/* Add client session hash h (0: none) to x's set; -1 if out of memory. */
int eg_sess_add_cs(ssess *x, uint64_t h);

/* What the options mean, for the name of the checkpoint directory and a
 * check in each checkpoint. */
typedef struct sess_key {
	int64_t gap;
	char **types, **pages;
	size_t ntypes, npages;
	size_t *plens;                /* strlen of each page type */
	int no_upcast;                /* events as stored (eg_sess_opts) */
	unsigned char hash[16];
} sess_key;

/* sessfile.c: the checkpoints of one key, in idx/sess/HASH/ (lockfd -1:
 * in memory only). */
typedef eg_ds sess_files;

int eg_sess_files_open(eg_store *st, const sess_key *k, sess_files *f);
void eg_sess_files_close(sess_files *f);
int eg_sess_lock(eg_store *st, sess_files *f);
void eg_sess_unlock(sess_files *f);
/* Save S as the checkpoint at S->through; ident is the identity of the
 * event at ident_pos (0: none), checked on load.  keep: a checkpoint kept
 * for queries known at earlier times; else it replaces the previous
 * newest one. */
int eg_sess_save(eg_store *st, const sess_files *f, const sess_key *k, const sstate *S,
	      uint64_t ident_pos, uint64_t ident, int keep);
/* What a checkpoint holds, as sessfile.c hands it to the engine. */
typedef struct sess_ckpt {
	uint64_t through, events, merges, nstreams, nurls, live;
	const unsigned char *body;
	size_t len;
} sess_ckpt;
/* The checkpoints at or before position at, newest first, as position * 2
 * (+ 1 for an end- one), in *out (malloc'd); how many. */
size_t eg_sess_ck_list(const sess_files *f, uint64_t at, uint64_t **out);
/* Read and check candidate cand of eg_sess_ck_list: EG_OK with c pointing
 * into view (free it with eg_ds_view_free), or EG_DS_ABSENT/DAMAGED. */
int eg_sess_ck_read(eg_store *st, const sess_files *f, const sess_key *k, uint64_t cand,
		 eg_ds_view *view, sess_ckpt *c);
/* session.c: load into S (empty) the newest valid checkpoint at or before
 * position at; S->through stays 0 when there is none. */
int eg_sess_load(eg_store *st, const sess_files *f, const sess_key *k, uint64_t at, sstate *S);

extern uint64_t eg_sess_save_every, eg_sess_pipe_min, eg_sess_save_min, eg_sess_part_min;

#endif
