/*
 * col.h — the columnar form of the log (idx/col/, derived, rebuilt by
 * reindex), as the engines read it: blocks of events as arrays.
 *
 * A scan hands out blocks in log order.  Blocks that the column files hold
 * come from them (decompressed, zone maps applied); the events after the
 * last column block (the tail not yet in a column block) come from the log,
 * converted to the same arrays, so a caller has one loop whichever the
 * source.  Every value is exactly what the log holds: an engine that reads
 * a block computes byte for byte what it computes from eg_iter's events.
 *
 * Values at a data path, one tag per event:
 *   EG_CT_ABSENT  the path is not in the event (or a parent is not an object)
 *   EG_CT_NULL / EG_CT_FALSE / EG_CT_TRUE   the JSON literal
 *   EG_CT_INT     i[k] is the value and its JSON text is exactly its
 *                 shortest decimal form (-?[1-9][0-9]* or 0, fits in i64)
 *   EG_CT_STR     s[k] is an id in the path's string dictionary: the JSON
 *                 text of the string as stored (quotes and escapes kept)
 *   EG_CT_RAW     s[k] is an id of a JSON text as stored that is none of
 *                 the above (other numbers, objects, arrays); the block's
 *                 own table (eg_colscan_raw)
 * A path is looked up as the engines' log path looks it up (winrun.c's
 * ex_values): each segment with eg_json_members_valid, so of duplicate
 * names the last wins (as eg_json_member and eg_path_get), and a segment
 * under a value that is not an object is ABSENT.  An empty path (nseg 0)
 * is data itself (RAW).
 *
 * Stream and type ids: an idx/keys key id + 1 for a key the index knows
 * (stable across scans), 0 for no stream, or EG_COL_KEY_LOCAL | n for a
 * key the index does not know yet (the log's tail; valid in this scan
 * only).  A stream and a type of the same name have different ids.
 *
 * A scan, as an engine runs one (docs/STORAGE.md "Column files"):
 *
 *     rc = eg_colscan_new(st, &filter, &need, &sc);   EG_ENOTFOUND: read
 *     eg_colscan_only(sc, EG_COLB_TIME | EG_COLB_TYPE);  the log instead
 *     while ((rc = eg_colscan_next(sc, &b)) == EG_OK)
 *             for (k = 0; k < b->n; k++) if (b->want[k]) ...
 *     eg_colscan_counts(sc, &cols, &log);   for --explain
 *     eg_colscan_free(sc);
 *
 * Not part of the public API.
 */
#ifndef EG_COL_H
#define EG_COL_H

#include <stddef.h>
#include <stdint.h>

struct eg_store;
struct eg_filter;

enum eg_coltag {
	EG_CT_ABSENT = 0,
	EG_CT_NULL,
	EG_CT_FALSE,
	EG_CT_TRUE,
	EG_CT_INT,
	EG_CT_STR,
	EG_CT_RAW,
};

/* The values at one asked path in one block. */
typedef struct eg_colvals {
	const uint8_t *tag;          /* n tags */
	const int64_t *i;            /* n values, meaningful where tag is INT */
	const uint32_t *s;           /* n ids, meaningful where tag is STR or RAW */
	int has_int;                 /* some tag is INT: imin/imax hold */
	int64_t imin, imax;          /* zone map over the INT values */
} eg_colvals;

typedef struct eg_colblock {
	uint64_t first_pos;          /* events first_pos .. first_pos+n-1, dense: */
	uint32_t n;                  /*   filtered events are not removed here */
	const int64_t *time;         /* n event times (µs) */
	const int64_t *recorded;     /* n record times (µs) */
	const uint32_t *stream;      /* n key ids (idx/keys), 0: no stream */
	const uint32_t *type;        /* n key ids */
	const uint8_t *kind;         /* n enum eg_kind */
	const uint32_t *session;     /* n ids of the client session field
	                                (eg_colscan_session), 0: empty; NULL
	                                unless the need asked for it */
	const uint8_t *want;         /* n: 1 if the event matches the scan's
	                                filter (types, kinds, time range), else 0 */
	int64_t tmin, tmax;          /* zone map over time */
	const eg_colvals *vals;      /* one per asked path, in the order asked */
	int from_log;                /* 1: made from log records (the tail) */
} eg_colblock;

typedef struct eg_colscan eg_colscan;

/* Events per block: column blocks hold positions (k-1)*N+1 .. k*N; blocks
 * from the log are cut at the same multiples (and at from/to). */
#define EG_COL_BLOCK_EVENTS 65536u
/* Events per block, of the column files and of the blocks cut from the
 * log: EG_COL_BLOCK_EVENTS.  Tests make it small; column files written
 * with another size are refused as damaged. */
extern uint32_t eg_colscan_block_events;
#define EG_COL_KEY_LOCAL 0x80000000u

/* What a scan needs.  paths: data paths as segment lists ("a.b" is
 * {"a","b"}), npaths of them.  A scan is only possible if every path is
 * covered by the column files over the range (each block holds a column
 * for it, or the block records that no event in it has the path). */
typedef struct eg_colneed {
	const char *const *const *paths;   /* paths[i]: nseg[i] segment names */
	const int *nseg;
	size_t npaths;
	int session;                       /* 1: blocks carry session ids */
} eg_colneed;

/* The envelope arrays a caller reads, for eg_colscan_only. */
#define EG_COLB_TIME 1u
#define EG_COLB_RECORDED 2u
#define EG_COLB_STREAM 4u
#define EG_COLB_TYPE 8u
#define EG_COLB_KIND 16u

/* A scan of the events f selects (from/to, types, kinds, since/until on
 * event time; not streams, limit or reverse) with the values of need's
 * paths.  EG_OK; EG_ENOTFOUND when the columns do not cover the need or
 * the filter, or f->upcast is set and a type in it has upcasts (the
 * caller reads the log: say so in --explain); EG_ENOMEM,
 * EG_EIO, EG_ECORRUPT (a column block failed its check). */
int eg_colscan_new(struct eg_store *st, const struct eg_filter *f,
		   const eg_colneed *need, eg_colscan **out);
/* Read only these envelope arrays (EG_COLB_* bits; 0: all, the default):
 * the others are NULL in the blocks, and column blocks do not decode
 * them.  Call before the first eg_colscan_next.  The filter's own needs
 * are read anyway. */
void eg_colscan_only(eg_colscan *sc, unsigned cols);
/* The next block: EG_OK with *b borrowed until the next call, EG_END, or
 * an error.  Blocks that no wanted event is in are skipped. */
int eg_colscan_next(eg_colscan *sc, const eg_colblock **b);
/* The name of a stream or type key id (not NUL-terminated; "" for 0),
 * borrowed until the next eg_colscan_key or eg_colscan_next. */
const char *eg_colscan_key(eg_colscan *sc, uint32_t id, size_t *len);
/* The client session field (as stored, not JSON) of a session id > 0,
 * borrowed until the next eg_colscan_next. */
const char *eg_colscan_session(eg_colscan *sc, uint32_t id, size_t *len);
/* The JSON text of a STR id of asked path i (ids are the scan's: a column
 * file's dictionary ids, then the tail's texts after them), borrowed until
 * the next eg_colscan_next. */
const char *eg_colscan_str(eg_colscan *sc, size_t i, uint32_t id, size_t *len);
/* The JSON text of a RAW id of asked path i in the current block. */
const char *eg_colscan_raw(eg_colscan *sc, size_t i, uint32_t id, size_t *len);
/* Events that came from column files and from the log: for --explain. */
void eg_colscan_counts(const eg_colscan *sc, uint64_t *from_cols, uint64_t *from_log);
void eg_colscan_free(eg_colscan *sc);
/* An event's ident (eg_event_ident) for checkpoints: eg_store_event_ident. */

#endif
