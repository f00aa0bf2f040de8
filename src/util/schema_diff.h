/*
 * schema_diff.h — what changed between two versions of an event type's
 * schema, and whether the change keeps readers and writers compatible in
 * Confluent Schema Registry's sense (docs/CONTRACTS.md, "Compatibility").
 * One walk serves both `engram schema diff` (every change) and the
 * compatibility check of `engram schema add --compat MODE` (the changes
 * that break the mode).
 */
#ifndef EG_SCHEMA_DIFF_H
#define EG_SCHEMA_DIFF_H

#include "schema.h"
#include "upcast.h"

/*
 * One difference between two versions.  rule is a stable name from the
 * rule table of docs/CONTRACTS.md ("property-added-required",
 * "minimum-tightened", ...); pointer is the data pointer of the value
 * concerned ("" for the whole of data; "*" stands for every element of an
 * array, or every member of an object that "properties" does not list);
 * message is a sentence ("minimum raised from 0 to 1").
 *
 * breaks_backward: some data valid under the OLD version may be rejected
 * by the NEW one (a reader on the new version cannot read old events).
 * breaks_forward: some data valid under the NEW version may be rejected
 * by the OLD one (a reader still on the old version cannot read new
 * events).  All strings are borrowed, valid during the callback only.
 */
typedef struct eg_schema_change {
	const char *rule;
	const char *pointer;
	const char *message;
	int breaks_backward;
	int breaks_forward;
} eg_schema_change;

/*
 * Call fn once for every difference between old and new_: a value's own
 * keywords first, then its members in name order (those of both versions
 * merged), each followed by the changes inside it.  up, when not NULL, is
 * the upcast that turns data written under old into data for new_:
 * backward compatibility is then judged against old as transformed (a
 * property renamed by up is not "removed" for new readers), forward
 * compatibility against old as written (old readers see new data with no
 * upcast), and changes only the latter sees come last.  A nonzero
 * return from fn stops the walk and is returned (return a positive value:
 * -1 is out of memory).  Returns 0 when the walk ended.
 */
int eg_schema_diff(const eg_schema *old, const eg_schema *new_, const eg_upcast *up,
		   int (*fn)(void *ctx, const eg_schema_change *c), void *ctx);

/* The compatibility modes of `schema add --compat`.  A transitive mode
 * asks the same of every earlier version: the caller loops over them. */
enum eg_compat_mode {
	EG_COMPAT_NONE,
	EG_COMPAT_BACKWARD,
	EG_COMPAT_BACKWARD_TRANSITIVE,
	EG_COMPAT_FORWARD,
	EG_COMPAT_FORWARD_TRANSITIVE,
	EG_COMPAT_FULL,
	EG_COMPAT_FULL_TRANSITIVE
};

/* "backward", "backward_transitive", "forward", "forward_transitive",
 * "full", "full_transitive" or "none" (as written, lower case): the mode,
 * or -1 for any other text. */
int eg_compat_mode_parse(const char *s);

/* The name of a mode (a static string), or NULL for a value outside the
 * enum. */
const char *eg_compat_mode_name(int mode);

/* Whether a mode checks backward (new reads old) or forward (old reads
 * new) compatibility; full checks both, none neither. */
int eg_compat_checks_backward(int mode);
int eg_compat_checks_forward(int mode);

/*
 * Check new_ against old (with up as in eg_schema_diff) under mode: calls
 * fn (which may be NULL) for each change that breaks the mode.  Returns 0
 * if compatible, 1 if not, -1 out of memory, or fn's nonzero return (which
 * stops the check).  For a transitive mode it checks this one pair.
 */
int eg_schema_compatible(const eg_schema *old, const eg_schema *new_, const eg_upcast *up,
			 int mode, int (*fn)(void *ctx, const eg_schema_change *c), void *ctx);

#endif
