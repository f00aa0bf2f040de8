/*
 * metrictext.h — metrics as text, into metric envelopes (docs/METRICS.md):
 * the Prometheus text exposition format (0.0.4), OpenMetrics text, and
 * StatsD / DogStatsD lines.
 *
 * These are pure converters: text in, envelope NDJSON out, nothing of a
 * store.  `engram append --map prometheus|openmetrics|statsd` runs one and
 * appends what it wrote; the append then checks each envelope as any other
 * (so NaN and the infinities, written out as strings, are refused there and
 * --quarantine can keep them).
 */
#ifndef EG_METRICTEXT_H
#define EG_METRICTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * A text converter.  Reads [in, in + n) whole and appends to out one
 * envelope (a JSON object and '\n') per record; *lines gets a malloc'd
 * array (the caller frees it; NULL when nothing was written) with, for
 * each output line in order, the 1-based input line it came from, so that
 * an error the append finds in output line i names input line (*lines)[i].
 * Returns 0, or -1 with err holding "line N: what was expected" (nothing
 * of the output counts then; *lines is freed and NULL) — or "out of
 * memory".  The command's --map takes its text converters from a table of
 * such functions by name (cli/append.c).
 */
typedef int (*eg_textconv_fn)(const char *in, size_t n, buf *out, uint32_t **lines,
			      char *err, size_t errcap);

/* Prometheus text 0.0.4: timestamps are integer epoch milliseconds.  An
 * input with a "# EOF" line is OpenMetrics (eg_mt_openmetrics) instead. */
int eg_mt_prometheus(const char *in, size_t n, buf *out, uint32_t **lines,
		     char *err, size_t errcap);
/* OpenMetrics text: timestamps are epoch seconds, fractions allowed;
 * nothing may follow "# EOF". */
int eg_mt_openmetrics(const char *in, size_t n, buf *out, uint32_t **lines,
		      char *err, size_t errcap);
/* StatsD: name:value[:value…]|type[|@rate][|#tag:v,…][|Tseconds]. */
int eg_mt_statsd(const char *in, size_t n, buf *out, uint32_t **lines,
		 char *err, size_t errcap);

#endif
