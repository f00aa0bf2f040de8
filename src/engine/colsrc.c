/*
 * colsrc.c — the column files as the windows and sessions engines read
 * them: whether they may, what --explain reports, and the save points of
 * a run found up front, so that a column run marks its checkpoints at the
 * very events a log run does and the checkpoints stay byte-identical.
 */
#include "colsrc.h"
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eg_colsrc_off;

int eg_colsrc_allowed(void)
{
	return !eg_colsrc_off && eg_col_allowed();
}

void eg_colpath_log(eg_colpath *p, uint64_t events, const char *fmt, ...)
{
	p->path = "log";
	p->from_log += events;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof p->why, fmt, ap);
	va_end(ap);
}

void eg_colpath_cols(eg_colpath *p, uint64_t from_cols, uint64_t from_log)
{
	p->path = "columns";
	p->why[0] = 0;
	p->from_cols += from_cols;
	p->from_log += from_log;
}

static int own_event(const eg_event *e)
{
	return (e->type_len == sizeof EG_HEARTBEAT - 1 &&
		!memcmp(e->type, EG_HEARTBEAT, e->type_len)) ||
	       eg_reserved_stream(e->stream, e->stream_len);
}

static int savept_add(eg_savepts *sp, size_t *cap, uint64_t pos, uint64_t ident)
{
	if (sp->n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		uint64_t *p = realloc(sp->pos, c * sizeof *p), *q;
		if (!p)
			return -1;
		sp->pos = p;
		if (!(q = realloc(sp->ident, c * sizeof *q)))
			return -1;
		sp->ident = q;
		*cap = c;
	}
	sp->pos[sp->n] = pos;
	sp->ident[sp->n++] = ident;
	return 0;
}

int eg_savepts_find(eg_store *st, const eg_filter *f, uint64_t through, uint64_t every,
		    int skip_own, eg_savepts *out)
{
	memset(out, 0, sizeof *out);
	size_t cap = 0;
	uint64_t to = f->to;
	int rc = EG_OK;
	for (uint64_t k = through / every + 1; !rc && k <= to / every; k++) {
		eg_filter g = *f;
		g.from = k * every > f->from ? k * every : f->from;
		g.to = k * every + (every - 1) < to ? k * every + (every - 1) : to;
		if (g.from > g.to)
			continue;
		eg_iter *it;
		if ((rc = eg_iter_new(st, &it, &g)))
			break;
		const eg_event *e;
		while (!(rc = eg_iter_next(it, &e)) && skip_own && own_event(e))
			;
		if (!rc && savept_add(out, &cap, e->pos, eg_event_ident(e)))
			rc = eg_st_err(st, EG_ENOMEM, "out of memory");
		eg_iter_free(it);
		if (rc == EG_END)
			rc = EG_OK;
	}
	if (rc)
		eg_savepts_free(out);
	return rc;
}

void eg_savepts_free(eg_savepts *sp)
{
	free(sp->pos);
	free(sp->ident);
	memset(sp, 0, sizeof *sp);
}
