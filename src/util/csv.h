/*
 * csv.h — reading CSV (RFC 4180): records of comma-separated fields, a
 * field in double quotes may hold commas, line breaks and "" for a quote.
 * Lines end with LF or CRLF; blank lines are skipped.  For labels files
 * (engram features), whose every field is passed through as text.
 */
#ifndef EG_CSV_H
#define EG_CSV_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct csv {
	const char *p, *end;
	uint64_t line;          /* line number where the record read last starts */
	uint64_t next_line;
	buf text;               /* the record's fields, unquoted, one after another */
	size_t *off;            /* field i is text.p + off[i], off[i + 1] - off[i] bytes */
	size_t nf, cap;
	const char *why;        /* after -1: what was wrong */
	uint64_t why_line;
} csv;

/* Read CSV from [p, end) (not copied: keep it while reading). */
void eg_csv_begin(csv *c, const char *p, const char *end);
/* The next record: 1, 0 at the end, -1 when malformed (c->why, in the
 * record that starts on line c->why_line) or out of memory (why says so). */
int eg_csv_next(csv *c);
static inline const char *eg_csv_field(const csv *c, size_t i, size_t *n)
{
	*n = c->off[i + 1] - c->off[i];
	return c->text.p + c->off[i];
}
void eg_csv_free(csv *c);

#endif
