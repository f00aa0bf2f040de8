/*
 * bench/metrics_gen.c SERIES DAYS SEED — the metric samples of
 * bench/metrics.sh as engram envelopes (NDJSON on stdout), until `engram
 * gen metrics` lands: one series per (name, tags), one sample per series
 * per minute for DAYS days from 2025-01-06, in time order except ~1% sent
 * 1 to 120 minutes late.  60% of the series are request latencies
 * (http_request_duration_ms by endpoint and host, a daily rhythm, log-normal
 * noise), 30% per-minute request counts (http_requests_total, a delta
 * counter), 10% a memory gauge (process_memory_bytes by host).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rs;

static double urand(void)
{
	rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
	return (double)(rs >> 11) / 9007199254740992.0;
}

static double gauss(void)
{
	double u = urand() + 1e-12, v = urand();
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

typedef struct late { long minute; char line[256]; } late;

static int line(char *b, size_t n, long s, long nseries, long minute, double *mem)
{
	const long t0 = 1736121600000L;   /* 2025-01-06T00:00:00Z, ms */
	long ms = t0 + minute * 60000L + (s % 60) * 1000L;
	double hour = fmod(minute / 60.0, 24.0);
	double rhythm = 1 + 0.5 * sin(2 * M_PI * (hour - 9) / 24);
	long lat = nseries * 6 / 10, req = nseries * 9 / 10;
	if (s < lat)
		return snprintf(b, n, "{\"kind\":\"metric\",\"type\":\"http_request_duration_ms\",\"time\":%ld,"
				"\"data\":{\"value\":%.3f,\"tags\":{\"endpoint\":\"/api/e%ld\",\"host\":\"host-%ld\"}}}\n",
				ms, 40 * rhythm * exp(0.5 * gauss()), s % 20, s / 20);
	if (s < req)
		return snprintf(b, n, "{\"kind\":\"metric\",\"type\":\"http_requests_total\",\"time\":%ld,"
				"\"data\":{\"value\":%ld,\"tags\":{\"endpoint\":\"/api/e%ld\",\"host\":\"host-%ld\"},"
				"\"metric_type\":\"counter\"}}\n", ms,
				(long)(100 * rhythm + 10 * gauss() + 10), (s - lat) % 20, (s - lat) / 20);
	mem[s] += 1e6 * gauss();
	return snprintf(b, n, "{\"kind\":\"metric\",\"type\":\"process_memory_bytes\",\"time\":%ld,"
			"\"data\":{\"value\":%.0f,\"tags\":{\"host\":\"host-%ld\"},\"metric_type\":\"gauge\"}}\n",
			ms, mem[s], s - req);
}

int main(int argc, char **argv)
{
	long nseries = argc > 1 ? atol(argv[1]) : 1000, days = argc > 2 ? atol(argv[2]) : 7;
	rs = argc > 3 ? strtoull(argv[3], NULL, 10) * 2654435761u + 1 : 7;
	double *mem = malloc(nseries * sizeof *mem);
	size_t cap = 1 << 16, nl = 0;
	late *l = malloc(cap * sizeof *l);
	if (!mem || !l)
		return 1;
	for (long s = 0; s < nseries; s++)
		mem[s] = 5e8 + 1e7 * s;
	char b[256];
	for (long m = 0; m < days * 1440; m++) {
		for (long s = 0; s < nseries; s++) {
			int n = line(b, sizeof b, s, nseries, m, mem);
			if (urand() < 0.01) {
				if (nl == cap && !(l = realloc(l, (cap *= 2) * sizeof *l)))
					return 1;
				l[nl].minute = m + 1 + (long)(urand() * 120);
				snprintf(l[nl++].line, sizeof l->line, "%s", b);
			} else {
				fwrite(b, 1, (size_t)n, stdout);
			}
		}
		for (size_t i = 0; i < nl;) {
			if (l[i].minute <= m || m == days * 1440 - 1) {
				fputs(l[i].line, stdout);
				l[i] = l[--nl];
			} else {
				i++;
			}
		}
	}
	return ferror(stdout) || fflush(stdout) ? 1 : 0;
}
