/*
 * gen.c — the event generators behind `engram gen bank` and `engram gen orders`.
 *
 * Small simulations with a clock that ticks with a daily rhythm.  bank: a
 * fixed number of account slots, each with an owner and a balance held in
 * memory.  orders: orders arrive and go through their life cycle, many at
 * once, and some events reach the output late.  No libm and no stdio per
 * field, so that they outrun any store they feed.
 */
#include "gen.h"
#include "timefmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* 2025-01-01T00:00:00Z, the default start of the clock. */
#define DEFAULT_START_US (1735689600LL * 1000000)
#define DEFAULT_ACCOUNTS 1000
/* Average gap between two bank events, in microseconds. */
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

/* A min-heap of (time, index) pairs.  The index names a slot of a pool. */
typedef struct hent {
	int64_t t;
	uint32_t i;
} hent;

typedef struct heap {
	hent *a;
	size_t n, cap;
} heap;

/* Fixed-size slots addressed by index, with a stack of the free ones, so
 * that heaps move 16-byte entries instead of whole records. */
typedef struct pool {
	char *a;
	uint32_t *free;
	uint32_t size, n, cap, nfree;
} pool;

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
	uint64_t id_key;          /* ids are a function of this and the event number */
	int64_t now;              /* event time of the last event, us */
	double gap_mean[7 * 24];  /* mean gap by (weekday, hour), us */
	int stream_width;         /* digits of the number in stream names */
	char *buf;
	size_t len;
	FILE *out;
	/* bank */
	account *acc;
	uint64_t n_acc;
	uint64_t next_number;     /* for accounts that replace closed ones */
	uint64_t max_number;      /* largest number that fits stream_width */
	uint64_t next_customer;
	/* orders */
	pool orders;              /* orders in flight */
	heap steps;               /* their next steps, by event time */
	pool held;                /* late lines, held back */
	heap arrivals;            /* the held lines, by arrival time */
	rng late_r;               /* which events are late, and how late */
	double late;
	int64_t arrival;          /* event time of the next new order */
	uint64_t next_order;
} gen;

/* Gaps are exponential with a mean that follows the weekly rhythm, scaled
 * so that the mean over all events is mean_gap: in a slot with relative
 * rate w the mean gap is mean_gap * mean(w) / w. */
static void init_rhythm(gen *g, const double *hour, const double *day,
			double mean_gap)
{
	double sum = 0;
	for (int d = 0; d < 7; d++)
		for (int h = 0; h < 24; h++)
			sum += day[d] * hour[h];
	double mean = sum / (7 * 24);
	for (int d = 0; d < 7; d++)
		for (int h = 0; h < 24; h++)
			g->gap_mean[d * 24 + h] =
				mean_gap * mean / (day[d] * hour[h]);
}

/* Seconds since midnight UTC and weekday (Monday 0) of a time in us. */
static int64_t day_second(int64_t t, int *weekday)
{
	int64_t sec = t / 1000000 - (t % 1000000 < 0);
	int64_t day = sec / 86400 - (sec % 86400 < 0);
	/* 1970-01-01 was a Thursday: weekday 3 when Monday is 0. */
	if (weekday)
		*weekday = (int)(((day + 3) % 7 + 7) % 7);
	return sec - day * 86400;
}

/* The gap after time t to the next arrival, at least 1 us. */
static int64_t rhythm_gap(gen *g, int64_t t)
{
	int wd;
	int64_t sod = day_second(t, &wd);
	double mean = g->gap_mean[wd * 24 + sod / 3600];
	/* 1 - unit is in (0, 1], so the log is finite. */
	double gap = -log_approx(1.0 - rng_unit(&g->r)) * mean;
	int64_t us = (int64_t)gap;
	return us < 1 ? 1 : us;
}

static void advance_clock(gen *g)
{
	g->now += rhythm_gap(g, g->now); /* strictly increasing */
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
	uint64_t x = g->id_key ^ (n * 0xd1342543de82ef95ULL);
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

/* Write what is left in the buffer and flush the stream. */
static int finish(gen *g)
{
	if (flush(g))
		return -1;
	if (fflush(g->out) || ferror(g->out)) {
		if (!errno)
			errno = EIO;
		return -1;
	}
	return 0;
}

/* Seed the simulation's generator from the user's seed; more calls give
 * further independent generators. */
static void seed_rng(rng *r, uint64_t *sm)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(sm);
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
	g.id_key = o->seed;
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
	seed_rng(&g.r, &sm);
	init_rhythm(&g, hour_rate, day_rate, MEAN_GAP_US);

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
	if (finish(&g))
		goto done;
	rc = 0;
done:
	free(g.acc);
	free(g.buf);
	return rc;
}

/* ---- orders: heaps and pools --------------------------------------------- */

static int heap_push(heap *h, int64_t t, uint32_t i)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		hent *a = realloc(h->a, cap * sizeof *a);
		if (!a)
			return -1;
		h->a = a;
		h->cap = cap;
	}
	size_t k = h->n++;
	while (k > 0 && h->a[(k - 1) / 2].t > t) {
		h->a[k] = h->a[(k - 1) / 2];
		k = (k - 1) / 2;
	}
	h->a[k] = (hent){ t, i };
	return 0;
}

/* Remove the root, h->a[0]; the heap is not empty. */
static void heap_pop(heap *h)
{
	hent last = h->a[--h->n];
	size_t k = 0;
	for (;;) {
		size_t c = 2 * k + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->a[c + 1].t < h->a[c].t)
			c++;
		if (h->a[c].t >= last.t)
			break;
		h->a[k] = h->a[c];
		k = c;
	}
	h->a[k] = last;
}

static void *pool_at(pool *p, uint32_t i)
{
	return p->a + (size_t)i * p->size;
}

/* A free slot's index, or -1 when out of memory.  Earlier pointers into
 * the pool may move. */
static int64_t pool_take(pool *p)
{
	if (p->nfree)
		return p->free[--p->nfree];
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? 2 * p->cap : 1024;
		char *a = realloc(p->a, (size_t)cap * p->size);
		if (!a)
			return -1;
		p->a = a;
		uint32_t *f = realloc(p->free, cap * sizeof *f);
		if (!f)
			return -1;
		p->free = f;
		p->cap = cap;
	}
	return p->n++;
}

static void pool_put(pool *p, uint32_t i)
{
	p->free[p->nfree++] = i;
}

/* ---- orders: the model ---------------------------------------------------- */

/* One new order every two minutes on average; with about 3.8 events per
 * order that is an event every half minute, like bank. */
#define ORDER_MEAN_GAP_US 120e6
/* Customers are customer-00001 .. customer-<CUSTOMERS>. */
#define CUSTOMERS 50000
#define HOUR_US (3600LL * 1000000)
#define DAY_US (24 * HOUR_US)

/* Online shops (UTC): quiet nights, busy evenings; Sunday is the best day. */
static const double shop_hour_rate[24] = {
	0.35, 0.20, 0.12, 0.08, 0.08, 0.12, 0.25, 0.45, 0.65, 0.80, 0.90, 1.00,
	1.15, 1.10, 1.00, 1.00, 1.05, 1.15, 1.35, 1.60, 1.75, 1.60, 1.15, 0.70,
};
static const double shop_day_rate[7] = { 1.10, 1.0, 1.0, 1.0, 0.95, 0.90, 1.15 };

enum { O_PLACED, O_PAID, O_SHIPPED, O_DELIVERED, O_CANCELLED, O_REFUNDED };
static const str order_types[] = {
	S("order_placed"), S("order_paid"), S("order_shipped"),
	S("order_delivered"), S("order_cancelled"), S("order_refunded"),
};

static const str methods[] = {
	S("card"), S("paypal"), S("apple_pay"), S("bank_transfer"),
};

static const str carriers[] = {
	S("DHL"), S("DPD"), S("GLS"), S("UPS"), S("PostNL"),
	S("FedEx"), S("USPS"), S("Royal Mail"), S("Evri"),
};
/* Carriers by currency; a repeat is a heavier weight. */
static const unsigned char carriers_of[3][4] = {
	{ 0, 1, 2, 4 }, { 3, 5, 6, 6 }, { 7, 7, 1, 8 },
};

enum { R_PAYMENT_FAILED, R_PAYMENT_TIMEOUT, R_CHANGED_MIND, R_OUT_OF_STOCK,
       R_FRAUD };
static const str cancel_reasons[] = {
	S("payment_failed"), S("payment_timeout"), S("changed_mind"),
	S("out_of_stock"), S("fraud_suspected"),
};
enum { RF_RETURNED };
static const str refund_reasons[] = {
	S("returned"), S("damaged"), S("wrong_item"), S("not_as_described"),
	S("late_delivery"),
};

typedef struct order {
	uint64_t number;   /* stream order-<number> */
	int64_t cents;     /* order total */
	uint32_t customer; /* customer-<customer>, actor customer:<customer> */
	uint8_t next;      /* the step that comes next, O_* */
	uint8_t cur, items, method, carrier, reason;
} order;

/* A line held back until its arrival; LINE_MAX_BYTES bounds every line. */
typedef struct held_line {
	uint16_t len;
	char s[LINE_MAX_BYTES];
} held_line;

/* A time in seconds, log-normal around median, clamped to [lo, hi]. */
static int64_t lognormal_us(rng *r, double median, double sigma,
			    double lo, double hi)
{
	double v = median * exp_approx(sigma * rng_normal(r));
	v = v < lo ? lo : v > hi ? hi : v;
	return (int64_t)(v * 1e6);
}

/* Couriers deliver from 08:00 to 20:00 UTC: a time outside moves forward
 * into the next delivery hours. */
static int64_t daytime(rng *r, int64_t t)
{
	int64_t sod = day_second(t, NULL) * 1000000;
	if (sod >= 8 * HOUR_US && sod < 20 * HOUR_US)
		return t;
	int64_t next = t - sod + (sod >= 20 * HOUR_US ? DAY_US : 0);
	return next + 8 * HOUR_US + (int64_t)rng_below(r, 12 * HOUR_US);
}

/* Some customers order far more often than others: half the picks take
 * the smaller of two.  Each customer always pays in one currency. */
static void new_order(gen *g, order *o)
{
	uint32_t c = 1 + (uint32_t)rng_below(&g->r, CUSTOMERS);
	if (rng_below(&g->r, 2)) {
		uint32_t d = 1 + (uint32_t)rng_below(&g->r, CUSTOMERS);
		if (d < c)
			c = d;
	}
	static const unsigned char items_w[] = { 45, 25, 13, 8, 5, 4 };
	static const unsigned char method_w[] = { 62, 22, 10, 6 };
	static const int64_t endings[] = { 99, 99, 90, 0, 50 };
	uint64_t h = c;
	unsigned x = (unsigned)(splitmix64(&h) % 100);
	o->number = g->next_order++;
	o->customer = c;
	o->cur = x < 60 ? CUR_EUR : x < 85 ? CUR_USD : CUR_GBP; /* 60/25/15 */
	o->items = (uint8_t)(1 + rng_pick(&g->r, items_w, 6, 100));
	o->method = (uint8_t)rng_pick(&g->r, method_w, 4, 100);
	o->cents = 0;
	for (int i = 0; i < o->items; i++) {
		int64_t p = lognormal_cents(&g->r, 22, 0.8, 199, 80000);
		o->cents += p - p % 100 + endings[rng_below(&g->r, 5)];
	}
	if (o->cents < 5000)
		o->cents += 499; /* shipping on small orders */
	o->next = O_PLACED;
}

/* Write event o->next of order o at g->now as event number n. */
static void put_order_event(gen *g, uint64_t n, order *o)
{
	int type = o->next;
	PUT(g, "{\"id\":\"");
	put_uuid(g, n);
	PUT(g, "\",\"stream\":\"order-");
	put_uint(g, o->number, g->stream_width);
	PUT(g, "\",\"type\":\"");
	put_str(g, order_types[type]);
	PUT(g, "\",\"time\":\"");
	g->len += eg_time_format(g->now, g->buf + g->len);
	PUT(g, "\",\"actor\":\"");
	if (type == O_SHIPPED) {
		PUT(g, "warehouse:");
		put_uint(g, o->cur * 10 + 1 + rng_below(&g->r, 3), 1);
	} else if (type == O_DELIVERED) {
		PUT(g, "courier:");
		put_uint(g, (o->carrier + 1) * 100 + 1 + rng_below(&g->r, 40), 1);
	} else if (type == O_REFUNDED && rng_below(&g->r, 100) < 60) {
		PUT(g, "support:");
		put_uint(g, 1 + rng_below(&g->r, 25), 1);
	} else if (type == O_REFUNDED || (type == O_CANCELLED &&
			o->reason != R_CHANGED_MIND)) {
		PUT(g, "system");
	} else {
		PUT(g, "customer:");
		put_uint(g, o->customer, 1);
	}
	PUT(g, "\",\"data\":{\"customer\":\"customer-");
	put_uint(g, o->customer, 5);
	g->buf[g->len++] = '"';
	int64_t cents = o->cents;
	switch (type) {
	case O_SHIPPED:
		o->carrier = carriers_of[o->cur][rng_below(&g->r, 4)];
		/* fall through */
	case O_DELIVERED:
		PUT(g, ",\"carrier\":\"");
		put_str(g, carriers[o->carrier]);
		g->buf[g->len++] = '"';
		break;
	case O_CANCELLED:
		PUT(g, ",\"reason\":\"");
		put_str(g, cancel_reasons[o->reason]);
		g->buf[g->len++] = '"';
		break;
	case O_REFUNDED:
		/* A return is paid back in full, other complaints mostly too. */
		if (o->reason == RF_RETURNED || rng_below(&g->r, 100) < 70)
			cents = o->cents;
		else
			cents = (int64_t)((double)o->cents * (0.2 + 0.6 * rng_unit(&g->r)));
		/* fall through */
	default: /* placed, paid */
		PUT(g, ",\"amount\":");
		put_cents(g, cents);
		PUT(g, ",\"currency\":\"");
		put_str(g, currencies[o->cur]);
		g->buf[g->len++] = '"';
		if (type == O_PLACED) {
			PUT(g, ",\"items\":");
			put_uint(g, o->items, 1);
		} else if (type == O_PAID) {
			PUT(g, ",\"method\":\"");
			put_str(g, methods[o->method]);
			g->buf[g->len++] = '"';
		} else {
			PUT(g, ",\"reason\":\"");
			put_str(g, refund_reasons[o->reason]);
			g->buf[g->len++] = '"';
		}
	}
	PUT(g, "}}\n");
}

/* Decide what happens to order o after the step it just took: 1 with
 * o->next and *at set, or 0 when its life is over.  Of 100 orders about 10
 * are never paid, 4 of the paid are cancelled before shipping, and 6 of
 * the delivered are refunded. */
static int next_step(gen *g, order *o, int64_t *at)
{
	rng *r = &g->r;
	int64_t t = g->now;
	switch (o->next) {
	case O_PLACED:
		if (rng_below(r, 100) < 90) {
			o->next = O_PAID;
			*at = t + lognormal_us(r, 240, 1.0, 20, 6 * 3600);
			return 1;
		}
		o->next = O_CANCELLED;
		o->reason = (uint8_t)rng_pick(r, (const unsigned char[]){ 30, 45, 25 }, 3, 100);
		if (o->reason == R_PAYMENT_TIMEOUT) /* the shop waits one to three days */
			*at = t + DAY_US + (int64_t)rng_below(r, 2 * DAY_US);
		else
			*at = t + lognormal_us(r, o->reason == R_PAYMENT_FAILED ? 600 : 7200,
					       1.0, 30, 2 * 86400);
		return 1;
	case O_PAID:
		if (rng_below(r, 100) < 4) {
			o->next = O_CANCELLED;
			/* changed_mind, out_of_stock or fraud_suspected */
			o->reason = (uint8_t)(R_CHANGED_MIND + rng_below(r, 3));
			*at = t + lognormal_us(r, 5 * 3600, 1.0, 600, 2 * 86400);
		} else {
			o->next = O_SHIPPED;
			*at = t + lognormal_us(r, 18 * 3600, 0.7, 3600, 6 * 86400);
		}
		return 1;
	case O_SHIPPED:
		o->next = O_DELIVERED;
		*at = daytime(r, t + lognormal_us(r, 2.5 * 86400, 0.45, 12 * 3600, 14 * 86400));
		return 1;
	case O_DELIVERED:
		if (rng_below(r, 100) >= 6)
			return 0;
		o->next = O_REFUNDED;
		o->reason = (uint8_t)rng_below(r, sizeof refund_reasons / sizeof *refund_reasons);
		*at = t + lognormal_us(r, 7 * 86400, 0.6, 86400, 45 * 86400);
		return 1;
	default:
		return 0;
	}
}

/* ---- orders: the clock and late arrivals ---------------------------------- */

/* Write the held lines that have arrived by time t, in arrival order. */
static int release_held(gen *g, int64_t t)
{
	while (g->arrivals.n && g->arrivals.a[0].t <= t) {
		uint32_t i = g->arrivals.a[0].i;
		heap_pop(&g->arrivals);
		held_line *h = pool_at(&g->held, i);
		put(g, h->s, h->len);
		pool_put(&g->held, i);
		if (g->len > BUF_SIZE - LINE_MAX_BYTES && flush(g))
			return -1;
	}
	return 0;
}

/* Move the line just written at buf + start out of the output, to arrive
 * 1 to 12 hours after its event time. */
static int hold_line(gen *g, size_t start)
{
	int64_t i = pool_take(&g->held);
	if (i < 0)
		return -1;
	held_line *h = pool_at(&g->held, (uint32_t)i);
	h->len = (uint16_t)(g->len - start);
	memcpy(h->s, g->buf + start, h->len);
	g->len = start;
	int64_t delay = HOUR_US + (int64_t)rng_below(&g->late_r, 11 * HOUR_US + 1);
	return heap_push(&g->arrivals, g->now + delay, (uint32_t)i);
}

/* Generate event number n: the earlier of the next new order and the next
 * step of an order in flight.  Returns -1 (errno set) on failure. */
static int order_event(gen *g, uint64_t n)
{
	uint32_t i;
	order *o;
	if (!g->steps.n || g->arrival <= g->steps.a[0].t) {
		int64_t s = pool_take(&g->orders);
		if (s < 0)
			return errno = ENOMEM, -1;
		i = (uint32_t)s;
		o = pool_at(&g->orders, i);
		g->now = g->arrival;
		g->arrival += rhythm_gap(g, g->arrival);
		new_order(g, o);
	} else {
		i = g->steps.a[0].i;
		g->now = g->steps.a[0].t;
		heap_pop(&g->steps);
		o = pool_at(&g->orders, i);
	}
	if (release_held(g, g->now))
		return -1;
	size_t start = g->len;
	put_order_event(g, n, o);
	int64_t at;
	if (!next_step(g, o, &at))
		pool_put(&g->orders, i);
	else if (heap_push(&g->steps, at, i))
		return errno = ENOMEM, -1;
	if (g->late > 0 && rng_unit(&g->late_r) < g->late && hold_line(g, start))
		return errno = ENOMEM, -1;
	return 0;
}

/* The id of order event n must not be the id of bank event n. */
#define ORDERS_ID_KEY 0x6f72646572730000ULL

int eg_gen_orders(FILE *out, const eg_gen_opts *o)
{
	if (!out || !o || !(o->late >= 0 && o->late <= 1)) {
		errno = EINVAL;
		return -1;
	}
	gen g;
	memset(&g, 0, sizeof g);
	g.out = out;
	g.id_key = o->seed ^ ORDERS_ID_KEY;
	g.late = o->late;
	/* There are at most as many orders as events. */
	g.stream_width = digits(o->events) > 7 ? digits(o->events) : 7;
	g.next_order = 1;
	g.orders.size = sizeof(order);
	g.held.size = sizeof(held_line);
	uint64_t sm = o->seed;
	seed_rng(&g.r, &sm);
	seed_rng(&g.late_r, &sm);
	init_rhythm(&g, shop_hour_rate, shop_day_rate, ORDER_MEAN_GAP_US);
	g.now = o->start_us ? o->start_us : DEFAULT_START_US;
	g.arrival = g.now + rhythm_gap(&g, g.now);

	int rc = -1;
	g.buf = malloc(BUF_SIZE);
	if (!g.buf) {
		errno = ENOMEM;
		goto done;
	}
	errno = 0;
	for (uint64_t n = 1; n <= o->events; n++) {
		if (order_event(&g, n))
			goto done;
		if (g.len > BUF_SIZE - LINE_MAX_BYTES && flush(&g))
			goto done;
	}
	if (release_held(&g, INT64_MAX) || finish(&g))
		goto done;
	rc = 0;
done:
	free(g.buf);
	free(g.orders.a);
	free(g.orders.free);
	free(g.steps.a);
	free(g.held.a);
	free(g.held.free);
	free(g.arrivals.a);
	return rc;
}
