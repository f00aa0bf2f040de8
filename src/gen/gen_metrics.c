/*
 * gen_metrics.c — `engram gen metrics`: the samples of a web service's
 * metrics as metric envelopes (docs/METRICS.md), one per series per step.
 *
 * The series: request latency per endpoint, method and region
 * (http_request_duration_ms, log-normal, slower in the busy hours), request
 * counters per endpoint, method and status (http_requests_total, per-step
 * increments as StatsD sends them, metric_type counter), and one queue
 * depth gauge per region (queue_depth).  A fraction of the samples is held
 * back and written 1 to 120 minutes of event time later (at least one step,
 * so after a later sample of its series): the late data the rollups must
 * take in.  Each line is a prefix made once per series, the time made once
 * per step, and a number: 10M samples take seconds.
 */
#include "engram.h"
#include "buf.h"
#include "gen_util.h"

/* 2026-01-05T00:00:00Z, a Monday. */
#define METRICS_START_US (1767571200LL * 1000000)
#define MINUTE_US (60LL * 1000000)
/* Longer than any line: the prefix and suffix are bounded by the names. */
#define LINE_MAX_BYTES 1024

static const char *const REGIONS[] = { "eu-west", "us-east", "ap-south" };
#define N_REGIONS 3

/* Routes with their method and median latency (ms) in a quiet hour. */
static const struct route {
	const char *path, *method;
	double median_ms;
} ROUTES[] = {
	{ "/api/orders", "GET", 35 },        { "/api/orders", "POST", 120 },
	{ "/api/cart", "GET", 25 },          { "/api/cart/items", "POST", 60 },
	{ "/api/products", "GET", 30 },      { "/api/products/search", "GET", 180 },
	{ "/api/users/me", "GET", 15 },      { "/api/login", "POST", 90 },
	{ "/api/checkout", "POST", 250 },    { "/api/payments", "POST", 400 },
	{ "/api/recommendations", "GET", 140 }, { "/api/reviews", "GET", 45 },
	{ "/api/inventory", "GET", 20 },     { "/api/shipping/quote", "POST", 160 },
	{ "/health", "GET", 2 },             { "/api/images", "GET", 8 },
};
#define N_ROUTES (sizeof ROUTES / sizeof *ROUTES)

/* Statuses of the counters and their share of the requests, per mille. */
static const struct status {
	const char *code;
	double share;
} STATUSES[] = { { "200", 0.93 }, { "404", 0.04 }, { "500", 0.02 }, { "503", 0.01 } };
#define N_STATUSES 4

/* Busy in the day (UTC): relative request rate by hour; latency follows it. */
static const double HOUR_LOAD[24] = {
	0.35, 0.28, 0.24, 0.22, 0.24, 0.32, 0.50, 0.75, 0.95, 1.10, 1.20, 1.25,
	1.30, 1.28, 1.25, 1.22, 1.20, 1.22, 1.28, 1.30, 1.15, 0.90, 0.65, 0.45,
};

enum { K_LATENCY, K_COUNTER, K_GAUGE };

typedef struct series {
	int kind;
	char *head;          /* the line up to the time */
	size_t head_n;
	char *tail;          /* after the value: metric_type, tags, end */
	size_t tail_n;
	double median;       /* latency: ms; counter: requests per step at load 1;
	                        gauge: the level at load 1 */
	double state;        /* gauge: its current depth */
} series;

/* A held-back sample: written once the clock passes release. */
typedef struct held {
	char *line;
	size_t n;
} held;

/* An endpoint name for route index e: the route itself, then versioned
 * copies (/api/v2/orders…) when there are more series than routes. */
static int endpoint(char *out, size_t cap, uint64_t e)
{
	const struct route *r = &ROUTES[e % N_ROUTES];
	uint64_t v = e / N_ROUTES;
	if (!v)
		return snprintf(out, cap, "%s", r->path);
	const char *rest = !strncmp(r->path, "/api/", 5) ? r->path + 5 : r->path + 1;
	return snprintf(out, cap, "/api/v%llu/%s", (unsigned long long)v + 1, rest);
}

static char *dup_text(const char *s, size_t *n)
{
	*n = strlen(s);
	char *p = malloc(*n + 1);
	if (p)
		memcpy(p, s, *n + 1);
	return p;
}

/* Make series i of the mix (latency first, then counters, then the gauges). */
static int make_series(series *s, uint64_t i, uint64_t nlat, uint64_t ncnt, rng *r)
{
	char head[256], tail[512], ep[128];
	const char *name, *mtype;
	if (i < nlat) {
		uint64_t e = i / N_REGIONS;
		const struct route *rt = &ROUTES[e % N_ROUTES];
		endpoint(ep, sizeof ep, e);
		s->kind = K_LATENCY;
		/* versioned copies and regions differ a little in speed */
		s->median = rt->median_ms * (0.8 + 0.4 * rng_unit(r)) *
			    (i % N_REGIONS == 2 ? 1.3 : 1.0);
		name = "http_request_duration_ms";
		mtype = "timer";
		snprintf(tail, sizeof tail, ",\"metric_type\":\"%s\",\"tags\":{\"endpoint\":\"%s\","
			 "\"method\":\"%s\",\"region\":\"%s\"}}}\n", mtype, ep, rt->method,
			 REGIONS[i % N_REGIONS]);
	} else if (i < nlat + ncnt) {
		uint64_t j = i - nlat, e = j / N_STATUSES;
		const struct route *rt = &ROUTES[e % N_ROUTES];
		endpoint(ep, sizeof ep, e);
		s->kind = K_COUNTER;
		s->median = (5 + 60 * rng_unit(r)) * STATUSES[j % N_STATUSES].share;
		name = "http_requests_total";
		mtype = "counter";
		snprintf(tail, sizeof tail, ",\"metric_type\":\"%s\",\"tags\":{\"endpoint\":\"%s\","
			 "\"method\":\"%s\",\"status\":\"%s\"}}}\n", mtype, ep, rt->method,
			 STATUSES[j % N_STATUSES].code);
	} else {
		uint64_t g = i - nlat - ncnt;
		s->kind = K_GAUGE;
		s->median = 20 + 30 * rng_unit(r);
		s->state = s->median * HOUR_LOAD[0];
		name = "queue_depth";
		mtype = "gauge";
		snprintf(tail, sizeof tail, ",\"metric_type\":\"%s\",\"tags\":{\"region\":\"%s\"}}}\n",
			 mtype, REGIONS[g % N_REGIONS]);
	}
	snprintf(head, sizeof head, "{\"kind\":\"metric\",\"type\":\"%s\",\"time\":\"", name);
	s->head = dup_text(head, &s->head_n);
	s->tail = dup_text(tail, &s->tail_n);
	return s->head && s->tail ? 0 : -1;
}

/* The load at time t: the hour's, eased into the next hour's. */
static double load_at(int64_t t)
{
	int64_t sod = day_second(t, NULL);
	int h = (int)(sod / 3600);
	double f = (double)(sod % 3600) / 3600.0;
	return HOUR_LOAD[h] * (1 - f) + HOUR_LOAD[(h + 1) % 24] * f;
}

/* Write one sample of s at the time text ts into w. */
static void sample(gbuf *w, series *s, const char *ts, double load, rng *r)
{
	put(w, s->head, s->head_n);
	put(w, ts, EG_TIME_LEN);
	PUT(w, "\",\"data\":{\"value\":");
	if (s->kind == K_LATENCY) {
		/* slower when busy: the median grows with the load */
		double ms = s->median * (0.6 + 0.5 * load) * exp_approx(0.45 * rng_normal(r));
		uint64_t tenths = (uint64_t)(ms * 10 + 0.5);
		if (tenths > 6000000)
			tenths = 6000000;   /* a timeout at 10 minutes */
		put_uint(w, tenths / 10, 1);
		put_char(w, '.');
		put_uint(w, tenths % 10, 1);
	} else if (s->kind == K_COUNTER) {
		double mean = s->median * load;
		double x = mean + (mean > 0 ? rng_normal(r) * (mean < 1 ? 1 : __builtin_sqrt(mean)) : 0);
		put_uint(w, x < 0.5 ? 0 : (uint64_t)(x + 0.5), 1);
	} else {
		/* a random walk pulled toward the load's level */
		double target = s->median * load;
		s->state += 0.2 * (target - s->state) + 2.5 * rng_normal(r);
		if (s->state < 0)
			s->state = 0;
		put_uint(w, (uint64_t)(s->state + 0.5), 1);
	}
	put(w, s->tail, s->tail_n);
}

int eg_gen_metrics(FILE *out, const eg_gen_metrics_opts *o)
{
	if (!out || !o || o->late < 0 || o->late > 100 || o->step_us < 0 ||
	    o->series > EG_GEN_MAX_SERIES || o->days > EG_GEN_MAX_DAYS) {
		errno = EINVAL;
		return -1;
	}
	uint64_t n = o->series ? o->series : 100;
	int64_t step = o->step_us ? o->step_us : MINUTE_US;
	int64_t start = o->start_us ? o->start_us : METRICS_START_US;
	uint32_t days = o->days ? o->days : 1;
	uint64_t steps = (uint64_t)((int64_t)days * DAY_US / step);
	/* the mix: a gauge per region, the rest half latency, half counters */
	uint64_t ngauge = n < N_REGIONS ? n : N_REGIONS;
	uint64_t nlat = (n - ngauge + 1) / 2, ncnt = n - ngauge - nlat;
	uint64_t sm = o->seed, lsm = o->seed ^ 0x6c617465ULL;
	rng r, lr;
	seed_rng(&r, &sm);
	seed_rng(&lr, &lsm);   /* lateness apart: --late changes no value */
	series *S = calloc(n, sizeof *S);
	heap H = { 0 };
	held *hs = NULL;
	uint32_t *hfree = NULL;
	size_t hcap = 0, nfree = 0, hn = 0;
	gbuf w = { .buf = malloc(BUF_SIZE), .out = out };
	int rc = -1;
	errno = 0;
	if (!S || !w.buf)
		goto oom;
	for (uint64_t i = 0; i < n; i++)
		if (make_series(&S[i], i, nlat, ncnt, &r))
			goto oom;
	double p_late = o->late / 100.0;
	int64_t late_min = step > MINUTE_US ? step : MINUTE_US;
	for (uint64_t k = 0; k < steps; k++) {
		int64_t t = start + (int64_t)k * step;
		char ts[EG_TIME_LEN + 1];
		eg_time_format(t, ts);
		double load = load_at(t);
		for (uint64_t i = 0; i < n; i++) {
			if (p_late > 0 && rng_unit(&lr) < p_late) {
				/* held back: made now (the values stay those of an
				 * on-time run), written after its release */
				gbuf lw = { .buf = w.buf + w.len };
				sample(&lw, &S[i], ts, load, &r);
				int64_t d = MINUTE_US * (1 + (int64_t)rng_below(&lr, 120));
				if (d < late_min)
					d = late_min;
				uint32_t slot;
				if (nfree) {
					slot = hfree[--nfree];
				} else {
					if (buf_grow(&hs, &hcap, hn + 1, sizeof *hs) ||
					    !(hfree = realloc(hfree, hcap * sizeof *hfree)))
						goto oom;
					slot = (uint32_t)hn++;
				}
				hs[slot].line = malloc(lw.len);
				if (!hs[slot].line || eg_heap_push(&H, t + d, slot))
					goto oom;
				memcpy(hs[slot].line, lw.buf, lw.len);
				hs[slot].n = lw.len;
				continue;
			}
			sample(&w, &S[i], ts, load, &r);
			if (w.len > BUF_SIZE - LINE_MAX_BYTES && gbuf_flush(&w))
				goto done;
		}
		/* the held samples whose time has come */
		while (H.n && (H.a[0].t <= t || k + 1 == steps)) {
			held *h = &hs[H.a[0].i];
			hfree[nfree++] = H.a[0].i;
			heap_pop(&H);
			put(&w, h->line, h->n);
			free(h->line);
			h->line = NULL;
			if (w.len > BUF_SIZE - LINE_MAX_BYTES && gbuf_flush(&w))
				goto done;
		}
	}
	if (gbuf_finish(&w))
		goto done;
	rc = 0;
	goto done;
oom:
	errno = ENOMEM;
done:
	for (uint64_t i = 0; S && i < n; i++) {
		free(S[i].head);
		free(S[i].tail);
	}
	for (size_t i = 0; i < hn; i++)
		free(hs[i].line);
	free(S);
	free(H.a);
	free(hs);
	free(hfree);
	free(w.buf);
	return rc;
}
