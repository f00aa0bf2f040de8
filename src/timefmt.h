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

/* Either of the above: digits (with optional leading '-') are millis,
 * everything else must be RFC 3339.  Used for command-line flags too. */
int eg_time_parse(const char *s, size_t n, int64_t *us);

/* Write us as RFC 3339 UTC with microseconds into out (at least
 * EG_TIME_LEN + 1 bytes); NUL-terminates and returns EG_TIME_LEN.
 * Any int64 is accepted.  Times before 1970 print normally; for the years
 * outside 0000-9999 that an int64 can still hold (millis input can reach
 * them), the year field is "????" and the rest stays exact, so the output
 * keeps its fixed width and never parses back as a different time. */
size_t eg_time_format(int64_t us, char *out);

/* Parse a duration: a positive integer followed by one unit of us, ms, s,
 * m, h, d (e.g. 500ms, 30s, 10m, 6h, 7d).  Returns 0 and sets *us (the
 * duration in microseconds), or -1 for anything else, zero included. */
int eg_duration_parse(const char *s, size_t n, int64_t *us);

/* Write a duration in microseconds in the largest unit that divides it
 * exactly (90s -> "90s", 3600s -> "1h"), or as e.g. "1h30m" for mixes.
 * out needs 32 bytes; returns the length.
 * Clarification: since microseconds always divide exactly, the first rule
 * always applies and no mixes are written (5400s -> "90m"); this keeps every
 * positive output readable by eg_duration_parse, which takes one unit.
 * 0 prints as "0s" and negatives with a leading '-' (neither parses back). */
size_t eg_duration_format(int64_t us, char *out);

#endif
