/*
 * schema.h — the schema language of event contracts: a subset of JSON
 * Schema (draft 2020-12) compiled once and checked against event data.
 *
 * The subset and each keyword's meaning are in docs/CONTRACTS.md, "The
 * schema language".  This module knows nothing of stores: it compiles a
 * schema document, validates a JSON value against it in one walk, and keeps
 * the annotations (default, description, title, x-*) for those who need
 * them (upcasting, forgetting).
 */
#ifndef EG_SCHEMA_H
#define EG_SCHEMA_H

#include <stddef.h>

typedef struct eg_schema eg_schema;

/* Sizes of the fields of one validation error (NUL included); longer
 * pointers and messages are cut, ending "...". */
#define EG_SCHEMA_PTR_MAX 256
#define EG_SCHEMA_KW_MAX 24
#define EG_SCHEMA_MSG_MAX 200

/* One violation: where in the instance (an RFC 6901 JSON pointer, "" for
 * the whole value), which keyword (such as "minimum", "required"), and what
 * was expected ("expected a number >= 0, got -5"). */
typedef struct eg_schema_error {
	char pointer[EG_SCHEMA_PTR_MAX];
	char keyword[EG_SCHEMA_KW_MAX];
	char message[EG_SCHEMA_MSG_MAX];
} eg_schema_error;

/*
 * Compile the schema document json[0..n) into *out.  Returns 0, or -1 with
 * "SCHEMA_PATH: what is wrong" in err (SCHEMA_PATH a JSON pointer into the
 * document, "" for its root, e.g. "/properties/price/minimum: expected a
 * number") and *out NULL.  Every keyword outside the subset is an error,
 * except those beginning "x-", which are kept as annotations.
 */
int eg_schema_compile(const char *json, size_t n, eg_schema **out, char *err, size_t errlen);

void eg_schema_free(eg_schema *s);

/*
 * Validate one JSON value json[0..n) (an event's data, already valid JSON)
 * against s.  Stores up to maxerrs errors in errs and their count in
 * *nerrs (nerrs may be NULL); the walk stops once maxerrs errors are found
 * (maxerrs 0: the verdict only).  Returns 0 if valid, 1 if not, -1 out of
 * memory.  Linear in n; never reads outside json[0..n), whatever its bytes
 * (text that is not JSON gets a meaningless verdict, never a crash).  Safe
 * to call from several threads on the same schema.
 */
int eg_schema_validate(const eg_schema *s, const char *json, size_t n,
		       eg_schema_error *errs, size_t maxerrs, size_t *nerrs);

/*
 * Validate an envelope field ("actor", "session" or "stream") against the
 * schema's "envelope" part: value[0..n) is the field's raw UTF-8 text, or
 * value NULL when the event has none (an error only if the envelope lists
 * the field as required).  Errors name the pointer "/actor" etc.  Returns
 * as eg_schema_validate; a field the envelope does not mention passes.
 */
int eg_schema_validate_envelope(const eg_schema *s, const char *field, const char *value,
				size_t n, eg_schema_error *errs, size_t maxerrs, size_t *nerrs);

/* Whether the schema has an "envelope" part (so that
 * eg_schema_validate_envelope can fail). */
int eg_schema_has_envelope(const eg_schema *s);

/*
 * An annotation of the schema object at the JSON pointer `at` of the
 * schema document ("" for the root, "/properties/email", "/$defs/money"):
 * name is "default", "description", "title" or one beginning "x-".
 * Returns its minified JSON text (borrowed, valid until eg_schema_free)
 * with its length in *len, or NULL if that object has no such annotation.
 */
const char *eg_schema_annotation(const eg_schema *s, const char *at, const char *name, size_t *len);

/* Call fn for every annotation, in document order: the schema pointer of
 * the object holding it, its name and its minified JSON text.  A nonzero
 * return from fn stops the walk and is returned. */
int eg_schema_annotations(const eg_schema *s,
			  int (*fn)(void *arg, const char *at, const char *name,
				    const char *json, size_t len),
			  void *arg);

#endif
