/*
 * gen.c — the bank-account event generator behind `engram gen bank`.
 *
 * A small simulation: a fixed number of account slots, each with an owner and
 * a balance held in memory, and a clock that ticks with a daily rhythm.  It
 * has no libm and no stdio per field, so that it outruns any store it feeds.
 */
#include "gen.h"
#include "timefmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* 2025-01-01T00:00:00Z, the default start of the clock. */
#define DEFAULT_START_US (1735689600LL * 1000000)
#define DEFAULT_ACCOUNTS 1000
/* Average gap between two events, in microseconds. */
#define MEAN_GAP_US 30e6
/* One close per CLOSE_ONE_IN events on open accounts: about 200 per million. */
#define CLOSE_ONE_IN 5000
/* Lines are built here and written in chunks of about this size. */
#define BUF_SIZE (64 * 1024)
/* Longer than any line: names < 40 bytes, numbers < 21 digits. */
#define LINE_MAX_BYTES 512

/* ---- strings ---------------------------------------------------------- */

typedef struct str {
	const char *s;
	size_t n;
} str;
#define S(x) { x, sizeof(x) - 1 }

static const str first_names[] = {
	S("James"), S("Mary"), S("John"), S("Patricia"), S("Robert"),
	S("Jennifer"), S("Michael"), S("Linda"), S("David"), S("Elizabeth"),
	S("William"), S("Susan"), S("Richard"), S("Jessica"), S("Thomas"),
	S("Sarah"), S("Daniel"), S("Karen"), S("Matthew"), S("Emma"),
	S("Oliver"), S("Sophie"), S("Lucas"), S("Charlotte"), S("Noah"),
	S("Amelia"), S("Liam"), S("Olivia"), S("Hugo"), S("Léa"),
	S("Louis"), S("Chloé"), S("Jonas"), S("Hannah"), S("Felix"),
	S("Lena"), S("Mateo"), S("Lucía"), S("Pablo"), S("Carmen"),
	S("Marco"), S("Giulia"), S("Luca"), S("Francesca"), S("Lars"),
	S("Ingrid"), S("Sven"), S("Astrid"), S("Pieter"), S("Anouk"),
	S("Jan"), S("Zofia"), S("Mehmet"), S("Ayşe"), S("Ahmed"),
	S("Fatima"), S("Wei"), S("Mei"), S("Hiroshi"), S("Yuki"),
	S("Arjun"), S("Priya"), S("Kwame"), S("Amara"),
};

static const str last_names[] = {
	S("Smith"), S("Johnson"), S("Williams"), S("Brown"), S("Jones"),
	S("Garcia"), S("Miller"), S("Davis"), S("Rodriguez"), S("Martinez"),
	S("Wilson"), S("Anderson"), S("Taylor"), S("Thomas"), S("Moore"),
	S("Jackson"), S("Martin"), S("Lee"), S("Thompson"), S("White"),
	S("Clarke"), S("Walker"), S("Wright"), S("Evans"), S("Hughes"),
	S("Dubois"), S("Lefèvre"), S("Moreau"), S("Laurent"), S("Bernard"),
	S("Müller"), S("Schmidt"), S("Schneider"), S("Fischer"), S("Weber"),
	S("Becker"), S("Fernández"), S("López"), S("Sánchez"), S("Pérez"),
	S("Romero"), S("Rossi"), S("Russo"), S("Ferrari"), S("Esposito"),
	S("Bianchi"), S("de Vries"), S("Jansen"), S("van Dijk"), S("Bakker"),
	S("Visser"), S("Nowak"), S("Kowalski"), S("Johansson"), S("Andersson"),
	S("Nielsen"), S("Hansen"), S("Yilmaz"), S("Kaya"), S("Khan"),
	S("Chen"), S("Wang"), S("Tanaka"), S("Sato"),
};

#define N_FIRST (sizeof first_names / sizeof first_names[0])
#define N_LAST (sizeof last_names / sizeof last_names[0])

enum { CUR_EUR, CUR_USD, CUR_GBP };
static const str currencies[] = { S("EUR"), S("USD"), S("GBP") };

/* Each branch belongs to one currency, so that an account's currency and
 * branch agree. */
static const struct branch {
	str name;
	int cur;
} branches[] = {
	{ S("Paris Opéra"), CUR_EUR },      { S("Berlin Mitte"), CUR_EUR },
	{ S("Madrid Centro"), CUR_EUR },    { S("Amsterdam Zuid"), CUR_EUR },
	{ S("Milano Duomo"), CUR_EUR },     { S("New York Midtown"), CUR_USD },
	{ S("Chicago Loop"), CUR_USD },     { S("San Francisco"), CUR_USD },
	{ S("London City"), CUR_GBP },      { S("Manchester"), CUR_GBP },
	{ S("Edinburgh"), CUR_GBP },
};
#define N_BRANCH (sizeof branches / sizeof branches[0])
/* Tellers per branch: teller:<branch number><1..N>, e.g. teller:305. */
#define TELLERS_PER_BRANCH 6

enum { CH_ATM, CH_BRANCH, CH_ONLINE, CH_TRANSFER, CH_CARD };
static const str channels[] = {
	S("atm"), S("branch"), S("online"), S("transfer"), S("card"),
};

/* Relative activity per hour of day (UTC): quiet nights, a lunch peak and
 * an after-work peak. */
static const double hour_rate[24] = {
	0.15, 0.10, 0.08, 0.07, 0.08, 0.15, 0.35, 0.70, 1.10, 1.40, 1.50, 1.60,
	1.80, 1.70, 1.50, 1.45, 1.55, 1.80, 1.70, 1.30, 1.00, 0.75, 0.50, 0.30,
};
/* Relative activity per weekday, Monday first; weekends are quieter. */
static const double day_rate[7] = { 1.05, 1.0, 1.0, 1.0, 1.15, 0.75, 0.55 };

/* ---- PRNG: xoshiro256**, seeded by splitmix64 --------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

typedef struct rng {
	uint64_t s[4];
} rng;

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1). */
static double rng_unit(rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1p-53;
}

/* Uniform in [0, n), n > 0.  The multiply-shift keeps the high bits, which
 * are the best ones; the bias for n < 2^32 is below 2^-32. */
static uint64_t rng_below(rng *r, uint64_t n)
{
	if (n <= UINT32_MAX)
		return ((rng_next(r) >> 32) * n) >> 32;
	return rng_next(r) % n;
}

/* Pick an index by integer weights that sum to total. */
static int rng_pick(rng *r, const unsigned char *w, int n, unsigned total)
{
	unsigned x = (unsigned)rng_below(r, total);
	for (int i = 0; i < n - 1; i++) {
		if (x < w[i])
			return i;
		x -= w[i];
	}
	return n - 1;
}

/* About N(0, 1): the sum of four uniforms has variance 1/3, and its shape is
 * close enough to a bell for amounts that only need to look real. */
static double rng_normal(rng *r)
{
	double u = rng_unit(r) + rng_unit(r) + rng_unit(r) + rng_unit(r);
	return (u - 2.0) * 1.7320508075688772;
}

/* ---- exp and log without libm ------------------------------------------ */

/* 2^x for |x| < 1000. */
static double exp2_approx(double x)
{
	double fl = (double)(int64_t)x;
	if (fl > x)
		fl -= 1.0;
	double f = (x - fl) * 0.6931471805599453; /* 2^frac = e^(frac ln 2) */
	/* Taylor series of e^f on [0, ln 2): error below 2e-7. */
	double p = 1.0 + f * (1.0 + f * (0.5 + f * (1.0 / 6 + f * (1.0 / 24 +
		   f * (1.0 / 120 + f * (1.0 / 720 + f / 5040))))));
	uint64_t bits = (uint64_t)((int64_t)fl + 1023) << 52;
	double scale;
	memcpy(&scale, &bits, sizeof scale);
	return p * scale;
}

static double exp_approx(double x)
{
	return exp2_approx(x * 1.4426950408889634);
}

/* Natural log of x in (0, 1]: split off the binary exponent, then the atanh
 * series for the mantissa in [1, 2) converges within a few terms. */
static double log_approx(double x)
{
	uint64_t bits;
	memcpy(&bits, &x, sizeof bits);
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
	double m;
	memcpy(&m, &bits, sizeof m);
	double s = (m - 1.0) / (m + 1.0), s2 = s * s;
	double ln_m = 2.0 * s * (1.0 + s2 * (1.0 / 3 + s2 * (1.0 / 5 +
		      s2 * (1.0 / 7 + s2 * (1.0 / 9 + s2 / 11)))));
	return e * 0.6931471805599453 + ln_m;
}

/* Log-normal amount in cents with the given median (in currency units),
 * clamped to [lo, hi] cents. */
static int64_t lognormal_cents(rng *r, double median, double sigma,
			       int64_t lo, int64_t hi)
{
	double v = median * exp_approx(sigma * rng_normal(r)) * 100.0;
	int64_t c = (int64_t)(v + 0.5);
	return c < lo ? lo : c > hi ? hi : c;
}

/* ---- state -------------------------------------------------------------- */

enum { ACC_UNOPENED, ACC_OPEN };

typedef struct account {
	uint64_t number;   /* stream account-<number> */
	uint64_t customer; /* actor customer:<customer> */
	int64_t balance;   /* cents */
	uint16_t first, last;
	uint8_t state, branch;
} account;

typedef struct gen {
	rng r;
	uint64_t seed;
	int64_t now;              /* event time of the last event, us */
	double gap_mean[7 * 24];  /* mean gap by (weekday, hour), us */
	account *acc;
	uint64_t n_acc;
	uint64_t next_number;     /* for accounts that replace closed ones */
	uint64_t max_number;      /* largest number that fits stream_width */
	uint64_t next_customer;
	int stream_width;
	char *buf;
	size_t len;
	FILE *out;
} gen;

/* Gaps are exponential with a mean that follows the weekly rhythm, scaled
 * so that the mean over all events is MEAN_GAP_US: in a slot with relative
 * rate w the mean gap is MEAN_GAP_US * mean(w) / w. */
static void init_rhythm(gen *g)
{
	double sum = 0;
	for (int d = 0; d < 7; d++)
		for (int h = 0; h < 24; h++)
			sum += day_rate[d] * hour_rate[h];
	double mean = sum / (7 * 24);
	for (int d = 0; d < 7; d++)
		for (int h = 0; h < 24; h++)
			g->gap_mean[d * 24 + h] =
				MEAN_GAP_US * mean / (day_rate[d] * hour_rate[h]);
}

static void advance_clock(gen *g)
{
	int64_t sec = g->now / 1000000 - (g->now % 1000000 < 0);
	int64_t day = sec / 86400 - (sec % 86400 < 0);
	int64_t sod = sec - day * 86400;
	/* 1970-01-01 was a Thursday: weekday 3 when Monday is 0. */
	int wd = (int)(((day + 3) % 7 + 7) % 7);
	double mean = g->gap_mean[wd * 24 + sod / 3600];
	/* 1 - unit is in (0, 1], so the log is finite. */
	double gap = -log_approx(1.0 - rng_unit(&g->r)) * mean;
	int64_t us = (int64_t)gap;
	g->now += us < 1 ? 1 : us; /* strictly increasing */
}

/* ---- output ------------------------------------------------------------- */

static const char hex[] = "0123456789abcdef";

static void put(gen *g, const char *s, size_t n)
{
	memcpy(g->buf + g->len, s, n);
	g->len += n;
}
#define PUT(g, lit) put(g, lit, sizeof(lit) - 1)

static void put_str(gen *g, str s)
{
	put(g, s.s, s.n);
}

/* Decimal, zero-padded to at least width digits. */
static void put_uint(gen *g, uint64_t v, int width)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width)
		tmp[n++] = '0';
	while (n)
		g->buf[g->len++] = tmp[--n];
}

/* Cents as a JSON number with exactly two decimals: 12550 -> 125.50. */
static void put_cents(gen *g, int64_t c)
{
	put_uint(g, (uint64_t)c / 100, 1);
	g->buf[g->len++] = '.';
	put_uint(g, (uint64_t)c % 100, 2);
}

/* The id is a pure function of (seed, event number), so that a line can be
 * regenerated alone, and it does not consume the simulation's stream. */
static void put_uuid(gen *g, uint64_t n)
{
	uint64_t x = g->seed ^ (n * 0xd1342543de82ef95ULL);
	uint64_t w[2] = { splitmix64(&x), splitmix64(&x) };
	unsigned char b[16];
	for (int i = 0; i < 8; i++) {
		b[i] = (unsigned char)(w[0] >> (56 - 8 * i));
		b[8 + i] = (unsigned char)(w[1] >> (56 - 8 * i));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	char *p = g->buf + g->len;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 15];
	}
	g->len += 36;
}

static int flush(gen *g)
{
	if (g->len && fwrite(g->buf, 1, g->len, g->out) != g->len) {
		if (!errno)
			errno = EIO;
		return -1;
	}
	g->len = 0;
	return 0;
}

/* The envelope up to and including `"data":{"owner":"<name>"`; the caller
 * adds the rest of data and the closing braces. */
static void put_head(gen *g, uint64_t n, const account *a, str type,
		     int teller, int system)
{
	PUT(g, "{\"id\":\"");
	put_uuid(g, n);
	PUT(g, "\",\"stream\":\"account-");
	put_uint(g, a->number, g->stream_width);
	PUT(g, "\",\"type\":\"");
	put_str(g, type);
	PUT(g, "\",\"time\":\"");
	g->len += eg_time_format(g->now, g->buf + g->len);
	PUT(g, "\",\"actor\":\"");
	if (system) {
		PUT(g, "system");
	} else if (teller) {
		PUT(g, "teller:");
		put_uint(g, (a->branch + 1) * 100 +
			 1 + rng_below(&g->r, TELLERS_PER_BRANCH), 1);
	} else {
		PUT(g, "customer:");
		put_uint(g, a->customer, 1);
	}
	PUT(g, "\",\"data\":{\"owner\":\"");
	put_str(g, first_names[a->first]);
	g->buf[g->len++] = ' ';
	put_str(g, last_names[a->last]);
	g->buf[g->len++] = '"';
}

static void put_tail(gen *g, int64_t cents, int ch)
{
	PUT(g, ",\"amount\":");
	put_cents(g, cents);
	PUT(g, ",\"channel\":\"");
	put_str(g, channels[ch]);
	PUT(g, "\"}}\n");
}

/* ---- events ------------------------------------------------------------- */

static const str T_OPENED = S("account_opened");
static const str T_DEPOSIT = S("deposit");
static const str T_WITHDRAWAL = S("withdrawal");
static const str T_FEE = S("fee");
static const str T_CLOSED = S("account_closed");

/* Currency 60/25/15 EUR/USD/GBP, then a branch of that currency. */
static int pick_branch(rng *r)
{
	static const unsigned char cur_w[] = { 60, 25, 15 };
	int cur = rng_pick(r, cur_w, 3, 100);
	int n = 0;
	for (size_t i = 0; i < N_BRANCH; i++)
		n += branches[i].cur == cur;
	int k = (int)rng_below(r, (uint64_t)n);
	for (size_t i = 0; i < N_BRANCH; i++)
		if (branches[i].cur == cur && k-- == 0)
			return (int)i;
	return 0;
}

static void ev_open(gen *g, uint64_t n, account *a)
{
	a->state = ACC_OPEN;
	a->customer = g->next_customer++;
	a->first = (uint16_t)rng_below(&g->r, N_FIRST);
	a->last = (uint16_t)rng_below(&g->r, N_LAST);
	a->branch = (uint8_t)pick_branch(&g->r);
	int ch = rng_below(&g->r, 100) < 55 ? CH_BRANCH : CH_ONLINE;
	int64_t c = lognormal_cents(&g->r, 500, 1.0, 1000, 5000000);
	if (rng_below(&g->r, 2))
		c -= c % 10000; /* half the people open with round money */
	if (c < 1000)
		c = 1000;
	a->balance = c;

	put_head(g, n, a, T_OPENED, ch == CH_BRANCH, 0);
	PUT(g, ",\"currency\":\"");
	put_str(g, currencies[branches[a->branch].cur]);
	PUT(g, "\",\"branch\":\"");
	put_str(g, branches[a->branch].name);
	g->buf[g->len++] = '"';
	put_tail(g, c, ch);
}

static void ev_deposit(gen *g, uint64_t n, account *a)
{
	static const unsigned char w[] = { 12, 13, 22, 38, 15 };
	int ch = rng_pick(&g->r, w, 5, 100);
	int64_t c;
	if (ch == CH_TRANSFER && rng_below(&g->r, 100) < 18)
		c = lognormal_cents(&g->r, 2800, 0.35, 50000, 2000000); /* salary */
	else if (ch == CH_CARD) /* refunds */
		c = lognormal_cents(&g->r, 35, 0.9, 100, 200000);
	else
		c = lognormal_cents(&g->r, 80, 1.1, 500, 5000000);
	if (ch == CH_ATM || ch == CH_BRANCH)
		c = c < 1000 ? 1000 : c - c % 1000; /* cash comes in notes */
	a->balance += c;
	put_head(g, n, a, T_DEPOSIT, ch == CH_BRANCH, 0);
	put_tail(g, c, ch);
}

/* Returns 0 if the balance cannot pay anything; the caller then deposits. */
static int ev_withdrawal(gen *g, uint64_t n, account *a)
{
	static const unsigned char w[] = { 25, 5, 15, 15, 40 };
	int ch = rng_pick(&g->r, w, 5, 100);
	int64_t c;
	if (ch == CH_TRANSFER && rng_below(&g->r, 100) < 30)
		c = lognormal_cents(&g->r, 1100, 0.4, 20000, 1000000); /* rent */
	else
		c = lognormal_cents(&g->r, 55, 1.1, 100, 1000000);
	if (c > a->balance) /* never overdraw: take part of what is there */
		c = (int64_t)((double)a->balance * (0.2 + 0.7 * rng_unit(&g->r)));
	if (ch == CH_ATM) {
		c -= c % 1000; /* ATMs pay out in tens */
		if (c == 0)
			ch = CH_CARD, c = a->balance / 2;
	}
	if (c < 100)
		return 0;
	a->balance -= c;
	put_head(g, n, a, T_WITHDRAWAL, ch == CH_BRANCH, 0);
	put_tail(g, c, ch);
	return 1;
}

/* Fees follow what caused them: ATM use, a transfer, foreign card use, or
 * the monthly maintenance charge booked against online banking. */
static int ev_fee(gen *g, uint64_t n, account *a)
{
	static const unsigned char w[] = { 35, 0, 20, 25, 20 };
	static const int64_t atm[] = { 150, 200, 250, 300 };
	static const int64_t xfer[] = { 25, 50, 100, 150 };
	static const int64_t monthly[] = { 250, 495, 750 };
	int ch = rng_pick(&g->r, w, 5, 100);
	int64_t c;
	if (ch == CH_ATM)
		c = atm[rng_below(&g->r, 4)];
	else if (ch == CH_TRANSFER)
		c = xfer[rng_below(&g->r, 4)];
	else if (ch == CH_ONLINE)
		c = monthly[rng_below(&g->r, 3)];
	else
		c = 10 + (int64_t)rng_below(&g->r, 290);
	if (c > a->balance)
		return 0;
	a->balance -= c;
	put_head(g, n, a, T_FEE, 0, 1);
	put_tail(g, c, ch);
	return 1;
}

/* The account pays out its balance and closes; its slot gets a fresh
 * account number that opens the next time the slot is picked. */
static void ev_close(gen *g, uint64_t n, account *a)
{
	int ch = rng_below(&g->r, 100) < 60 ? CH_BRANCH : CH_ONLINE;
	put_head(g, n, a, T_CLOSED, ch == CH_BRANCH, 0);
	put_tail(g, a->balance, ch);
	a->balance = 0;
	a->state = ACC_UNOPENED;
	a->number = g->next_number++;
}

/* Some accounts are busier than others: half the picks are skewed toward
 * the low slots by taking the smaller of two uniform picks. */
static account *pick_account(gen *g)
{
	uint64_t i = rng_below(&g->r, g->n_acc);
	if (rng_below(&g->r, 2)) {
		uint64_t j = rng_below(&g->r, g->n_acc);
		if (j < i)
			i = j;
	}
	return &g->acc[i];
}

static void one_event(gen *g, uint64_t n)
{
	account *a = pick_account(g);
	advance_clock(g);
	if (a->state == ACC_UNOPENED) {
		ev_open(g, n, a);
		return;
	}
	uint64_t x = rng_below(&g->r, 100 * CLOSE_ONE_IN);
	if (x < 100 && g->next_number <= g->max_number) {
		ev_close(g, n, a);
		return;
	}
	x %= 100;
	if (x < 48 && ev_withdrawal(g, n, a))
		return;
	if (x >= 92 && ev_fee(g, n, a))
		return;
	ev_deposit(g, n, a);
}

static int digits(uint64_t v)
{
	int n = 1;
	while (v >= 10)
		v /= 10, n++;
	return n;
}

int eg_gen_bank(FILE *out, const eg_gen_opts *o)
{
	if (!out || !o) {
		errno = EINVAL;
		return -1;
	}
	gen g;
	memset(&g, 0, sizeof g);
	g.out = out;
	g.seed = o->seed;
	g.now = o->start_us ? o->start_us : DEFAULT_START_US;
	g.n_acc = o->accounts ? o->accounts : DEFAULT_ACCOUNTS;
	/* Wide enough for every initial account; replacements take the
	 * numbers above and stop (no more closes) when the width is full,
	 * so that stream names always sort. */
	g.stream_width = digits(g.n_acc) > 6 ? digits(g.n_acc) : 6;
	g.max_number = 1;
	for (int i = 0; i < g.stream_width && i < 19; i++)
		g.max_number *= 10;
	g.max_number -= 1;
	g.next_number = g.n_acc + 1;
	g.next_customer = 1;
	uint64_t sm = o->seed;
	for (int i = 0; i < 4; i++)
		g.r.s[i] = splitmix64(&sm);
	init_rhythm(&g);

	int rc = -1;
	g.acc = calloc(g.n_acc, sizeof *g.acc);
	g.buf = malloc(BUF_SIZE);
	if (!g.acc || !g.buf) {
		errno = ENOMEM;
		goto done;
	}
	for (uint64_t i = 0; i < g.n_acc; i++)
		g.acc[i].number = i + 1;

	errno = 0;
	for (uint64_t n = 1; n <= o->events; n++) {
		one_event(&g, n);
		if (g.len > BUF_SIZE - LINE_MAX_BYTES && flush(&g))
			goto done;
	}
	if (flush(&g))
		goto done;
	if (fflush(out) || ferror(out)) {
		if (!errno)
			errno = EIO;
		goto done;
	}
	rc = 0;
done:
	free(g.acc);
	free(g.buf);
	return rc;
}
