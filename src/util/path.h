/*
 * path.h — field paths: how specs (projections, windows, funnels) name a
 * part of an event.  An envelope field (stream, type, actor, session, time,
 * recorded, id, version, pos) or a member under data or meta (data.a.b).
 */
#ifndef EG_PATH_H
#define EG_PATH_H

#include "engram.h"
#include "json.h"

#include <stddef.h>

struct buf;

/* Where a field path starts. */
enum eg_path_root {
	EG_PATH_STREAM, EG_PATH_TYPE, EG_PATH_ACTOR, EG_PATH_SESSION, EG_PATH_TIME,
	EG_PATH_RECORDED, EG_PATH_ID, EG_PATH_VERSION, EG_PATH_POS, EG_PATH_DATA,
	EG_PATH_META
};

typedef struct eg_path {
	int root;            /* enum eg_path_root */
	char *text;          /* as written: "data.amount" */
	char **seg;          /* under data/meta: the member names */
	int nseg;
} eg_path;

/* Parse a field path (a JSON string span): 0, or -1 with what is allowed
 * written to why.  Free with eg_path_free (also after a failure). */
int eg_path_parse(const json_span *v, eg_path *p, char *why, size_t whylen);
void eg_path_free(eg_path *p);

/* Find the value at a data/meta path of an event: 1 with it in *out, 0 if
 * absent or null (and for envelope paths, which have no JSON value). */
int eg_path_get(const eg_event *e, const eg_path *p, json_span *out);

/* Append the JSON text of path p's value in e to b: envelope strings
 * quoted, times as RFC 3339 strings, null when absent (version 0 too).
 * found: for a data or meta path, its value already looked up (found->p
 * NULL: absent), or NULL to look it up here.  0, or -1 out of memory. */
int eg_path_json(const eg_event *e, const eg_path *p, const json_span *found, struct buf *b);

#endif
