/*
 * errfp.h — the fingerprint and title of an error event, by version of the
 * grouping algorithm (docs/ERRORS.md).  Sentry's order: an explicit
 * data.fingerprint, else the in-app stack frames (function and file, no
 * line numbers), else the exception type and the normalised message.
 * Pure: the error groups (src/engine/errgroup.c), the tests and, later,
 * the metric rollups' engram.errors samples compute it the same way.
 */
#ifndef EG_ERRFP_H
#define EG_ERRFP_H

#include <stddef.h>

#include "buf.h"

/* The versions of the algorithm, 1 .. EG_ERR_FP_LATEST. */
#define EG_ERR_FP_LATEST 2

/* What a fingerprint was made from. */
enum { EG_FP_EXPLICIT = 1, EG_FP_STACK = 2, EG_FP_MESSAGE = 3 };

/* Longest title, in bytes, before "..." is added. */
#define EG_ERR_TITLE_MAX 100

/* Append message [s, s + n) with its variable parts replaced by
 * placeholders (<uuid>, <ts>, <hex>, <num>, <str>, <path>; version 2
 * also <url>, <email>, <ip> and runs of white space as one space).  -1 when out
 * of memory. */
int eg_err_normalize(int version, const char *s, size_t n, buf *out);

/* The fingerprint (32 hex digits and a NUL: the first 16 bytes of SHA-256
 * over the version and the parts) and, when title is not NULL, the title
 * appended to it, of an error of type [type, type + tn) whose data is the
 * JSON object [data, data + dn) (valid JSON, as the store keeps it; other
 * values count as an empty object).  EG_FP_EXPLICIT, EG_FP_STACK or
 * EG_FP_MESSAGE; -1 when out of memory, -2 for an unknown version. */
int eg_err_fingerprint(int version, const char *type, size_t tn, const char *data, size_t dn,
		       char fp[33], buf *title);

#endif
