/*
 * contract.h — the schema registry as the store keeps it in memory: every
 * version of every event type's schema, read from the reserved stream
 * $schemas (docs/CONTRACTS.md), compiled once, with the upcasts between
 * versions.  Append validates against it; readers upcast through it.
 */
#ifndef EG_CONTRACT_H
#define EG_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "engram.h"
#include "schema.h"
#include "shred.h"
#include "upcast.h"

#define SCHEMAS_STREAM "$schemas"
#define QUARANTINE_STREAM "$quarantine"
#define SCHEMA_EVENT "engram.schema"
#define REQUIRE_ALL_EVENT "engram.require_all"
#define REJECTED_EVENT "engram.rejected"

/* One version of a type's schema. */
typedef struct cver {
	uint64_t version, pos;
	int64_t recorded;
	char compat[24];
	char *doc;                 /* the schema document, minified */
	size_t doc_len;
	char *updoc;               /* the upcast document from version - 1, or NULL */
	size_t updoc_len;
	eg_schema *s;
	/* From version - 1 to this one: the document's operations, then a
	 * default for each required property that has one; NULL if none. */
	eg_upcast *up;
	eg_personal *pers;         /* its personal properties (x-personal), or NULL */
} cver;

typedef struct ctype {
	char *name;
	size_t len;
	cver *v;                   /* v[i] is version i + 1 */
	size_t n, cap;
	int upcasts;               /* some version has an upcast */
} ctype;

typedef struct registry {
	ctype *t;
	size_t n, cap;
	uint32_t *slot;            /* open addressing: index + 1 into t */
	size_t nslot;
	int require_all;
	uint64_t through;          /* $schemas read up to this position */
	int upcasts;               /* some type has an upcast */
	int personal;              /* some version has personal properties */
	char fp[65];               /* hex SHA-256 over every upcast, "" if none */
} registry;

struct eg_store;

/* Read the $schemas events committed since the last call (the first call
 * reads them all).  EG_OK or an error on the store. */
int eg_reg_refresh(struct eg_store *st);
void eg_reg_free(registry *r);

/* The upcast into a version: the operations of its upcast document
 * updoc (NULL: none), then, when defaults is set, a default for each
 * required property of its schema doc that has one.  *out NULL when that
 * makes nothing.  EG_OK, EG_EINVAL (the upcast document: why in err),
 * EG_ENOMEM. */
int eg_reg_build_upcast(const char *updoc, size_t uplen, const char *doc, size_t doclen,
			int defaults, eg_upcast **out, char *err, size_t errlen);

/* Does the data path seg[0..nseg) hold, lie inside or contain a property
 * that some version of some type marks personal? */
int eg_reg_personal_overlap(const registry *r, const char *const *path, size_t nseg);

/* The type's contract, or NULL. */
const ctype *eg_reg_type(const registry *r, const char *name, size_t n);

/*
 * Upcast data[0..n) of an event of type t stored under schema version
 * from (0: before any schema; taken as 1) to version `to`: *out is the
 * result (in *space of *cap bytes) or data itself when nothing applies.
 * Returns the length, or (size_t)-1 out of memory.
 */
size_t eg_reg_upcast(const ctype *t, uint64_t from, uint64_t to, const char *data, size_t n,
		     char **space, size_t *cap, const char **out);

/*
 * An event read (through the registry as last refreshed) at its type's
 * latest version: e->data then points into *space (*cap bytes, grown as
 * needed).  Events stored before the type had a schema keep
 * schema_version 0 (they were never validated) but read through the
 * upcasts from version 1.  EG_OK or EG_ENOMEM.
 */
int eg_reg_upcast_event(struct eg_store *st, eg_event *e, char **space, size_t *cap);

#endif
