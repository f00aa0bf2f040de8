/*
 * gen.c — the event generators behind `engram gen bank` and `engram gen orders`.
 *
 * Small simulations with a clock that ticks with a daily rhythm.  bank: a
 * fixed number of account slots, each with an owner and a balance held in
 * memory.  orders: orders arrive and go through their life cycle, many at
 * once, and some events reach the output late.  No libm and no stdio per
 * field, so that they outrun any store they feed; the PRNG, the buffer and
 * the heaps they run on are in gen_util.h, shared with gen_click.c.
 */
#include "engram.h"
#include "gen_util.h"

#define DEFAULT_ACCOUNTS 1000
/* Average gap between two bank events, in microseconds. */
#define MEAN_GAP_US 30e6
/* One close per CLOSE_ONE_IN events on open accounts: about 200 per million. */
#define CLOSE_ONE_IN 5000
/* Longer than any line: names < 40 bytes, numbers < 21 digits. */
#define LINE_MAX_BYTES 512

/* ---- strings ---------------------------------------------------------- */

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
	uint64_t id_key;          /* ids are a function of this and the event number */
	int64_t now;              /* event time of the last event, us */
	rhythm rh;                /* the arrival rate through the week */
	int stream_width;         /* digits of the number in stream names */
	gbuf w;                   /* the output */
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
	uint32_t customers;       /* customer-00001 .. customer-<customers> */
	int64_t loads;            /* --loads: every line says when its load ended */
	eg_gen_placed_fn placed;  /* told of every order placed, in time order */
	void *placed_ctx;
} gen;

static void advance_clock(gen *g)
{
	g->now += rhythm_gap(&g->rh, &g->r, g->now); /* strictly increasing */
}

/* ---- output ------------------------------------------------------------- */

/* The envelope up to and including `"data":{"owner":"<name>"`; the caller
 * adds the rest of data and the closing braces. */
static void put_head(gen *g, uint64_t n, const account *a, str type,
		     int teller, int system)
{
	PUT(&g->w, "{\"id\":\"");
	put_uuid(&g->w, g->id_key, n);
	PUT(&g->w, "\",\"stream\":\"account-");
	put_uint(&g->w, a->number, g->stream_width);
	PUT(&g->w, "\",\"type\":\"");
	put_str(&g->w, type);
	PUT(&g->w, "\",\"time\":\"");
	put_time(&g->w, g->now);
	PUT(&g->w, "\",\"actor\":\"");
	if (system) {
		PUT(&g->w, "system");
	} else if (teller) {
		PUT(&g->w, "teller:");
		put_uint(&g->w, (a->branch + 1) * 100 +
			 1 + rng_below(&g->r, TELLERS_PER_BRANCH), 1);
	} else {
		PUT(&g->w, "customer:");
		put_uint(&g->w, a->customer, 1);
	}
	PUT(&g->w, "\",\"data\":{\"owner\":\"");
	put_str(&g->w, first_names[a->first]);
	put_char(&g->w, ' ');
	put_str(&g->w, last_names[a->last]);
	put_char(&g->w, '"');
}

static void put_tail(gen *g, int64_t cents, int ch)
{
	PUT(&g->w, ",\"amount\":");
	put_cents(&g->w, cents);
	PUT(&g->w, ",\"channel\":\"");
	put_str(&g->w, channels[ch]);
	PUT(&g->w, "\"}}\n");
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
	PUT(&g->w, ",\"currency\":\"");
	put_str(&g->w, currencies[branches[a->branch].cur]);
	PUT(&g->w, "\",\"branch\":\"");
	put_str(&g->w, branches[a->branch].name);
	put_char(&g->w, '"');
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

int eg_gen_bank(FILE *out, const eg_gen_opts *o)
{
	if (!out || !o) {
		errno = EINVAL;
		return -1;
	}
	gen g;
	memset(&g, 0, sizeof g);
	g.w.out = out;
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
	rhythm_init(&g.rh, hour_rate, day_rate, MEAN_GAP_US);

	int rc = -1;
	g.acc = calloc(g.n_acc, sizeof *g.acc);
	g.w.buf = malloc(BUF_SIZE);
	if (!g.acc || !g.w.buf) {
		errno = ENOMEM;
		goto done;
	}
	for (uint64_t i = 0; i < g.n_acc; i++)
		g.acc[i].number = i + 1;

	errno = 0;
	for (uint64_t n = 1; n <= o->events; n++) {
		one_event(&g, n);
		if (g.w.len > BUF_SIZE - LINE_MAX_BYTES && gbuf_flush(&g.w))
			goto done;
	}
	if (gbuf_finish(&g.w))
		goto done;
	rc = 0;
done:
	free(g.acc);
	free(g.w.buf);
	return rc;
}

/* ---- orders: the model ---------------------------------------------------- */

/* One new order every two minutes on average; with about 3.8 events per
 * order that is an event every half minute, like bank. */
#define ORDER_MEAN_GAP_US 120e6
/* Customers are customer-00001 .. customer-<customers> (at least five
 * digits), ORDERS_CUSTOMERS unless eg_gen_opts.customers says. */

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
	uint32_t c = 1 + (uint32_t)rng_below(&g->r, g->customers);
	if (rng_below(&g->r, 2)) {
		uint32_t d = 1 + (uint32_t)rng_below(&g->r, g->customers);
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
	PUT(&g->w, "{\"id\":\"");
	put_uuid(&g->w, g->id_key, n);
	PUT(&g->w, "\",\"stream\":\"order-");
	put_uint(&g->w, o->number, g->stream_width);
	PUT(&g->w, "\",\"type\":\"");
	put_str(&g->w, order_types[type]);
	PUT(&g->w, "\",\"time\":\"");
	put_time(&g->w, g->now);
	PUT(&g->w, "\",\"actor\":\"");
	if (type == O_SHIPPED) {
		PUT(&g->w, "warehouse:");
		put_uint(&g->w, o->cur * 10 + 1 + rng_below(&g->r, 3), 1);
	} else if (type == O_DELIVERED) {
		PUT(&g->w, "courier:");
		put_uint(&g->w, (o->carrier + 1) * 100 + 1 + rng_below(&g->r, 40), 1);
	} else if (type == O_REFUNDED && rng_below(&g->r, 100) < 60) {
		PUT(&g->w, "support:");
		put_uint(&g->w, 1 + rng_below(&g->r, 25), 1);
	} else if (type == O_REFUNDED || (type == O_CANCELLED &&
			o->reason != R_CHANGED_MIND)) {
		PUT(&g->w, "system");
	} else {
		PUT(&g->w, "customer:");
		put_uint(&g->w, o->customer, 1);
	}
	PUT(&g->w, "\",\"data\":{\"customer\":\"customer-");
	put_uint(&g->w, o->customer, 5);
	put_char(&g->w, '"');
	int64_t cents = o->cents;
	switch (type) {
	case O_SHIPPED:
		o->carrier = carriers_of[o->cur][rng_below(&g->r, 4)];
		/* fall through */
	case O_DELIVERED:
		PUT(&g->w, ",\"carrier\":\"");
		put_str(&g->w, carriers[o->carrier]);
		put_char(&g->w, '"');
		break;
	case O_CANCELLED:
		PUT(&g->w, ",\"reason\":\"");
		put_str(&g->w, cancel_reasons[o->reason]);
		put_char(&g->w, '"');
		break;
	case O_REFUNDED:
		/* A return is paid back in full, other complaints mostly too. */
		if (o->reason == RF_RETURNED || rng_below(&g->r, 100) < 70)
			cents = o->cents;
		else
			cents = (int64_t)((double)o->cents * (0.2 + 0.6 * rng_unit(&g->r)));
		/* fall through */
	default: /* placed, paid */
		PUT(&g->w, ",\"amount\":");
		put_cents(&g->w, cents);
		PUT(&g->w, ",\"currency\":\"");
		put_str(&g->w, currencies[o->cur]);
		put_char(&g->w, '"');
		if (type == O_PLACED) {
			PUT(&g->w, ",\"items\":");
			put_uint(&g->w, o->items, 1);
		} else if (type == O_PAID) {
			PUT(&g->w, ",\"method\":\"");
			put_str(&g->w, methods[o->method]);
			put_char(&g->w, '"');
		} else {
			PUT(&g->w, ",\"reason\":\"");
			put_str(&g->w, refund_reasons[o->reason]);
			put_char(&g->w, '"');
		}
	}
	PUT(&g->w, "}}\n");
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
		put(&g->w, h->s, h->len);
		pool_put(&g->held, i);
		if (g->w.len > BUF_SIZE - LINE_MAX_BYTES && gbuf_flush(&g->w))
			return -1;
	}
	return 0;
}

/* Move the line just written at buf + start out of the output, to arrive
 * at its arrival time (1 to 12 hours after its event time). */
static int hold_line(gen *g, size_t start, int64_t arrive)
{
	int64_t i = pool_take(&g->held);
	if (i < 0)
		return -1;
	held_line *h = pool_at(&g->held, (uint32_t)i);
	h->len = (uint16_t)(g->w.len - start);
	memcpy(h->s, g->w.buf + start, h->len);
	g->w.len = start;
	return eg_heap_push(&g->arrivals, arrive, (uint32_t)i);
}

/* --loads: the line just written was delivered by the load that ended at
 * the first multiple of g->loads (from the epoch) at or after its arrival:
 * it says so as its last field, "recorded".  Lines go out in arrival
 * order, so recorded never decreases along the output. */
static void stamp_load(gen *g, int64_t arrive)
{
	int64_t q = arrive / g->loads;
	if (q * g->loads < arrive)
		q++;   /* division truncates toward zero: up only when positive */
	g->w.len -= 2;   /* "}\n", the envelope's end */
	PUT(&g->w, ",\"recorded\":\"");
	put_time(&g->w, q * g->loads);
	PUT(&g->w, "\"}\n");
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
		g->arrival += rhythm_gap(&g->rh, &g->r, g->arrival);
		new_order(g, o);
	} else {
		i = g->steps.a[0].i;
		g->now = g->steps.a[0].t;
		heap_pop(&g->steps);
		o = pool_at(&g->orders, i);
	}
	if (release_held(g, g->now))
		return -1;
	size_t start = g->w.len;
	if (o->next == O_PLACED && g->placed)
		g->placed(g->placed_ctx, o->customer, g->now);
	put_order_event(g, n, o);
	int64_t at;
	if (!next_step(g, o, &at))
		pool_put(&g->orders, i);
	else if (eg_heap_push(&g->steps, at, i))
		return errno = ENOMEM, -1;
	int late = g->late > 0 && rng_unit(&g->late_r) < g->late;
	int64_t arrive = late ? g->now + HOUR_US + (int64_t)rng_below(&g->late_r, 11 * HOUR_US + 1)
			      : g->now;
	if (g->loads)
		stamp_load(g, arrive);
	if (late && hold_line(g, start, arrive))
		return errno = ENOMEM, -1;
	return 0;
}

/* The id of order event n must not be the id of bank event n. */
#define ORDERS_ID_KEY 0x6f72646572730000ULL

int eg_gen_orders(FILE *out, const eg_gen_opts *o)
{
	if (!out) {
		errno = EINVAL;
		return -1;
	}
	return eg_gen_orders_run(out, o, NULL, NULL, NULL);
}

int eg_gen_orders_run(FILE *out, const eg_gen_opts *o, eg_gen_placed_fn placed, void *ctx,
		      int64_t *last_time)
{
	if (!o || !(o->late >= 0 && o->late <= 1) || o->loads_us < 0 ||
	    o->customers > EG_GEN_MAX_CUSTOMERS) {
		errno = EINVAL;
		return -1;
	}
	gen g;
	memset(&g, 0, sizeof g);
	g.w.out = out;
	g.id_key = o->seed ^ ORDERS_ID_KEY;
	g.late = o->late;
	g.loads = o->loads_us;
	g.customers = o->customers ? (uint32_t)o->customers : ORDERS_CUSTOMERS;
	g.placed = placed;
	g.placed_ctx = ctx;
	/* There are at most as many orders as events. */
	g.stream_width = digits(o->events) > 7 ? digits(o->events) : 7;
	g.next_order = 1;
	g.orders.size = sizeof(order);
	g.held.size = sizeof(held_line);
	uint64_t sm = o->seed;
	seed_rng(&g.r, &sm);
	seed_rng(&g.late_r, &sm);
	rhythm_init(&g.rh, shop_hour_rate, shop_day_rate, ORDER_MEAN_GAP_US);
	g.now = o->start_us ? o->start_us : DEFAULT_START_US;
	g.arrival = g.now + rhythm_gap(&g.rh, &g.r, g.now);

	int rc = -1;
	g.w.buf = malloc(BUF_SIZE);
	if (!g.w.buf) {
		errno = ENOMEM;
		goto done;
	}
	errno = 0;
	int64_t last = INT64_MIN;
	for (uint64_t n = 1; n <= o->events; n++) {
		if (order_event(&g, n))
			goto done;
		last = g.now;   /* event time only grows; late lines just go out later */
		if (g.w.len > BUF_SIZE - LINE_MAX_BYTES && gbuf_flush(&g.w))
			goto done;
	}
	if (release_held(&g, INT64_MAX) || gbuf_finish(&g.w))
		goto done;
	if (last_time)
		*last_time = last;
	rc = 0;
done:
	free(g.w.buf);
	pool_free(&g.orders);
	free(g.steps.a);
	pool_free(&g.held);
	free(g.arrivals.a);
	return rc;
}
