/*
 * timefmt.h — times and durations as engram reads and prints them.
 *
 * A time is an int64 count of microseconds since 1970-01-01T00:00:00Z.
 * Input: RFC 3339 with any offset and 0-9 fraction digits, or an integer of
 * epoch milliseconds.  Output: RFC 3339 UTC with exactly six fraction
 * digits, e.g. 2025-01-01T10:00:00.000000Z.
 */
#ifndef EG_TIMEFMT_H
#define EG_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Length of a formatted time, without the terminating NUL. */
#define EG_TIME_LEN 27

/* Parse an RFC 3339 timestamp such as 2025-01-01T10:00:00Z,
 * 2025-01-01T10:00:00.123+02:00 or 2025-01-01t10:00:00.5z (case-insensitive
 * T and Z; a space is accepted in place of T).  Fractions beyond microseconds
 * are truncated.  Years 0000-9999 only; fields are range-checked (month 1-12,
 * day valid for the month including leap years, hour 0-23, minute 0-59,
 * second 0-60 where 60 is read as 59.999999, offset up to +-23:59).
 * Returns 0 and sets *us, or -1. */
int eg_time_parse_rfc3339(const char *s, size_t n, int64_t *us);

/* Parse an optional '-' followed by decimal digits as epoch milliseconds;
 * -1 on any other character or overflow of the microsecond range. */
int eg_time_parse_millis(const char *s, size_t n, int64_t *us);

/* For command-line flags: digits (with optional leading '-') are millis,
 * YYYY-MM-DD alone is midnight UTC of that day, everything else must be
 * RFC 3339.  (Event input takes only the two above.) */
int eg_time_parse(const char *s, size_t n, int64_t *us);

/* Write us as RFC 3339 UTC with microseconds into out (at least
 * EG_TIME_LEN + 1 bytes); NUL-terminates and returns EG_TIME_LEN.
 * Any int64 is accepted.  Times before 1970 print normally; for the years
 * outside 0000-9999 that an int64 can still hold (millis input can reach
 * them), the year field is "????" and the rest stays exact, so the output
 * keeps its fixed width and never parses back as a different time. */
size_t eg_time_format(int64_t us, char *out);

/* Parse a duration: a whole number followed by one unit of us, ms, s, m,
 * h, d (e.g. 500ms, 30s, 10m, 6h, 7d), or several such, each unit at most
 * once and the largest first (1h30m, 2d12h, 1m30s, 1s500ms).  Returns 0
 * and sets *us (the duration in microseconds), or -1 for anything else,
 * a total of zero included. */
int eg_duration_parse(const char *s, size_t n, int64_t *us);

/* How durations are written, for error messages. */
#define EG_DURATION_FORMS "a whole number and a unit (us, ms, s, m, h, d), or several, " \
	"largest unit first, such as 500ms, 30s, 10m, 6h, 7d or 1h30m"
/* How command-line times are written, for error messages. */
#define EG_TIME_FORMS "an RFC 3339 time such as 2025-01-01T10:00:00Z, a date such as " \
	"2025-01-01 (midnight UTC), or epoch milliseconds"

/* Write a duration in microseconds in the largest unit that divides it
 * exactly (90s -> "90s", 3600s -> "1h"), or as e.g. "1h30m" for mixes.
 * out needs 32 bytes; returns the length.
 * Clarification: since microseconds always divide exactly, the first rule
 * always applies and no mixes are written (5400s -> "90m"); every positive
 * output reads back with eg_duration_parse.
 * 0 prints as "0s" and negatives with a leading '-' (neither parses back). */
size_t eg_duration_format(int64_t us, char *out);

#endif
