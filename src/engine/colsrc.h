/*
 * colsrc.h — what the windows and sessions engines share to read the
 * column files (src/store/col.h) instead of the log: whether they may,
 * the save points a log run would mark, and what --explain says about it.
 */
#ifndef EG_COLSRC_H
#define EG_COLSRC_H

#include "col.h"
#include "coliter.h"
#include "engram.h"

#include <stddef.h>
#include <stdint.h>

/* Which path a run read, for --explain. */
typedef struct eg_colpath {
	const char *path;            /* "columns", "log", or NULL: none read yet */
	char why[256];               /* the log ran: why not the columns */
	uint64_t from_cols, from_log;   /* events, summed over the handle's runs */
} eg_colpath;

/* May the engines read columns?  Not when ENGRAM_NO_COLUMNS is set
 * (eg_col_allowed, read once), nor while a test sets eg_colsrc_off: both
 * let tests compare the two paths. */
int eg_colsrc_allowed(void);
extern int eg_colsrc_off;

/* Note that a run read the log, and why (printf-style). */
void eg_colpath_log(eg_colpath *p, uint64_t events, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Note that a run read the columns: events from column blocks and from
 * blocks made of the log's tail. */
void eg_colpath_cols(eg_colpath *p, uint64_t from_cols, uint64_t from_log);

/* The events at which a run over the log marks its checkpoints: with
 * filter f, after position through, the first event of each run of
 * `every` positions (pos / every differing from the event before's),
 * skip_own leaving heartbeats and engram's own streams out as they are
 * left out of the run.  Found through the log (an index lookup each) on
 * the caller's thread, before a column run that reads on another. */
typedef struct eg_savepts {
	uint64_t *pos, *ident;
	size_t n, next;
} eg_savepts;
int eg_savepts_find(eg_store *st, const eg_filter *f, uint64_t through, uint64_t every,
		    int skip_own, eg_savepts *out);
void eg_savepts_free(eg_savepts *sp);
/* The identity to mark the event at pos with (0: none); calls come in
 * increasing pos. */
static inline uint64_t eg_savepts_at(eg_savepts *sp, uint64_t pos)
{
	while (sp->next < sp->n && sp->pos[sp->next] < pos)
		sp->next++;
	return sp->next < sp->n && sp->pos[sp->next] == pos ? sp->ident[sp->next++] : 0;
}

#endif
