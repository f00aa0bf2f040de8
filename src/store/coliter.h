/*
 * coliter.h — the engines' one way onto the columns (col.h): an event
 * source that yields eg_events made from column blocks, so that an engine
 * whose loop reads eg_iter's events reads the columns with the same loop.
 *
 * An event has pos, time, recorded, stream, type and kind from the
 * block, and a data object synthesized from the asked data paths only:
 * each present value as the log holds it, nested objects for nested paths
 * ({"a":{"b":1}} for data.a.b).  A lookup of an asked path in it finds the
 * same JSON text as in the logged event; nothing else is there.  id,
 * actor, session and meta are empty, version and schema_version 0: an
 * engine that needs any of them, or the whole of data, does not use this.
 *
 * Not part of the public API.
 */
#ifndef EG_COLITER_H
#define EG_COLITER_H

#include <stddef.h>
#include <stdint.h>

#include "col.h"
#include "engram.h"

/* Whether the engines may read columns: 0 when the environment variable
 * ENGRAM_NO_COLUMNS is set to anything but "" or "0" (every engine then
 * reads the log: how the tests compare the two paths).  Read once. */
int eg_col_allowed(void);

typedef struct eg_coliter eg_coliter;

/*
 * An iterator over the events f selects, with data holding need's paths
 * (data paths as segment lists, col.h).  f may bound positions, types,
 * kinds and either clock (since/until); a filter naming streams, or with
 * a limit or reverse, is not served.  EG_OK; EG_ENOTFOUND when the columns
 * cannot serve it (then *why, static text, says why, for --explain: the
 * caller reads the log); EG_ENOMEM, EG_EIO, EG_ECORRUPT.
 */
int eg_coliter_new(struct eg_store *st, const eg_filter *f, const eg_colneed *need,
		   eg_coliter **out, const char **why);
/* The next event: EG_OK with *e borrowed until the next call, EG_END, or
 * an error (EG_ECORRUPT: a column block failed its check). */
int eg_coliter_next(eg_coliter *it, const eg_event **e);
/* Events the scan read from column files and from the log's tail. */
void eg_coliter_counts(const eg_coliter *it, uint64_t *from_cols, uint64_t *from_log);
void eg_coliter_free(eg_coliter *it);

#endif
