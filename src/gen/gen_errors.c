/*
 * gen_errors.c — engram gen errors: the exceptions of four services of a
 * shop (checkout in Python, payments in Java, gateway in Go, web in Node)
 * as error events.  Each comes from one of a catalogue of bugs, whose
 * messages carry ids, numbers, UUIDs, quoted values, paths, addresses and
 * times (one bug, many messages, one fingerprint), with a stack as frames,
 * as the text its language prints, or none; a few carry an explicit
 * fingerprint, and a few regress: quiet for half the span, then back
 * after a new release.  Lines come in time order; the same options give
 * the same bytes.
 */
#include "gen_util.h"

#define DEFAULT_DAYS 30
#define LINE_MAX_BYTES 8192

enum { PY, JAVA, GO, NODE };
enum { M_FRAMES, M_TEXT, M_NONE };

typedef struct gframe {
	const char *func, *file;   /* %r in file: the release */
	int line, in_app;
} gframe;

typedef struct bug {
	int svc, mode, weight, regress;
	const char *type, *msg, *fingerprint;   /* fingerprint: raw JSON or NULL */
	gframe fr[4];                           /* outermost first */
	int nfr;
} bug;

static const char *const SERVICES[] = { "checkout", "payments", "gateway", "web" };
static const int LANG[] = { PY, JAVA, GO, NODE };
static const char *const RELEASES[4][4] = {
	{ "2.3.0", "2.3.1", "2.4.0", "2.5.0" },
	{ "5.12.0", "5.12.3", "5.13.0", "6.0.0" },
	{ "1.8.2", "1.9.0", "1.9.1", "1.10.0" },
	{ "2025.01.1", "2025.01.2", "2025.02.1", "2025.03.1" },
};

/* Message markers: %n a number, %u a UUID, %s a quoted name, %p a path,
 * %h a hex address, %t a time, %e an e-mail address, %i an IPv4 address. */
static const bug BUGS[] = {
	{ 0, M_FRAMES, 30, 0, "KeyError", "'cart:%n'", NULL,
	  { { "main", "/srv/checkout/releases/%r/app/main.py", 14, 1 },
	    { "handle_checkout", "/srv/checkout/releases/%r/app/views.py", 88, 1 },
	    { "get", "/usr/lib/python3/site-packages/redis/client.py", 1201, 0 } }, 3 },
	{ 0, M_TEXT, 12, 1, "ValueError", "invalid quantity %n for product %u", NULL,
	  { { "<module>", "/app/run.py", 3, 1 }, { "add_item", "/app/cart/items.py", 41, 1 },
	    { "validate", "/app/cart/validate.py", 17, 1 } }, 3 },
	{ 0, M_NONE, 8, 0, "ConnectionError", "could not reach %i:5432 after %n retries", NULL, { { 0 } }, 0 },
	{ 0, M_NONE, 6, 0, "LookupError", "no account for %e", NULL, { { 0 } }, 0 },
	{ 1, M_TEXT, 20, 0, "java.lang.IllegalStateException", "payment %u already captured", NULL,
	  { { "com.shop.payments.api.PaymentController.capture", "PaymentController.java", 55, 1 },
	    { "com.shop.payments.service.CaptureService.capture", "CaptureService.java", 120, 1 },
	    { "java.util.Optional.orElseThrow", "Optional.java", 403, 0 } }, 3 },
	{ 1, M_FRAMES, 10, 0, "java.lang.NullPointerException",
	  "Cannot invoke \"Card.getToken()\" because \"card\" is null", NULL,
	  { { "com.shop.payments.api.PaymentController.authorize", "PaymentController.java", 71, 1 },
	    { "com.shop.payments.service.TokenService.tokenize", "TokenService.java", 33, 1 } }, 2 },
	{ 1, M_NONE, 9, 0, "com.shop.payments.GatewayException", "card declined: code %n (order %n)",
	  "\"payments-card-declined\"", { { 0 } }, 0 },
	{ 1, M_TEXT, 4, 0, "java.sql.SQLTransientConnectionException",
	  "HikariPool-1 - Connection is not available, request timed out after %nms.", NULL,
	  { { "com.shop.payments.db.Ledger.append", "Ledger.java", 40, 1 },
	    { "com.zaxxer.hikari.pool.HikariPool.getConnection", "HikariPool.java", 181, 1 },
	    { "java.lang.Thread.run", "Thread.java", 833, 0 } }, 3 },
	{ 2, M_TEXT, 14, 1, "panic", "runtime error: index out of range [%n] with length %n", NULL,
	  { { "main.main", "/src/gateway/main.go", 30, 1 },
	    { "main.(*Router).ServeHTTP", "/src/gateway/router.go", 77, 1 },
	    { "runtime.goPanicIndex", "/usr/local/go/src/runtime/panic.go", 114, 0 } }, 3 },
	{ 2, M_FRAMES, 7, 0, "*url.Error",
	  "Get \"https://inventory.internal/items/%n\": context deadline exceeded", NULL,
	  { { "main.(*Inventory).Fetch", "/src/gateway/inventory.go", 52, 1 },
	    { "net/http.(*Client).Do", "/usr/local/go/src/net/http/client.go", 590, 0 } }, 2 },
	{ 2, M_NONE, 5, 0, "*errors.errorString", "rate limit exceeded for client %h at %t", NULL,
	  { { 0 } }, 0 },
	{ 3, M_TEXT, 16, 0, "TypeError", "Cannot read properties of undefined (reading 'price')", NULL,
	  { { "", "/app/src/server.js", 12, 1 }, { "renderCart", "/app/src/cart.js", 40, 1 },
	    { "Array.map", "<anonymous>", 0, 0 } }, 3 },
	{ 3, M_TEXT, 6, 1, "Error", "ENOENT: no such file or directory, open '%p'", NULL,
	  { { "loadTenant", "/app/src/tenants.js", 22, 1 }, { "readConfig", "/app/src/config.js", 9, 1 },
	    { "Object.openSync", "node:fs", 596, 0 } }, 3 },
	{ 3, M_NONE, 5, 0, "FetchError",
	  "request to https://api.shop.example/v1/users/%n failed, reason: socket hang up", 
	  "[\"{{ default }}\",\"upstream-api\"]", { { 0 } }, 0 },
	{ 3, M_FRAMES, 3, 0, "RangeError", "Invalid time value %s", NULL,
	  { { "formatDate", "/app/src/util/dates.js", 5, 1 } }, 1 },
};
#define NBUGS (sizeof BUGS / sizeof *BUGS)

static const char *const NAMES[] = { "alice", "bob", "carol", "dave", "élodie", "frank", "grace",
				     "heidi", "ivan", "judy", "mallory", "oscar" };

typedef struct egen {
	rng r;
	gbuf w;
	uint64_t key, n;
	int64_t t;
	char tmp[4096], text[8192];
	size_t tn, xn;
} egen;

/* Append to b (of cap bytes at *n) s, cut at the end. */
static void app(char *b, size_t cap, size_t *n, const char *s, size_t k)
{
	if (*n + 1 >= cap)
		return;
	if (k > cap - 1 - *n)
		k = cap - 1 - *n;
	memmove(b + *n, s, k);
	*n += k;
}

static void app_s(char *b, size_t cap, size_t *n, const char *s)
{
	app(b, cap, n, s, strlen(s));
}

static void app_u(char *b, size_t cap, size_t *n, uint64_t v)
{
	char d[24];
	app(b, cap, n, d, (size_t)snprintf(d, sizeof d, "%llu", (unsigned long long)v));
}

/* The message of bug b with its markers filled, into g->tmp. */
static void message(egen *g, const bug *b)
{
	char *o = g->tmp;
	size_t cap = sizeof g->tmp, n = 0;
	for (const char *p = b->msg; *p; p++) {
		if (*p != '%' || !p[1]) {
			app(o, cap, &n, p, 1);
			continue;
		}
		char d[64];
		gbuf u = { d, 0, NULL };
		switch (*++p) {
		case 'n':
			app_u(o, cap, &n, 1 + rng_below(&g->r, rng_below(&g->r, 2) ? 99 : 999999));
			break;
		case 'u':
			put_uuid(&u, g->key, g->n * 8 + 1);
			app(o, cap, &n, d, u.len);
			break;
		case 's':
			app_s(o, cap, &n, "'");
			app_s(o, cap, &n, NAMES[rng_below(&g->r, sizeof NAMES / sizeof *NAMES)]);
			app_s(o, cap, &n, "'");
			break;
		case 'p':
			app_s(o, cap, &n, "/etc/shop/tenants/");
			app_s(o, cap, &n, NAMES[rng_below(&g->r, sizeof NAMES / sizeof *NAMES)]);
			app_s(o, cap, &n, "/config.json");
			break;
		case 'h':
			app_s(o, cap, &n, "0x");
			for (int i = 0; i < 8; i++)
				app(o, cap, &n, &gen_hex[rng_below(&g->r, 16)], 1);
			break;
		case 't':
			put_time(&u, g->t - (int64_t)rng_below(&g->r, 3600) * 1000000);
			app(o, cap, &n, d, u.len);
			break;
		case 'e':
			app_s(o, cap, &n, NAMES[rng_below(&g->r, sizeof NAMES / sizeof *NAMES)]);
			app_u(o, cap, &n, rng_below(&g->r, 1000));
			app_s(o, cap, &n, "@example.com");
			break;
		case 'i':
			app_s(o, cap, &n, "10.");
			app_u(o, cap, &n, rng_below(&g->r, 256));
			app_s(o, cap, &n, ".");
			app_u(o, cap, &n, rng_below(&g->r, 256));
			app_s(o, cap, &n, ".");
			app_u(o, cap, &n, 1 + rng_below(&g->r, 254));
			break;
		default:
			app(o, cap, &n, p - 1, 2);
		}
	}
	g->tn = n;
}

/* A frame's file, its %r the release. */
static void file_of(const gframe *f, const char *rel, char *out, size_t cap, size_t *n)
{
	const char *r = strstr(f->file, "%r");
	if (!r) {
		app_s(out, cap, n, f->file);
		return;
	}
	app(out, cap, n, f->file, (size_t)(r - f->file));
	app_s(out, cap, n, rel);
	app_s(out, cap, n, r + 2);
}

/* The stack as its language prints it, into g->text.  Lines move with
 * the release (code changes); they are not in the fingerprint. */
static void text_stack(egen *g, const bug *b, const char *rel, int ri)
{
	char *o = g->text;
	size_t cap = sizeof g->text, n = 0;
	int lang = LANG[b->svc];
	if (lang == PY)
		app_s(o, cap, &n, "Traceback (most recent call last):\n");
	else if (lang == GO) {
		app_s(o, cap, &n, "panic: ");
		app(o, cap, &n, g->tmp, g->tn);
		app_s(o, cap, &n, "\n\ngoroutine ");
		app_u(o, cap, &n, 1 + rng_below(&g->r, 200));
		app_s(o, cap, &n, " [running]:\n");
	} else {
		app_s(o, cap, &n, b->type);
		app_s(o, cap, &n, ": ");
		app(o, cap, &n, g->tmp, g->tn);
		app_s(o, cap, &n, "\n");
	}
	for (int k = 0; k < b->nfr; k++) {
		/* Python outermost first, the others innermost first */
		const gframe *f = &b->fr[lang == PY ? k : b->nfr - 1 - k];
		int line = f->line ? f->line + 3 * ri : 0;
		switch (lang) {
		case PY:
			app_s(o, cap, &n, "  File \"");
			file_of(f, rel, o, cap, &n);
			app_s(o, cap, &n, "\", line ");
			app_u(o, cap, &n, (uint64_t)line);
			app_s(o, cap, &n, ", in ");
			app_s(o, cap, &n, f->func);
			app_s(o, cap, &n, "\n    return handler(request)\n");
			break;
		case JAVA:
			app_s(o, cap, &n, "\tat ");
			app_s(o, cap, &n, f->func);
			app_s(o, cap, &n, "(");
			file_of(f, rel, o, cap, &n);
			app_s(o, cap, &n, ":");
			app_u(o, cap, &n, (uint64_t)line);
			app_s(o, cap, &n, ")\n");
			break;
		case GO:
			app_s(o, cap, &n, f->func);
			app_s(o, cap, &n, "(0xc000");
			app_u(o, cap, &n, 100000 + rng_below(&g->r, 899999));
			app_s(o, cap, &n, ", ...)\n\t");
			file_of(f, rel, o, cap, &n);
			app_s(o, cap, &n, ":");
			app_u(o, cap, &n, (uint64_t)line);
			app_s(o, cap, &n, " +0x1d\n");
			break;
		case NODE:
			app_s(o, cap, &n, "    at ");
			if (f->func[0]) {
				app_s(o, cap, &n, f->func);
				app_s(o, cap, &n, " (");
			}
			file_of(f, rel, o, cap, &n);
			if (line) {
				app_s(o, cap, &n, ":");
				app_u(o, cap, &n, (uint64_t)line);
				app_s(o, cap, &n, ":");
				app_u(o, cap, &n, 5 + rng_below(&g->r, 30));
			}
			app_s(o, cap, &n, f->func[0] ? ")\n" : "\n");
			break;
		}
	}
	if (lang == PY) {
		app_s(o, cap, &n, b->type);
		app_s(o, cap, &n, ": ");
		app(o, cap, &n, g->tmp, g->tn);
		app_s(o, cap, &n, "\n");
	} else if (lang == JAVA && rng_below(&g->r, 3) == 0) {
		app_s(o, cap, &n, "Caused by: java.net.SocketTimeoutException: Read timed out\n"
			     "\tat java.net.SocketInputStream.read(SocketInputStream.java:150)\n"
			     "\t... 12 more\n");
	}
	g->xn = n;
}

static void put_esc(gbuf *w, const char *s, size_t n)
{
	put_char(w, '"');
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '"' || c == '\\') {
			put_char(w, '\\');
			put_char(w, c);
		} else if (c == '\n') {
			PUT(w, "\\n");
		} else if (c == '\t') {
			PUT(w, "\\t");
		} else {
			put_char(w, c);
		}
	}
	put_char(w, '"');
}

static void frames_json(egen *g, const bug *b, const char *rel, int ri)
{
	PUT(&g->w, "[");
	for (int k = 0; k < b->nfr; k++) {
		const gframe *f = &b->fr[k];
		char file[256];
		size_t fn = 0;
		file_of(f, rel, file, sizeof file, &fn);
		if (k)
			PUT(&g->w, ",");
		PUT(&g->w, "{\"function\":");
		put_esc(&g->w, f->func, strlen(f->func));
		PUT(&g->w, ",\"file\":");
		put_esc(&g->w, file, fn);
		PUT(&g->w, ",\"line\":");
		put_uint(&g->w, (uint64_t)(f->line + 3 * ri), 1);
		if (f->in_app)
			PUT(&g->w, ",\"in_app\":true}");
		else
			PUT(&g->w, ",\"in_app\":false}");
	}
	PUT(&g->w, "]");
}

/* Is bug b sending at time t?  A regressing one is quiet from a quarter
 * of the span to three quarters: it comes back with the fourth release. */
static int active(const bug *b, int64_t t, int64_t start, int64_t span)
{
	return !b->regress || t < start + span / 4 || t >= start + span / 4 * 3;
}

static void one_error(egen *g, const eg_gen_opts *o, int64_t start, int64_t span, uint64_t actors,
		      unsigned total)
{
	const bug *b = NULL;
	for (int tries = 0; tries < 16; tries++) {
		unsigned x = (unsigned)rng_below(&g->r, total);
		size_t i = 0;
		while (x >= (unsigned)BUGS[i].weight)
			x -= (unsigned)BUGS[i++].weight;
		b = &BUGS[i];
		if (active(b, g->t, start, span))
			break;
		b = NULL;
	}
	if (!b)
		b = &BUGS[0];
	int ri = (int)((g->t - start) * 4 / span);
	ri = ri < 0 ? 0 : ri > 3 ? 3 : ri;
	const char *rel = RELEASES[b->svc][ri];
	message(g, b);
	gbuf *w = &g->w;
	PUT(w, "{\"id\":\"");
	put_uuid(w, g->key, g->n * 8);
	PUT(w, "\",\"kind\":\"error\",\"type\":");
	put_esc(w, b->type, strlen(b->type));
	PUT(w, ",\"time\":\"");
	put_time(w, g->t);
	PUT(w, "\"");
	/* a tenth are background jobs: no actor, no session */
	if (rng_below(&g->r, 10)) {
		uint64_t a = 1 + rng_below(&g->r, actors);
		uint64_t day = (uint64_t)((g->t - start) / DAY_US);
		PUT(w, ",\"actor\":\"user-");
		put_uint(w, a, 6);
		PUT(w, "\",\"session\":\"s-");
		put_uint(w, a, 6);
		put_char(w, '-');
		put_uint(w, day, 3);
		PUT(w, "\"");
	}
	PUT(w, ",\"data\":{\"message\":");
	put_esc(w, g->tmp, g->tn);
	PUT(w, ",\"service\":\"");
	put(w, SERVICES[b->svc], strlen(SERVICES[b->svc]));
	PUT(w, "\",\"release\":\"");
	put(w, rel, strlen(rel));
	PUT(w, "\"");
	if (b->fingerprint) {
		PUT(w, ",\"fingerprint\":");
		put(w, b->fingerprint, strlen(b->fingerprint));
	}
	if (b->mode == M_FRAMES) {
		PUT(w, ",\"stack\":");
		frames_json(g, b, rel, ri);
	} else if (b->mode == M_TEXT) {
		text_stack(g, b, rel, ri);
		PUT(w, ",\"stack\":");
		put_esc(w, g->text, g->xn);
	}
	PUT(w, "}}\n");
	(void)o;
}

int eg_gen_errors(FILE *out, const eg_gen_opts *o)
{
	if (!out || !o || o->days > EG_GEN_MAX_DAYS) {
		errno = EINVAL;
		return -1;
	}
	egen *g = calloc(1, sizeof *g);
	char *b = malloc(BUF_SIZE + LINE_MAX_BYTES * 3);
	if (!g || !b) {
		free(g);
		free(b);
		errno = ENOMEM;
		return -1;
	}
	uint64_t sm = o->seed ^ 0x6572726f7273ULL;    /* "errors": apart from the other gens */
	seed_rng(&g->r, &sm);
	g->key = o->seed;
	g->w = (gbuf){ b, 0, out };
	int64_t start = o->start_us ? o->start_us : DEFAULT_START_US;
	int64_t span = (int64_t)(o->days ? o->days : DEFAULT_DAYS) * DAY_US;
	uint64_t actors = o->events / 20;
	actors = actors < 100 ? 100 : actors > 100000 ? 100000 : actors;
	unsigned total = 0;
	for (size_t i = 0; i < NBUGS; i++)
		total += (unsigned)BUGS[i].weight;
	int rc = 0;
	errno = 0;
	for (uint64_t n = 0; n < o->events && !rc; n++) {
		/* evenly over the span, in order, each in its own slot */
		int64_t slot = span / (int64_t)o->events;
		g->n = n;
		g->t = start + (int64_t)((__int128)span * (int64_t)n / (int64_t)o->events) +
		       (slot > 1 ? (int64_t)rng_below(&g->r, (uint64_t)slot) : 0);
		one_error(g, o, start, span, actors, total);
		if (g->w.len > BUF_SIZE)
			rc = gbuf_flush(&g->w);
	}
	if (!rc)
		rc = gbuf_finish(&g->w);
	free(b);
	free(g);
	return rc;
}
