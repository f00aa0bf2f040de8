/*
 * gen_click.c — the clickstream generator behind `engram gen clickstream`.
 *
 * Visitors of an online shop come in sessions, more in the evening than at
 * night.  A session walks through pages (home, category, search results,
 * product, cart, checkout) with a dwell time on each, and a few end in a
 * purchase; many sessions are in flight at once, a heap orders their next
 * events by time.  Mobile apps queue events while offline and send them
 * minutes to hours later (--late), and clients resend some events (--dup):
 * such lines are held back in a second heap until they arrive.  The
 * simulation decides everything an event says before a writer turns it into
 * a line, so the three formats (engram, Segment, Snowplow) describe the same
 * events in the same order.
 */
#include "engram.h"
#include "gen_util.h"

#include <stddef.h>

#define DEFAULT_USERS 10000
#define DEFAULT_DAYS 7
/* Longer than any line: a Snowplow purchase with a full cart is about 1.5k. */
#define LINE_MAX_BYTES 4096
/* Events per session on average, measured over five million sessions of
 * the model below; it sets the session rate so that the events span about
 * the asked number of days. */
#define SESSION_EVENTS 4.09
/* Distinct products a cart holds; a full cart takes no more products. */
#define MAX_CART 8
/* A session this long leaves: no model path should get near it. */
#define MAX_SESSION_EVENTS 500
/* A queued (late) event is sent at least this long after it happened. */
#define MIN_LATE_US (2 * 60 * 1000000LL)

/* Keys of the pure functions of (seed, number): ids must not repeat the
 * ids of gen bank (key = seed) or gen orders. */
#define CLICK_ID_KEY 0x636c69636b000000ULL    /* "click" */
#define SESSION_KEY 0x73657373696f6e00ULL     /* "session" */
#define ANON_KEY 0x616e6f6e00000000ULL        /* "anon" */
#define SCREEN_KEY 0x73637265656e0000ULL      /* "screen" */
#define USER_KEY 0x7573657273000000ULL        /* "users" */
#define LATENCY_KEY 0x6c6174656e637900ULL     /* "latency" */
#define PRICE_KEY 0x7072696365730000ULL       /* "prices" */

/* ---- the shop --------------------------------------------------------- */

#define SHOP "https://shop.example.com"

enum { N_CAT = 8, PER_CAT = 60, N_PRODUCTS = N_CAT * PER_CAT };
/* Product i (0-based) is /product/<1001 + i>, of category i % N_CAT: ids
 * do not give categories away in runs, as in a real catalogue. */
#define FIRST_PRODUCT_ID 1001

static const struct category {
	str slug;
	double median;      /* median price, in currency units */
} cats[N_CAT] = {
	{ S("shoes"), 79 },       { S("clothing"), 35 }, { S("electronics"), 119 },
	{ S("home-garden"), 42 }, { S("kitchen"), 29 },  { S("sports"), 49 },
	{ S("books"), 15 },       { S("toys"), 25 },
};
/* Interest in each category, of 100. */
static const unsigned char cat_w[N_CAT] = { 16, 20, 18, 12, 10, 10, 8, 6 };

/* Five searches per category, the most frequent first, with how many
 * products each finds. */
enum { QUERIES_PER_CAT = 5, N_QUERIES = N_CAT * QUERIES_PER_CAT };
static const struct query {
	str text;
	unsigned char results;
} queries[N_QUERIES] = {
	{ S("running shoes"), 48 }, { S("sneakers"), 60 }, { S("hiking boots"), 22 },
	{ S("sandals"), 31 }, { S("trail running"), 17 },
	{ S("rain jacket"), 26 }, { S("jeans"), 54 }, { S("hoodie"), 39 },
	{ S("t shirt"), 60 }, { S("summer dress"), 33 },
	{ S("wireless earbuds"), 41 }, { S("usb c charger"), 37 },
	{ S("bluetooth speaker"), 29 }, { S("smart watch"), 24 }, { S("laptop stand"), 12 },
	{ S("desk lamp"), 19 }, { S("plant pot"), 27 }, { S("bath towels"), 15 },
	{ S("garden hose"), 9 }, { S("bed sheets"), 23 },
	{ S("coffee grinder"), 11 }, { S("chef knife"), 14 }, { S("frying pan"), 21 },
	{ S("water bottle"), 36 }, { S("tea kettle"), 8 },
	{ S("yoga mat"), 18 }, { S("dumbbells"), 16 }, { S("bike helmet"), 13 },
	{ S("tennis balls"), 7 }, { S("camping tent"), 20 },
	{ S("cookbook"), 44 }, { S("science fiction"), 60 }, { S("travel guide"), 35 },
	{ S("kids books"), 52 }, { S("biography"), 28 },
	{ S("lego"), 38 }, { S("board games"), 31 }, { S("puzzle"), 25 },
	{ S("plush toy"), 17 }, { S("rc car"), 10 },
};

/* Pages, and where a visit comes from.  A page is (kind, arg): arg is the
 * category of P_CATEGORY, the query of P_SEARCH, the product of P_PRODUCT,
 * the site of P_EXTERNAL. */
enum { P_HOME, P_CATEGORY, P_SEARCH, P_PRODUCT, P_CART, P_CHECKOUT, P_CONFIRM,
       P_EXTERNAL, P_NONE };
static const struct page {
	str path;           /* completed by the slug, query or product id */
	str name;           /* Segment page/screen name, Snowplow page title */
	double dwell;       /* median seconds on the page */
} pages[] = {
	[P_HOME] = { S("/"), S("Home"), 15 },
	[P_CATEGORY] = { S("/category/"), S("Category"), 25 },
	[P_SEARCH] = { S("/search?q="), S("Search Results"), 20 },
	[P_PRODUCT] = { S("/product/"), S("Product"), 40 },
	[P_CART] = { S("/cart"), S("Cart"), 25 },
	[P_CHECKOUT] = { S("/checkout"), S("Checkout"), 70 },
	[P_CONFIRM] = { S("/checkout/confirmation"), S("Order Confirmation"), 10 },
};

/* Referrers of the first page of a session; "" is a direct visit (or, in
 * the apps, opening the app). */
enum { N_EXTERNAL = 7 };
static const str externals[N_EXTERNAL] = {
	S(""), S("https://www.google.com/"), S("https://www.bing.com/"),
	S("https://www.facebook.com/"), S("https://www.instagram.com/"),
	S("https://t.co/"), S("https://newsletter.example.com/"),
};
static const unsigned char web_ref_w[N_EXTERNAL] = { 30, 42, 5, 7, 5, 3, 8 };
static const unsigned char app_ref_w[N_EXTERNAL] = { 82, 0, 0, 0, 8, 0, 10 };
/* The first page: home, category, search results or product. */
static const unsigned char web_land_w[4] = { 55, 13, 8, 24 };
static const unsigned char app_land_w[4] = { 80, 5, 5, 10 };

enum { L_SEARCH, L_CATEGORY, L_RECOMMENDED };
static const str lists[] = {
	S("search_results"), S("category"), S("recommendations"),
};

static const str currencies[] = { S("EUR"), S("USD"), S("GBP") };

enum { M_PASSWORD, M_GOOGLE, M_APPLE };
static const str methods[] = { S("password"), S("google"), S("apple") };

/* ---- devices ------------------------------------------------------------ */

enum { D_WEB, D_IOS, D_ANDROID };
static const str devices[] = { S("web"), S("ios"), S("android") };
/* Of 100 visitors; each keeps one device. */
static const unsigned char device_w[3] = { 50, 28, 22 };

/* Web visitors' browsers, with what Segment and Snowplow derive from them. */
static const struct browser {
	str ua, os, os_version, os_family;
	int mobile;
} browsers[] = {
	{ S("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
	  S("Windows"), S("10"), S("Windows"), 0 },
	{ S("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"),
	  S("Windows"), S("10"), S("Windows"), 0 },
	{ S("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"),
	  S("Windows"), S("10"), S("Windows"), 0 },
	{ S("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"),
	  S("Mac OS X"), S("10.15.7"), S("Mac OS X"), 0 },
	{ S("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
	  S("Mac OS X"), S("10.15.7"), S("Mac OS X"), 0 },
	{ S("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
	  S("iOS"), S("18.1"), S("iOS"), 1 },
	{ S("Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"),
	  S("Android"), S("14"), S("Android"), 1 },
};
#define N_BROWSERS (sizeof browsers / sizeof browsers[0])
static const unsigned char browser_w[N_BROWSERS] = { 30, 8, 7, 12, 13, 18, 12 };

/* App visitors' OS versions and phone makers. */
static const str ios_versions[] = { S("17.6.1"), S("18.1"), S("18.2") };
static const str android_versions[] = { S("13"), S("14"), S("15") };
static const str android_makers[] = { S("Samsung"), S("Google"), S("Xiaomi") };

/* ---- events -------------------------------------------------------------- */

enum { E_PAGE_VIEW, E_SCREEN_VIEW, E_SEARCH, E_PRODUCT_CLICK, E_ADD_TO_CART,
       E_CHECKOUT, E_PURCHASE, E_LOGIN };
static const str type_names[] = {
	S("page_view"), S("screen_view"), S("search"), S("product_click"),
	S("add_to_cart"), S("checkout"), S("purchase"), S("login"),
};

/* What a session does next: view a page, or act on the page it is on. */
enum { A_VIEW, A_SEARCH, A_CLICK, A_ADD, A_CHECKOUT, A_LOGIN, A_PURCHASE };

typedef struct cart_line {
	uint16_t product, qty;
} cart_line;

/* The user's traits that never change, a function of (seed, user). */
typedef struct traits {
	uint8_t device, known, cur, browser, os_version, maker;
} traits;

typedef struct session {
	uint64_t number;          /* the session id is a UUID of it */
	uint32_t user;            /* 0-based; stream user-<user + 1> */
	uint32_t idx;             /* the user's how-many-th session, from 1 */
	int64_t next_t;           /* when the next action happens */
	int64_t view_t, dwell;    /* when the current page was viewed, for how long */
	int64_t flush_at;         /* when the offline queue is sent */
	int64_t cart_cents;
	uint32_t flush_seq;       /* events queued for flush_at so far */
	uint16_t events;
	uint16_t arg, ref_arg, next_arg, list_arg;
	uint8_t page, ref, next_page, list_page;  /* P_*: now, before, next, last list */
	uint8_t next;             /* A_* */
	uint8_t list, position, qty, method;      /* of the planned action */
	uint8_t logged_in, offline, ncart;
	traits tr;
	cart_line cart[MAX_CART];
} session;

/* One event as the simulation decided it; writers add the session's state. */
typedef struct ev {
	uint64_t n;               /* event number, the id */
	int64_t t;                /* event time */
	int64_t sent;             /* when the client sent it */
	int64_t collected;        /* when the collector received it */
	int type;                 /* E_* */
	int64_t duration_ms;      /* page and screen views */
	uint16_t product, query;
	uint8_t list, position, qty, method;
	int64_t value, shipping;  /* cents: cart value, shipping */
	uint32_t items;
	uint64_t order;
} ev;

typedef struct click {
	rng r;                    /* the simulation */
	rng late_r, dup_r;        /* what is late and how late, what is resent */
	gbuf w;
	rhythm rh;
	int format;
	uint64_t id_key, session_key, anon_key, screen_key, user_key, lat_key;
	uint64_t n_users;
	int user_width, order_width;
	uint32_t *user_sessions;  /* sessions so far, by user */
	uint8_t *user_active;     /* sessions in flight, by user (modulo 256:
	                             it only steers the choice of visitor) */
	pool sessions;            /* sessions in flight */
	heap steps;               /* their next actions, by time */
	pool held;                /* lines held back (char *, see hold_copy) */
	heap arrivals;            /* the held lines, by arrival time */
	int64_t arrival;          /* start of the next new session */
	uint64_t next_session, next_order;
	double late_start, late_on, late_off;  /* the offline chain, see init_late */
	double dup;
	int32_t price[N_PRODUCTS];             /* cents */
	char query_url[N_QUERIES][24];         /* "running+shoes" */
	char query_terms[N_QUERIES][48];       /* ["running","shoes"] */
	uint8_t query_url_len[N_QUERIES], query_terms_len[N_QUERIES];
} click;

static uint64_t hash64(uint64_t key, uint64_t n)
{
	uint64_t x = key ^ (n * 0xd1342543de82ef95ULL);
	return splitmix64(&x);
}

static traits user_traits(const click *g, uint32_t u)
{
	static const unsigned char cur_w[3] = { 60, 25, 15 };
	uint64_t h = hash64(g->user_key, u);
	traits t;
	/* Take independent fields from the bits of one hash: each pick needs
	 * a number below 100. */
	t.device = 0;
	unsigned x = (unsigned)(h % 100);
	while (x >= device_w[t.device])
		x -= device_w[t.device++];
	t.known = (h >> 8) % 100 < (t.device == D_WEB ? 60u : 85u);
	x = (unsigned)((h >> 16) % 100);
	t.cur = 0;
	while (x >= cur_w[t.cur])
		x -= cur_w[t.cur++];
	x = (unsigned)((h >> 24) % 100);
	t.browser = 0;
	while (x >= browser_w[t.browser])
		x -= browser_w[t.browser++];
	t.os_version = (uint8_t)((h >> 32) % 3);
	t.maker = (uint8_t)((h >> 40) % 3);
	return t;
}

/* ---- the model --------------------------------------------------------- */

/* A product of category c: the first ones of a category sell most. */
static uint16_t pick_product(rng *r, int c)
{
	uint64_t k = rng_below(r, 1 + rng_below(r, PER_CAT));
	return (uint16_t)(k * N_CAT + (uint64_t)c);
}

static uint16_t pick_query(rng *r, int c)
{
	return (uint16_t)(c * QUERIES_PER_CAT + (int)rng_below(r, 1 + rng_below(r, QUERIES_PER_CAT)));
}

/* Where in a list of n the clicked item was: mostly near the top. */
static uint8_t pick_position(rng *r, int n)
{
	return (uint8_t)(1 + rng_below(r, 1 + rng_below(r, (uint64_t)(n < 24 ? n : 24))));
}

/* Act at a random point of the current page's dwell, in [lo, hi) of it;
 * then view page (then, then_arg), or leave with then == P_NONE. */
static void plan_action(click *g, session *s, int a, double lo, double hi,
			int then, int then_arg)
{
	s->next = (uint8_t)a;
	s->next_t = s->view_t + (int64_t)((double)s->dwell * (lo + (hi - lo) * rng_unit(&g->r)));
	s->next_page = (uint8_t)then;
	s->next_arg = (uint16_t)then_arg;
}

/* View page (page, arg) when the dwell on the current one is over. */
static void plan_view(session *s, int page, int arg)
{
	s->next = A_VIEW;
	s->next_t = s->view_t + s->dwell;
	s->next_page = (uint8_t)page;
	s->next_arg = (uint16_t)arg;
}

static void plan_search(click *g, session *s, int c)
{
	uint16_t q = pick_query(&g->r, c);
	plan_action(g, s, A_SEARCH, 0.3, 0.9, P_SEARCH, q);
}

static void plan_click(click *g, session *s, int list, int c, int n)
{
	s->list = (uint8_t)list;
	s->position = pick_position(&g->r, n);
	plan_action(g, s, A_CLICK, 0.3, 0.95, P_PRODUCT, pick_product(&g->r, c));
}

static int cart_has_room(const session *s, uint16_t p)
{
	if (s->ncart < MAX_CART)
		return 1;
	for (int i = 0; i < s->ncart; i++)
		if (s->cart[i].product == p)
			return 1;
	return 0;
}

/* On the checkout page, after a login or not: 64 of 100 buy. */
static int plan_purchase(click *g, session *s)
{
	if (rng_below(&g->r, 100) >= 64)
		return 0;
	plan_action(g, s, A_PURCHASE, 0.6, 0.95, P_CONFIRM, 0);
	return 1;
}

/* Decide what follows a page view.  Returns 0 when the visitor leaves
 * after it.  Per 100 views of each page: */
static int plan_page(click *g, session *s)
{
	rng *r = &g->r;
	unsigned x = (unsigned)rng_below(r, 100);
	/* The category the visitor is looking at, or one of interest. */
	int cat = s->page == P_PRODUCT ? s->arg % N_CAT : s->page == P_CATEGORY ? s->arg
		: s->page == P_SEARCH ? s->arg / QUERIES_PER_CAT : 0;
	switch (s->page) {
	case P_HOME: /* 36 search, 20 browse a category, 12 recommendations */
		cat = rng_pick(r, cat_w, N_CAT, 100);
		if (x < 36)
			plan_search(g, s, cat);
		else if (x < 56)
			plan_view(s, P_CATEGORY, cat);
		else if (x < 68)
			plan_click(g, s, L_RECOMMENDED, cat, 8);
		else if (x < 72 && s->ncart)
			plan_view(s, P_CART, 0);
		else
			return 0;
		return 1;
	case P_CATEGORY: /* 50 click a product, 12 search */
		if (x < 50)
			plan_click(g, s, L_CATEGORY, cat, PER_CAT);
		else if (x < 62)
			plan_search(g, s, x < 58 ? cat : rng_pick(r, cat_w, N_CAT, 100));
		else if (x < 68)
			plan_view(s, P_HOME, 0);
		else
			return 0;
		return 1;
	case P_SEARCH: /* 55 click a result, 12 search again */
		if (x < 55)
			plan_click(g, s, L_SEARCH, cat, queries[s->arg].results);
		else if (x < 67)
			plan_search(g, s, x < 62 ? cat : rng_pick(r, cat_w, N_CAT, 100));
		else
			return 0;
		return 1;
	case P_PRODUCT: /* 18 add to cart, 14 related product, 14 back, 8 search */
		if (x < 18 && cart_has_room(s, s->arg)) {
			static const unsigned char qty_w[3] = { 85, 12, 3 };
			s->qty = (uint8_t)(1 + rng_pick(r, qty_w, 3, 100));
			if (rng_below(r, 100) < 55)
				plan_action(g, s, A_ADD, 0.4, 0.95, P_CART, 0);
			else
				plan_action(g, s, A_ADD, 0.4, 0.95, s->list_page, s->list_arg);
		} else if (x < 32) {
			plan_click(g, s, L_RECOMMENDED, cat, 8);
		} else if (x < 46) {
			plan_view(s, s->list_page, s->list_arg);
		} else if (x < 54) {
			plan_search(g, s, cat);
		} else if (x < 60 && s->ncart) {
			plan_view(s, P_CART, 0);
		} else {
			return 0;
		}
		return 1;
	case P_CART: /* 56 check out, 14 go on shopping */
		if (!s->ncart)
			x += 56; /* nothing to check out */
		if (x < 56)
			plan_action(g, s, A_CHECKOUT, 0.5, 0.95, P_CHECKOUT, 0);
		else if (x < 70)
			plan_view(s, P_HOME, 0);
		else
			return 0;
		return 1;
	case P_CHECKOUT: /* known visitors not logged in log in first (70), or buy as guests */
		if (s->tr.known && !s->logged_in && x < 70) {
			static const unsigned char web_w[3] = { 60, 30, 10 };
			static const unsigned char ios_w[3] = { 45, 15, 40 };
			static const unsigned char android_w[3] = { 50, 50, 0 };
			const unsigned char *w = s->tr.device == D_IOS ? ios_w
				: s->tr.device == D_ANDROID ? android_w : web_w;
			s->method = (uint8_t)rng_pick(r, w, 3, 100);
			plan_action(g, s, A_LOGIN, 0.1, 0.4, P_NONE, 0);
			return 1;
		}
		return plan_purchase(g, s);
	case P_CONFIRM: /* 20 go on shopping */
		if (x < 20)
			plan_view(s, P_HOME, 0);
		else
			return 0;
		return 1;
	}
	return 0;
}

/* A new session of a visitor: users with low numbers come more often. */
static void start_session(click *g, session *s, int64_t t)
{
	rng *r = &g->r;
	uint64_t u = 0;
	/* Try a few times for a visitor who is not already in a session. */
	for (int tries = 0; tries < 4; tries++) {
		u = rng_below(r, g->n_users);
		if (rng_below(r, 2)) {
			uint64_t v = rng_below(r, g->n_users);
			if (v < u)
				u = v;
		}
		if (!g->user_active[u])
			break;
	}
	memset(s, 0, offsetof(session, cart));
	s->number = ++g->next_session;
	s->user = (uint32_t)u;
	s->idx = ++g->user_sessions[u];
	g->user_active[u]++;
	s->tr = user_traits(g, s->user);
	int app = s->tr.device != D_WEB;
	s->logged_in = s->tr.known && rng_below(r, 100) < (app ? 95u : 55u);
	s->page = P_NONE;
	s->ref = P_EXTERNAL;
	s->ref_arg = (uint16_t)rng_pick(r, app ? app_ref_w : web_ref_w, N_EXTERNAL, 100);
	s->list_page = P_HOME;
	int land = rng_pick(r, app ? app_land_w : web_land_w, 4, 100);
	int cat = rng_pick(r, cat_w, N_CAT, 100);
	static const uint8_t land_page[4] = { P_HOME, P_CATEGORY, P_SEARCH, P_PRODUCT };
	s->next = A_VIEW;
	s->next_t = t;
	s->next_page = land_page[land];
	s->next_arg = land == 1 ? (uint16_t)cat : land == 2 ? pick_query(r, cat)
		: land == 3 ? pick_product(r, cat) : 0;
	/* The offline state of the first event, see next_arrival. */
	if (app && g->late_start > 0)
		s->offline = rng_unit(&g->late_r) < g->late_start;
}

static void end_session(click *g, session *s)
{
	g->user_active[s->user]--;
}

static int64_t cart_items(const session *s)
{
	int64_t n = 0;
	for (int i = 0; i < s->ncart; i++)
		n += s->cart[i].qty;
	return n;
}

/* Carry out the session's next action at its time: fill e and move the
 * session on.  Draws from the simulation's generator only. */
static void act(click *g, session *s, ev *e)
{
	rng *r = &g->r;
	e->t = s->next_t;
	switch (s->next) {
	case A_VIEW:
		if (s->page != P_NONE) {
			s->ref = s->page;
			s->ref_arg = s->arg;
		}
		s->page = s->next_page;
		s->arg = s->next_arg;
		if (s->page == P_SEARCH || s->page == P_CATEGORY || s->page == P_HOME) {
			s->list_page = s->page;
			s->list_arg = s->arg;
		}
		s->view_t = e->t;
		s->dwell = lognormal_us(r, pages[s->page].dwell, 0.9, 1, 1800);
		e->type = s->tr.device == D_WEB ? E_PAGE_VIEW : E_SCREEN_VIEW;
		e->duration_ms = s->dwell / 1000;
		break;
	case A_SEARCH:
		e->type = E_SEARCH;
		e->query = s->next_arg;
		break;
	case A_CLICK:
		e->type = E_PRODUCT_CLICK;
		e->product = s->next_arg;
		e->list = s->list;
		e->position = s->position;
		break;
	case A_ADD: {
		e->type = E_ADD_TO_CART;
		e->product = s->arg;
		e->qty = s->qty;
		int i = 0;
		while (i < s->ncart && s->cart[i].product != s->arg)
			i++;
		if (i == s->ncart)
			s->cart[s->ncart++] = (cart_line){ s->arg, 0 };
		s->cart[i].qty = (uint16_t)(s->cart[i].qty + s->qty);
		s->cart_cents += (int64_t)s->qty * g->price[s->arg];
		break;
	}
	case A_CHECKOUT:
		e->type = E_CHECKOUT;
		e->value = s->cart_cents;
		e->items = (uint32_t)cart_items(s);
		break;
	case A_LOGIN:
		e->type = E_LOGIN;
		e->method = s->method;
		s->logged_in = 1;
		break;
	case A_PURCHASE:
		e->type = E_PURCHASE;
		e->order = ++g->next_order;
		e->value = s->cart_cents;
		e->shipping = s->cart_cents < 5000 ? 499 : 0;
		e->items = (uint32_t)cart_items(s);
		break;
	}
	s->events++;
}

/* What comes after the action just taken; 0 when the session is over. */
static int plan_next(click *g, session *s)
{
	if (s->events >= MAX_SESSION_EVENTS)
		return 0;
	switch (s->next) {
	case A_VIEW:
		return plan_page(g, s);
	case A_LOGIN:
		return plan_purchase(g, s);
	case A_PURCHASE:
		s->ncart = 0;
		s->cart_cents = 0;
		/* fall through */
	default:
		if (s->next_page == P_NONE)
			return 0;
		plan_view(s, s->next_page, s->next_arg);
		return 1;
	}
}

/* ---- late and duplicate lines -------------------------------------------- */

/* Mobile events go through a two-state chain, online and offline, with a
 * stationary offline share p: the events of a stretch offline are queued
 * together.  p is the asked late fraction of all events over the share of
 * them that is mobile; the mean stretch offline is 1 / late_off events. */
static void init_late(click *g, double late)
{
	if (late <= 0)
		return;
	/* The mobile share of events: users are picked with probability
	 * 1/(2U) + (2(U - i) - 1)/(2U^2) (see start_session) and sessions do
	 * not depend on the device. */
	double mobile = 0, n = (double)g->n_users;
	for (uint64_t i = 0; i < g->n_users; i++)
		if (user_traits(g, (uint32_t)i).device != D_WEB)
			mobile += 0.5 / n + (2.0 * (n - (double)i) - 1) / (2 * n * n);
	double p = mobile > 0 ? late / mobile : 0;
	if (p >= 1) {
		g->late_start = 1;
		g->late_on = 1;
		g->late_off = 0;
	} else if (p > 0) {
		/* on / (on + off) = p */
		g->late_start = p;
		g->late_off = 0.25;
		g->late_on = 0.25 * p / (1 - p);
		if (g->late_on > 1) {
			g->late_on = 1;
			g->late_off = (1 - p) / p;
		}
	}
}

/* Event time, send and collector times of event e; returns when the line
 * arrives, which is later than e->t for a queued event.  The network's
 * delays are pure functions of the event number, so that no format and no
 * option moves the simulation. */
static int64_t next_arrival(click *g, session *s, ev *e)
{
	uint64_t h = hash64(g->lat_key, e->n);
	int app = s->tr.device != D_WEB;
	/* Browsers send at once; the apps batch events for up to 15 s. */
	int64_t send = app ? 500000 + (int64_t)(h % 14500000) : 10000 + (int64_t)(h % 390000);
	int64_t net = 20000 + (int64_t)((h >> 32) % 230000);
	int64_t arrive = e->t;
	e->sent = e->t + send;
	if (app && g->late_start > 0) {
		if (s->offline) {
			/* Queue behind the events waiting for the next connection, or
			 * wait for a new one when that is too close. */
			if (s->flush_at - e->t < MIN_LATE_US) {
				s->flush_at = e->t + lognormal_us(&g->late_r, 1200, 1.0, 180, 6 * 3600);
				s->flush_seq = 0;
			}
			arrive = s->flush_at + s->flush_seq++;
			e->sent = arrive;
		}
		double u = rng_unit(&g->late_r);
		s->offline = s->offline ? u >= g->late_off : u < g->late_on;
	}
	e->collected = e->sent + net;
	return arrive;
}

/* Copy the n bytes at s into a held line that arrives at time t. */
static int hold_copy(click *g, const char *s, size_t n, int64_t t)
{
	int64_t i = pool_take(&g->held);
	if (i < 0)
		return -1;
	char *p = malloc(sizeof(uint32_t) + n);
	if (!p) {
		pool_put(&g->held, (uint32_t)i);
		return -1;
	}
	uint32_t len = (uint32_t)n;
	memcpy(p, &len, sizeof len);
	memcpy(p + sizeof len, s, n);
	*(char **)pool_at(&g->held, (uint32_t)i) = p;
	if (eg_heap_push(&g->arrivals, t, (uint32_t)i)) {
		free(p);
		pool_put(&g->held, (uint32_t)i);
		return -1;
	}
	return 0;
}

/* Write the held lines that have arrived by time t, in arrival order. */
static int release_held(click *g, int64_t t)
{
	while (g->arrivals.n && g->arrivals.a[0].t <= t) {
		uint32_t i = g->arrivals.a[0].i;
		heap_pop(&g->arrivals);
		char *p = *(char **)pool_at(&g->held, i);
		uint32_t len;
		memcpy(&len, p, sizeof len);
		put(&g->w, p + sizeof len, len);
		free(p);
		pool_put(&g->held, i);
		if (g->w.len > BUF_SIZE - LINE_MAX_BYTES && gbuf_flush(&g->w))
			return -1;
	}
	return 0;
}

/* ---- writing: pieces the formats share ------------------------------------ */

static void put_user(click *g, uint32_t u)
{
	PUT(&g->w, "user-");
	put_uint(&g->w, (uint64_t)u + 1, g->user_width);
}

static void put_product_id(click *g, uint16_t p)
{
	put_uint(&g->w, FIRST_PRODUCT_ID + (uint64_t)p, 1);
}

static void put_path(click *g, int page, uint16_t arg)
{
	gbuf *w = &g->w;
	put_str(w, pages[page].path);
	if (page == P_CATEGORY)
		put_str(w, cats[arg].slug);
	else if (page == P_SEARCH)
		put(w, g->query_url[arg], g->query_url_len[arg]);
	else if (page == P_PRODUCT)
		put_product_id(g, arg);
}

static void put_url(click *g, int page, uint16_t arg)
{
	if (page == P_EXTERNAL) {
		put_str(&g->w, externals[arg]);
		return;
	}
	PUT(&g->w, SHOP);
	put_path(g, page, arg);
}

/* The referrer of the current page is empty for a direct visit. */
static int has_referrer(const session *s)
{
	return s->ref != P_EXTERNAL || s->ref_arg != 0;
}

/* RFC 3339 UTC with milliseconds, as Segment and Snowplow write times. */
static void put_time_ms(gbuf *w, int64_t us)
{
	eg_time_format(us, w->buf + w->len);
	w->buf[w->len + 23] = 'Z';
	w->len += 24;
}

static void put_order_id(click *g, uint64_t order)
{
	PUT(&g->w, "ORD-");
	put_uint(&g->w, order, g->order_width);
}

/* "product_id":"…","category":"…" of product p. */
static void put_product(click *g, uint16_t p)
{
	gbuf *w = &g->w;
	PUT(w, "\"product_id\":\"");
	put_product_id(g, p);
	PUT(w, "\",\"category\":\"");
	put_str(w, cats[p % N_CAT].slug);
	put_char(w, '"');
}

/* "price":…,"quantity":n of product p. */
static void put_price_qty(click *g, uint16_t p, unsigned qty)
{
	gbuf *w = &g->w;
	PUT(w, ",\"price\":");
	put_cents(w, g->price[p]);
	PUT(w, ",\"quantity\":");
	put_uint(w, qty, 1);
}

/* "query":"…","results":n of a search. */
static void put_search(gbuf *w, const ev *e)
{
	PUT(w, "\"query\":\"");
	put_str(w, queries[e->query].text);
	PUT(w, "\",\"results\":");
	put_uint(w, queries[e->query].results, 1);
}

static void put_cart(click *g, const session *s)
{
	gbuf *w = &g->w;
	put_char(w, '[');
	for (int i = 0; i < s->ncart; i++) {
		uint16_t p = s->cart[i].product;
		if (i)
			put_char(w, ',');
		put_char(w, '{');
		put_product(g, p);
		put_price_qty(g, p, s->cart[i].qty);
		put_char(w, '}');
	}
	put_char(w, ']');
}

/* ---- writing: engram ---------------------------------------------------- */

static void write_engram(click *g, const session *s, const ev *e)
{
	gbuf *w = &g->w;
	PUT(w, "{\"id\":\"");
	put_uuid(w, g->id_key, e->n);
	PUT(w, "\",\"stream\":\"");
	put_user(g, s->user);
	PUT(w, "\",\"type\":\"");
	put_str(w, type_names[e->type]);
	PUT(w, "\",\"time\":\"");
	put_time(w, e->t);
	PUT(w, "\",\"session\":\"");
	put_uuid(w, g->session_key, s->number);
	PUT(w, "\",\"data\":{\"page_url\":\"");
	put_url(g, s->page, s->arg);
	PUT(w, "\",\"referrer\":\"");
	put_url(g, s->ref, s->ref_arg);
	PUT(w, "\",\"device\":\"");
	put_str(w, devices[s->tr.device]);
	put_char(w, '"');
	switch (e->type) {
	case E_SCREEN_VIEW:
		PUT(w, ",\"screen\":\"");
		put_str(w, pages[s->page].name);
		put_char(w, '"');
		/* fall through */
	case E_PAGE_VIEW:
		PUT(w, ",\"duration_ms\":");
		put_uint(w, (uint64_t)e->duration_ms, 1);
		break;
	case E_SEARCH:
		put_char(w, ',');
		put_search(w, e);
		break;
	case E_PRODUCT_CLICK:
		put_char(w, ',');
		put_product(g, e->product);
		PUT(w, ",\"list\":\"");
		put_str(w, lists[e->list]);
		PUT(w, "\",\"position\":");
		put_uint(w, e->position, 1);
		break;
	case E_ADD_TO_CART:
		put_char(w, ',');
		put_product(g, e->product);
		put_price_qty(g, e->product, e->qty);
		break;
	case E_CHECKOUT:
		PUT(w, ",\"items\":");
		put_uint(w, e->items, 1);
		PUT(w, ",\"value\":");
		put_cents(w, e->value);
		break;
	case E_PURCHASE:
		PUT(w, ",\"order_id\":\"");
		put_order_id(g, e->order);
		PUT(w, "\",\"items\":");
		put_uint(w, e->items, 1);
		PUT(w, ",\"revenue\":");
		put_cents(w, e->value + e->shipping);
		PUT(w, ",\"shipping\":");
		put_cents(w, e->shipping);
		break;
	case E_LOGIN:
		PUT(w, ",\"method\":\"");
		put_str(w, methods[e->method]);
		put_char(w, '"');
		break;
	}
	if (e->type >= E_ADD_TO_CART && e->type <= E_PURCHASE) {
		PUT(w, ",\"currency\":\"");
		put_str(w, currencies[s->tr.cur]);
		put_char(w, '"');
	}
	PUT(w, "}}\n");
}

/* ---- writing: Segment ----------------------------------------------------- */

static void segment_context(click *g, const session *s)
{
	gbuf *w = &g->w;
	const traits *t = &s->tr;
	PUT(w, ",\"context\":{\"device\":{\"type\":\"");
	put_str(w, devices[t->device]);
	if (t->device == D_IOS) {
		PUT(w, "\",\"manufacturer\":\"Apple");
	} else if (t->device == D_ANDROID) {
		PUT(w, "\",\"manufacturer\":\"");
		put_str(w, android_makers[t->maker]);
	}
	PUT(w, "\"},\"os\":{\"name\":\"");
	if (t->device == D_WEB) {
		put_str(w, browsers[t->browser].os);
		PUT(w, "\",\"version\":\"");
		put_str(w, browsers[t->browser].os_version);
	} else if (t->device == D_IOS) {
		PUT(w, "iOS\",\"version\":\"");
		put_str(w, ios_versions[t->os_version]);
	} else {
		PUT(w, "Android\",\"version\":\"");
		put_str(w, android_versions[t->os_version]);
	}
	PUT(w, "\"},\"page\":{\"path\":\"");
	put_path(g, s->page, s->arg);
	PUT(w, "\",\"referrer\":\"");
	put_url(g, s->ref, s->ref_arg);
	PUT(w, "\",\"url\":\"");
	put_url(g, s->page, s->arg);
	if (t->device == D_WEB) {
		PUT(w, "\"},\"userAgent\":\"");
		put_str(w, browsers[t->browser].ua);
		PUT(w, "\",\"library\":{\"name\":\"analytics.js\",\"version\":\"next-1.75.0\"}}");
	} else if (t->device == D_IOS) {
		PUT(w, "\"},\"app\":{\"name\":\"Example Shop\",\"version\":\"4.12.0\",\"build\":\"4120\"},"
		       "\"library\":{\"name\":\"analytics-swift\",\"version\":\"1.6.1\"}}");
	} else {
		PUT(w, "\"},\"app\":{\"name\":\"Example Shop\",\"version\":\"4.12.0\",\"build\":\"4120\"},"
		       "\"library\":{\"name\":\"analytics-kotlin\",\"version\":\"1.18.0\"}}");
	}
}

static void write_segment(click *g, const session *s, const ev *e)
{
	static const str track_names[] = {
		[E_SEARCH] = S("Products Searched"), [E_PRODUCT_CLICK] = S("Product Clicked"),
		[E_ADD_TO_CART] = S("Product Added"), [E_CHECKOUT] = S("Checkout Started"),
		[E_PURCHASE] = S("Order Completed"),
	};
	gbuf *w = &g->w;
	PUT(w, "{\"messageId\":\"");
	put_uuid(w, g->id_key, e->n);
	if (e->type == E_PAGE_VIEW || e->type == E_SCREEN_VIEW) {
		if (e->type == E_PAGE_VIEW)
			PUT(w, "\",\"type\":\"page\",\"name\":\"");
		else
			PUT(w, "\",\"type\":\"screen\",\"name\":\"");
		put_str(w, pages[s->page].name);
	} else if (e->type == E_LOGIN) {
		PUT(w, "\",\"type\":\"identify");
	} else {
		PUT(w, "\",\"type\":\"track\",\"event\":\"");
		put_str(w, track_names[e->type]);
	}
	if (s->logged_in) {
		PUT(w, "\",\"userId\":\"");
		put_user(g, s->user);
	}
	PUT(w, "\",\"anonymousId\":\"");
	put_uuid(w, g->anon_key, s->user);
	PUT(w, "\",\"timestamp\":\"");
	put_time_ms(w, e->t);
	PUT(w, "\",\"sentAt\":\"");
	put_time_ms(w, e->sent);
	if (e->type == E_LOGIN) {
		PUT(w, "\",\"traits\":{\"email\":\"");
		put_user(g, s->user);
		PUT(w, "@example.com\",\"login_method\":\"");
		put_str(w, methods[e->method]);
		PUT(w, "\"}");
		segment_context(g, s);
		PUT(w, "}\n");
		return;
	}
	PUT(w, "\",\"properties\":{");
	switch (e->type) {
	case E_PAGE_VIEW:
		PUT(w, "\"path\":\"");
		put_path(g, s->page, s->arg);
		PUT(w, "\",\"referrer\":\"");
		put_url(g, s->ref, s->ref_arg);
		PUT(w, "\",\"url\":\"");
		put_url(g, s->page, s->arg);
		PUT(w, "\",\"duration_ms\":");
		put_uint(w, (uint64_t)e->duration_ms, 1);
		break;
	case E_SCREEN_VIEW:
		PUT(w, "\"duration_ms\":");
		put_uint(w, (uint64_t)e->duration_ms, 1);
		break;
	case E_SEARCH:
		put_search(w, e);
		break;
	case E_PRODUCT_CLICK:
		put_product(g, e->product);
		PUT(w, ",\"list_id\":\"");
		put_str(w, lists[e->list]);
		PUT(w, "\",\"position\":");
		put_uint(w, e->position, 1);
		break;
	case E_ADD_TO_CART:
		put_product(g, e->product);
		put_price_qty(g, e->product, e->qty);
		PUT(w, ",\"currency\":\"");
		put_str(w, currencies[s->tr.cur]);
		put_char(w, '"');
		break;
	case E_CHECKOUT:
		PUT(w, "\"value\":");
		put_cents(w, e->value);
		PUT(w, ",\"currency\":\"");
		put_str(w, currencies[s->tr.cur]);
		PUT(w, "\",\"products\":");
		put_cart(g, s);
		break;
	case E_PURCHASE:
		PUT(w, "\"order_id\":\"");
		put_order_id(g, e->order);
		PUT(w, "\",\"revenue\":");
		put_cents(w, e->value + e->shipping);
		PUT(w, ",\"shipping\":");
		put_cents(w, e->shipping);
		PUT(w, ",\"currency\":\"");
		put_str(w, currencies[s->tr.cur]);
		PUT(w, "\",\"products\":");
		put_cart(g, s);
		break;
	}
	PUT(w, ",\"session_id\":\"");
	put_uuid(w, g->session_key, s->number);
	PUT(w, "\"}");
	segment_context(g, s);
	PUT(w, "}\n");
}

/* ---- writing: Snowplow -------------------------------------------------- */

/* The self-describing event of unstruct events, opened up to its data:
 * the caller writes the fields and closes with "}}}". */
static void snowplow_unstruct(gbuf *w, str schema)
{
	PUT(w, ",\"unstruct_event\":{\"schema\":\"iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0\","
	       "\"data\":{\"schema\":\"iglu:");
	put_str(w, schema);
	PUT(w, "/jsonschema/1-0-0\",\"data\":{");
}

/* event_vendor .. event_version and the closing brace. */
static void snowplow_tail(gbuf *w, str vendor, str name)
{
	PUT(w, ",\"event_vendor\":\"");
	put_str(w, vendor);
	PUT(w, "\",\"event_name\":\"");
	put_str(w, name);
	PUT(w, "\",\"event_format\":\"jsonschema\",\"event_version\":\"1-0-0\"}\n");
}

static void write_snowplow(click *g, const session *s, const ev *e)
{
	static const str app_ids[] = { S("shop-web"), S("shop-ios"), S("shop-android") };
	static const str trackers[] = { S("js-3.24.2"), S("ios-6.0.2"), S("andr-6.0.2") };
	static const str sp = S("com.snowplowanalytics.snowplow");
	static const str shop = S("com.example.shop");
	gbuf *w = &g->w;
	const traits *t = &s->tr;
	int web = t->device == D_WEB;
	PUT(w, "{\"app_id\":\"");
	put_str(w, app_ids[t->device]);
	if (web)
		PUT(w, "\",\"platform\":\"web\",\"collector_tstamp\":\"");
	else
		PUT(w, "\",\"platform\":\"mob\",\"collector_tstamp\":\"");
	put_time_ms(w, e->collected);
	PUT(w, "\",\"dvce_created_tstamp\":\"");
	put_time_ms(w, e->t);
	PUT(w, "\",\"dvce_sent_tstamp\":\"");
	put_time_ms(w, e->sent);
	/* collector_tstamp less the time the event spent on the device */
	PUT(w, "\",\"derived_tstamp\":\"");
	put_time_ms(w, e->collected - (e->sent - e->t));
	PUT(w, "\",\"event\":\"");
	if (e->type == E_PAGE_VIEW)
		PUT(w, "page_view");
	else if (e->type == E_PRODUCT_CLICK || e->type == E_LOGIN)
		PUT(w, "struct");
	else
		PUT(w, "unstruct");
	PUT(w, "\",\"event_id\":\"");
	put_uuid(w, g->id_key, e->n);
	PUT(w, "\",\"v_tracker\":\"");
	put_str(w, trackers[t->device]);
	if (s->logged_in) {
		PUT(w, "\",\"user_id\":\"");
		put_user(g, s->user);
	}
	PUT(w, "\",\"domain_userid\":\"");
	put_uuid(w, g->anon_key, s->user);
	PUT(w, "\",\"domain_sessionidx\":");
	put_uint(w, s->idx, 1);
	PUT(w, ",\"domain_sessionid\":\"");
	put_uuid(w, g->session_key, s->number);
	PUT(w, "\",\"page_url\":\"");
	put_url(g, s->page, s->arg);
	PUT(w, "\",\"page_title\":\"");
	put_str(w, pages[s->page].name);
	if (has_referrer(s)) {
		PUT(w, "\",\"page_referrer\":\"");
		put_url(g, s->ref, s->ref_arg);
	}
	if (web) {
		PUT(w, "\",\"useragent\":\"");
		put_str(w, browsers[t->browser].ua);
		PUT(w, "\",\"os_family\":\"");
		put_str(w, browsers[t->browser].os_family);
		if (browsers[t->browser].mobile)
			PUT(w, "\",\"dvce_type\":\"Mobile\",\"dvce_ismobile\":true");
		else
			PUT(w, "\",\"dvce_type\":\"Computer\",\"dvce_ismobile\":false");
	} else {
		if (t->device == D_IOS)
			PUT(w, "\",\"os_family\":\"iOS\",\"dvce_type\":\"Mobile\",\"dvce_ismobile\":true");
		else
			PUT(w, "\",\"os_family\":\"Android\",\"dvce_type\":\"Mobile\",\"dvce_ismobile\":true");
	}
	switch (e->type) {
	case E_PAGE_VIEW:
	case E_SCREEN_VIEW:
		if (e->type == E_SCREEN_VIEW) {
			snowplow_unstruct(w, (str)S("com.snowplowanalytics.mobile/screen_view"));
			PUT(w, "\"name\":\"");
			put_str(w, pages[s->page].name);
			PUT(w, "\",\"id\":\"");
			put_uuid(w, g->screen_key, e->n);
			if (s->ref != P_EXTERNAL) {
				PUT(w, "\",\"previousName\":\"");
				put_str(w, pages[s->ref].name);
			}
			PUT(w, "\"}}}");
		}
		/* How long the page stayed viewed, as a custom entity. */
		PUT(w, ",\"contexts\":{\"schema\":\"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0\","
		       "\"data\":[{\"schema\":\"iglu:com.example.shop/page_engagement/jsonschema/1-0-0\","
		       "\"data\":{\"duration_ms\":");
		put_uint(w, (uint64_t)e->duration_ms, 1);
		PUT(w, "}}]}");
		if (e->type == E_PAGE_VIEW)
			snowplow_tail(w, sp, (str)S("page_view"));
		else
			snowplow_tail(w, (str)S("com.snowplowanalytics.mobile"), (str)S("screen_view"));
		return;
	case E_SEARCH:
		snowplow_unstruct(w, (str)S("com.snowplowanalytics.snowplow/site_search"));
		PUT(w, "\"terms\":");
		put(w, g->query_terms[e->query], g->query_terms_len[e->query]);
		PUT(w, ",\"totalResults\":");
		put_uint(w, queries[e->query].results, 1);
		PUT(w, "}}}");
		snowplow_tail(w, sp, (str)S("site_search"));
		return;
	case E_PRODUCT_CLICK:
		PUT(w, ",\"se_category\":\"product\",\"se_action\":\"click\",\"se_label\":\"");
		put_product_id(g, e->product);
		PUT(w, "\",\"se_property\":\"");
		put_str(w, lists[e->list]);
		PUT(w, "\",\"se_value\":");
		put_uint(w, e->position, 1);
		snowplow_tail(w, (str)S("com.google.analytics"), (str)S("event"));
		return;
	case E_LOGIN:
		PUT(w, ",\"se_category\":\"account\",\"se_action\":\"login\",\"se_label\":\"");
		put_str(w, methods[e->method]);
		put_char(w, '"');
		snowplow_tail(w, (str)S("com.google.analytics"), (str)S("event"));
		return;
	case E_ADD_TO_CART:
		snowplow_unstruct(w, (str)S("com.snowplowanalytics.snowplow/add_to_cart"));
		PUT(w, "\"sku\":\"");
		put_product_id(g, e->product);
		PUT(w, "\",\"category\":\"");
		put_str(w, cats[e->product % N_CAT].slug);
		put_char(w, '"');
		put_price_qty(g, e->product, e->qty);
		PUT(w, ",\"currency\":\"");
		put_str(w, currencies[t->cur]);
		PUT(w, "\"}}}");
		snowplow_tail(w, sp, (str)S("add_to_cart"));
		return;
	case E_CHECKOUT:
		snowplow_unstruct(w, (str)S("com.example.shop/checkout"));
		PUT(w, "\"items\":");
		put_uint(w, e->items, 1);
		PUT(w, ",\"value\":");
		put_cents(w, e->value);
		PUT(w, ",\"currency\":\"");
		put_str(w, currencies[t->cur]);
		PUT(w, "\"}}}");
		snowplow_tail(w, shop, (str)S("checkout"));
		return;
	case E_PURCHASE:
		snowplow_unstruct(w, (str)S("com.example.shop/purchase"));
		PUT(w, "\"order_id\":\"");
		put_order_id(g, e->order);
		PUT(w, "\",\"items\":");
		put_uint(w, e->items, 1);
		PUT(w, ",\"revenue\":");
		put_cents(w, e->value + e->shipping);
		PUT(w, ",\"shipping\":");
		put_cents(w, e->shipping);
		PUT(w, ",\"currency\":\"");
		put_str(w, currencies[t->cur]);
		PUT(w, "\",\"products\":");
		put_cart(g, s);
		PUT(w, "}}}");
		snowplow_tail(w, shop, (str)S("purchase"));
		return;
	}
}

/* ---- the loop ------------------------------------------------------------- */

/* Generate event number n: the earlier of the next new session and the
 * next action of a session in flight.  Returns -1 (errno set) on failure. */
static int click_event(click *g, uint64_t n)
{
	uint32_t i;
	session *s;
	if (!g->steps.n || g->arrival <= g->steps.a[0].t) {
		int64_t k = pool_take(&g->sessions);
		if (k < 0)
			return errno = ENOMEM, -1;
		i = (uint32_t)k;
		s = pool_at(&g->sessions, i);
		start_session(g, s, g->arrival);
		g->arrival += rhythm_gap(&g->rh, &g->r, g->arrival);
	} else {
		i = g->steps.a[0].i;
		heap_pop(&g->steps);
		s = pool_at(&g->sessions, i);
	}
	ev e;
	memset(&e, 0, sizeof e);
	e.n = n;
	act(g, s, &e);
	if (release_held(g, e.t))
		return -1;
	int64_t arrive = next_arrival(g, s, &e);
	size_t start = g->w.len;
	if (g->format == EG_GEN_SEGMENT)
		write_segment(g, s, &e);
	else if (g->format == EG_GEN_SNOWPLOW)
		write_snowplow(g, s, &e);
	else
		write_engram(g, s, &e);
	/* A retry sends the same bytes again, seconds after the first try. */
	if (g->dup > 0 && rng_unit(&g->dup_r) < g->dup &&
	    hold_copy(g, g->w.buf + start, g->w.len - start,
		      arrive + lognormal_us(&g->dup_r, 5, 0.8, 0.5, 60)))
		return errno = ENOMEM, -1;
	if (arrive > e.t) {
		if (hold_copy(g, g->w.buf + start, g->w.len - start, arrive))
			return errno = ENOMEM, -1;
		g->w.len = start;
	}
	if (!plan_next(g, s)) {
		end_session(g, s);
		pool_put(&g->sessions, i);
	} else if (eg_heap_push(&g->steps, s->next_t, i)) {
		return errno = ENOMEM, -1;
	}
	return 0;
}

/* Visitors shop in the evening (UTC), and most at the weekend. */
static const double click_hour_rate[24] = {
	0.30, 0.18, 0.10, 0.07, 0.06, 0.09, 0.20, 0.40, 0.60, 0.75, 0.85, 0.95,
	1.10, 1.05, 0.95, 0.95, 1.00, 1.15, 1.40, 1.70, 1.90, 1.75, 1.25, 0.70,
};
static const double click_day_rate[7] = { 0.95, 0.95, 0.95, 1.0, 0.95, 1.05, 1.15 };

/* The catalogue and the search strings, the same for every seed: a product
 * keeps its price from run to run. */
static void init_shop(click *g)
{
	static const int64_t endings[] = { 99, 99, 95, 0, 49 };
	uint64_t sm = PRICE_KEY;
	rng r;
	seed_rng(&r, &sm);
	for (int i = 0; i < N_PRODUCTS; i++) {
		int64_t c = lognormal_cents(&r, cats[i % N_CAT].median, 0.55, 299, 99999);
		g->price[i] = (int32_t)(c - c % 100 + endings[rng_below(&r, 5)]);
	}
	for (int q = 0; q < N_QUERIES; q++) {
		str t = queries[q].text;
		char *u = g->query_url[q], *j = g->query_terms[q];
		size_t nj = 0;
		j[nj++] = '[';
		j[nj++] = '"';
		for (size_t k = 0; k < t.n; k++) {
			u[k] = t.s[k] == ' ' ? '+' : t.s[k];
			if (t.s[k] == ' ') {
				memcpy(j + nj, "\",\"", 3);
				nj += 3;
			} else {
				j[nj++] = t.s[k];
			}
		}
		j[nj++] = '"';
		j[nj++] = ']';
		g->query_url_len[q] = (uint8_t)t.n;
		g->query_terms_len[q] = (uint8_t)nj;
	}
}

static void click_free(click *g)
{
	while (g->arrivals.n) {
		free(*(char **)pool_at(&g->held, g->arrivals.a[0].i));
		heap_pop(&g->arrivals);
	}
	free(g->w.buf);
	free(g->user_sessions);
	free(g->user_active);
	pool_free(&g->sessions);
	free(g->steps.a);
	pool_free(&g->held);
	free(g->arrivals.a);
	free(g);
}

int eg_gen_clickstream(FILE *out, const eg_gen_opts *o)
{
	if (!out || !o || !(o->late >= 0 && o->late <= 1) || !(o->dup >= 0 && o->dup <= 1) ||
	    o->format < EG_GEN_ENGRAM || o->format > EG_GEN_SNOWPLOW ||
	    o->users > EG_GEN_MAX_USERS || o->days > EG_GEN_MAX_DAYS) {
		errno = EINVAL;
		return -1;
	}
	/* The catalogue's tables make it large for the stack. */
	click *g = calloc(1, sizeof *g);
	if (!g) {
		errno = ENOMEM;
		return -1;
	}
	g->w.out = out;
	g->format = o->format;
	g->id_key = o->seed ^ CLICK_ID_KEY;
	g->session_key = o->seed ^ SESSION_KEY;
	g->anon_key = o->seed ^ ANON_KEY;
	g->screen_key = o->seed ^ SCREEN_KEY;
	g->user_key = o->seed ^ USER_KEY;
	g->lat_key = o->seed ^ LATENCY_KEY;
	g->n_users = o->users ? o->users : DEFAULT_USERS;
	g->user_width = digits(g->n_users) > 6 ? digits(g->n_users) : 6;
	/* Fewer orders than events: the width only grows past 10^7 events. */
	g->order_width = digits(o->events) > 7 ? digits(o->events) : 7;
	g->dup = o->dup;
	g->sessions.size = sizeof(session);
	g->held.size = sizeof(char *);
	uint64_t sm = o->seed;
	seed_rng(&g->r, &sm);
	seed_rng(&g->late_r, &sm);
	seed_rng(&g->dup_r, &sm);
	init_shop(g);
	double days = o->days ? o->days : DEFAULT_DAYS;
	double gap = o->events ? days * (double)DAY_US * SESSION_EVENTS / (double)o->events : 1e6;
	rhythm_init(&g->rh, click_hour_rate, click_day_rate, gap);
	int64_t start = o->start_us ? o->start_us : DEFAULT_START_US;

	int rc = -1;
	g->w.buf = malloc(BUF_SIZE);
	g->user_sessions = calloc(g->n_users, sizeof *g->user_sessions);
	g->user_active = calloc(g->n_users, sizeof *g->user_active);
	if (!g->w.buf || !g->user_sessions || !g->user_active) {
		errno = ENOMEM;
		goto done;
	}
	init_late(g, o->late);
	g->arrival = start + rhythm_gap(&g->rh, &g->r, start);
	errno = 0;
	for (uint64_t n = 1; n <= o->events; n++) {
		if (click_event(g, n))
			goto done;
		if (g->w.len > BUF_SIZE - LINE_MAX_BYTES && gbuf_flush(&g->w))
			goto done;
	}
	if (release_held(g, INT64_MAX) || gbuf_finish(&g->w))
		goto done;
	rc = 0;
done:
	click_free(g);
	return rc;
}
