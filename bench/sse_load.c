/*
 * bench/sse_load.c — the live-subscription side of bench/serve.sh (issue
 * 24): S subscribers on GET /subscribe of one engram serve, and a producer
 * POSTing R events/s to it for D seconds, in one process.  It speaks plain
 * HTTP/1.1 over loopback (libc only), so it measures whatever connection
 * model the server has.
 *
 *   sse_load --port PORT [--subs S] [--rate R] [--secs D] [--pid PID]
 *            [--tag TAG] [--tick-ms T] [--wait W] [--readers N]
 *
 * The subscribers (spread over N reader threads, default 2, each one epoll
 * loop over non-blocking sockets) ask for /subscribe?from=HEAD+1, decode
 * the chunked body and parse the SSE text; each checks that its ids are
 * consecutive positions (every event of the stream once, in order: only
 * this run's events are in the store after HEAD), that the data's "pos"
 * is its id, and measures each event's latency from the "t_us" the
 * producer stamped in its data (CLOCK_REALTIME) to its receipt.  Once all
 * are subscribed the producer (a thread, one keep-alive connection) POSTs,
 * every T ms (default 10) by absolute time, the events due by then as one
 * NDJSON body: a slow POST makes the next one bigger, not the run longer.
 * After its last answer the subscribers get W seconds (default 30) to
 * reach the last position.
 *
 * Prints one JSON line: the rate asked and the one acknowledged, each
 * subscriber's count (least and most), whether all got every event
 * exactly once in order, the gaps, duplicates and malformed messages seen,
 * how far the slowest one was ever behind the acknowledged head (events;
 * its maximum in each second, behind_by_s), how much had reached this
 * client unread (unread_*_kb: the client's own lag, not the server's) and
 * the lag without it (max_behind_server), how long after the last answer
 * the last subscriber had everything (drain_ms), latency p50/p99/max,
 * and with --pid the server's memory (VmRSS before the subscriptions, once
 * subscribed, at the end; VmHWM; RssAnon and Pss, see procstat), threads
 * and CPU seconds during the run.
 * Exit 0 when the run took place (whatever it found), 1 when it could not
 * (no server, refused, a POST answered other than 200, ...).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>

#define SUB_BUF (64 * 1024)        /* per subscriber: far above one message (~300 bytes) */
#define HIST_US 10                 /* latency histogram: 10 µs buckets ... */
#define HIST_N (10 * 1000 * 1000 / HIST_US + 1)   /* ... up to 10 s, the last one open */

static int port;

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("sse_load: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
static int64_t mono_us(void) { return clock_us(CLOCK_MONOTONIC); }
static int64_t real_us(void) { return clock_us(CLOCK_REALTIME); }

/* A decimal number at p (at most n bytes), or -1 when there is none. */
static int64_t num_at(const char *p, size_t n)
{
	int64_t v = 0;
	size_t i = 0;
	while (i < n && p[i] >= '0' && p[i] <= '9' && i < 18)
		v = v * 10 + (p[i++] - '0');
	return i ? v : -1;
}

/* The number after key (which includes its quotes and colon) in p[0..n). */
static int64_t num_after(const char *p, size_t n, const char *key)
{
	size_t k = strlen(key);
	const char *q = memmem(p, n, key, k), *end = p + n;
	if (!q)
		return -1;
	for (q += k; q < end && *q == ' '; q++)
		;
	return num_at(q, (size_t)(end - q));
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("socket: %s", strerror(errno));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa))
		fail("connect to 127.0.0.1:%d: %s", port, strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fail("write: %s", w < 0 ? strerror(errno) : "nothing written");
		p += w;
		n -= (size_t)w;
	}
}

/* ------------------------------------------------------ chunked bodies */

/* Transfer-Encoding: chunked, decoded in place as the bytes come: the
 * payload is never longer than what carried it, so out never passes in. */
enum { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_TRAILER, CH_TRAILER_LINE, CH_END };
typedef struct {
	int st;
	uint64_t left;     /* the chunk's size as read, then its bytes still to come */
} chunked;

/* Decode p[0..n) into p: the payload's length, or -1 when it is not
 * chunked encoding. */
static ssize_t chunked_feed(chunked *c, char *p, size_t n)
{
	size_t i = 0, o = 0;
	while (i < n) {
		char ch = p[i];
		switch (c->st) {
		case CH_SIZE:
			i++;
			if (ch >= '0' && ch <= '9')
				c->left = c->left * 16 + (uint64_t)(ch - '0');
			else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
				c->left = c->left * 16 + (uint64_t)((ch | 0x20) - 'a' + 10);
			else if (ch == ';' || ch == ' ' || ch == '\t' || ch == '\r')
				c->st = CH_EXT;
			else if (ch == '\n')
				c->st = c->left ? CH_DATA : CH_TRAILER;
			else
				return -1;
			if (c->left > (1ull << 40))
				return -1;
			break;
		case CH_EXT:   /* extensions, ignored, to the end of the size line */
			i++;
			if (ch == '\n')
				c->st = c->left ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA: {
			size_t k = n - i < c->left ? n - i : (size_t)c->left;
			memmove(p + o, p + i, k);
			o += k, i += k;
			if (!(c->left -= k))
				c->st = CH_DATA_END;
			break;
		}
		case CH_DATA_END:   /* the CRLF after a chunk's payload */
			i++;
			if (ch == '\n')
				c->st = CH_SIZE;
			else if (ch != '\r')
				return -1;
			break;
		case CH_TRAILER:    /* at the start of a trailer line: empty ends it */
			i++;
			if (ch == '\n')
				c->st = CH_END;
			else if (ch != '\r')
				c->st = CH_TRAILER_LINE;
			break;
		case CH_TRAILER_LINE:
			i++;
			if (ch == '\n')
				c->st = CH_TRAILER;
			break;
		default:            /* after the last chunk: nothing more is read */
			i = n;
		}
	}
	return (ssize_t)o;
}

/* The end of an HTTP head in p[0..n): the offset after it, or 0. */
static size_t head_end(const char *p, size_t n)
{
	const char *e = memmem(p, n, "\r\n\r\n", 4);
	return e ? (size_t)(e - p) + 4 : 0;
}

/* Does the head say header: value (case aside)? */
static int head_has(const char *head, size_t n, const char *header, const char *value)
{
	size_t hl = strlen(header), vl = strlen(value);
	for (const char *p = head, *end = head + n; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		if ((size_t)(nl - p) > hl && !strncasecmp(p, header, hl) && p[hl] == ':')
			for (const char *v = p + hl + 1; v + vl <= nl; v++)
				if (!strncasecmp(v, value, vl))
					return 1;
		p = nl + 1;
	}
	return 0;
}

/* One request on a blocking connection: its status, the body (malloc'd,
 * NUL-terminated) in *body; *close when the server closes the connection
 * after it.  Any failure ends the run (fail). */
static int request(int fd, const char *head, const char *body, size_t blen, char **out, int *closing)
{
	struct iovec iov[2] = { { (void *)head, strlen(head) }, { (void *)body, blen } };
	size_t want = iov[0].iov_len + iov[1].iov_len, done = 0;
	while (done < want) {
		ssize_t w = writev(fd, iov, 2);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fail("POST: %s", w < 0 ? strerror(errno) : "nothing written");
		done += (size_t)w;
		for (int i = 0; i < 2; i++) {
			size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			w -= (ssize_t)k;
		}
	}
	size_t cap = 16384, n = 0, h = 0;
	char *b = malloc(cap);
	if (!b)
		fail("out of memory");
	for (;;) {   /* the head */
		if (n + 1 >= cap && !(b = realloc(b, cap *= 2)))
			fail("out of memory");
		ssize_t r = read(fd, b + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			fail("reading an answer: %s", r < 0 ? strerror(errno) : "connection closed");
		n += (size_t)r;
		if ((h = head_end(b, n)))
			break;
	}
	if (h < 12 || memcmp(b, "HTTP/1.", 7))
		fail("not an HTTP answer: %.100s", b);
	int status = (int)num_at(b + 9, n - 9);
	*closing = head_has(b, h, "Connection", "close");
	int is_chunked = head_has(b, h, "Transfer-Encoding", "chunked");
	int64_t clen = -1;
	for (char *p = b; p < b + h; p = memchr(p, '\n', (size_t)(b + h - p)) + 1)
		if (!strncasecmp(p, "Content-Length:", 15)) {
			char *v = p + 15;
			while (*v == ' ')
				v++;
			clen = num_at(v, (size_t)(b + h - v));
		}
	memmove(b, b + h, n - h);
	n -= h;
	chunked c = { 0 };
	size_t got = 0;   /* decoded bytes at the front of b */
	for (;;) {
		if (is_chunked) {
			ssize_t m = chunked_feed(&c, b + got, n - got);
			if (m < 0)
				fail("a bad chunked answer");
			n = got += (size_t)m;
			if (c.st == CH_END)
				break;
		} else if (clen >= 0 ? n >= (size_t)clen : 0) {
			n = (size_t)clen;
			break;
		} else if (clen < 0 && !*closing) {
			break;   /* no body */
		}
		if (n + 1 >= cap && !(b = realloc(b, cap *= 2)))
			fail("out of memory");
		ssize_t r = read(fd, b + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("reading an answer: %s", strerror(errno));
		if (r == 0) {
			if (clen < 0 && !is_chunked)
				break;   /* read to the close */
			fail("reading an answer: connection closed");
		}
		n += (size_t)r;
	}
	b[n] = 0;
	*out = b;
	return status;
}

/* ------------------------------------------------------------ producer */

typedef struct {
	long rate;                 /* events/s */
	double secs;
	int tick_ms;
	const char *tag;
	uint64_t total;            /* events to send */
	_Atomic uint64_t acked;    /* events acknowledged */
	_Atomic uint64_t last_pos; /* the position of the last acknowledged */
	_Atomic int done;          /* 1: finished; 2: failed (err says why) */
	uint64_t posts;
	int64_t t0, t_last;        /* mono µs: the start (set before the thread), the last answer */
	int64_t late_max;          /* µs: the latest a POST left after its tick */
	char err[512];
} producer;

static void sleep_until(int64_t mono)
{
	struct timespec ts = { .tv_sec = mono / 1000000, .tv_nsec = (mono % 1000000) * 1000 };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Events [from, to) as NDJSON, each with a unique id and the time it
 * leaves in its data. */
static size_t batch_body(producer *pr, char **buf, size_t *cap, uint64_t from, uint64_t to)
{
	size_t need = (size_t)(to - from) * (strlen(pr->tag) + 96), n = 0;
	if (need > *cap && !(*buf = realloc(*buf, *cap = need)))
		fail("out of memory");
	long long t = (long long)real_us();
	for (uint64_t i = from; i < to; i++)
		n += (size_t)snprintf(*buf + n, *cap - n,
				      "{\"id\":\"%s-%llu\",\"type\":\"sse_bench\",\"data\":{\"t_us\":%lld}}\n",
				      pr->tag, (unsigned long long)i, t);
	return n;
}

static void *produce(void *arg)
{
	producer *pr = arg;
	int fd = dial(), close_after;
	char *body = NULL, *ans = NULL, head[256];
	size_t cap = 0;
	int64_t tick = pr->tick_ms * 1000LL;
	uint64_t sent = 0, k = 0;
	struct timeval tmo = { .tv_sec = 60 };   /* a server that hangs ends the run */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo);
	while (sent < pr->total) {
		int64_t at = pr->t0 + (int64_t)++k * tick, now = mono_us();
		if (now < at)
			sleep_until(at);
		else {   /* late: what is due by now goes in this one */
			k = (uint64_t)((now - pr->t0) / tick);
			if (now - at > pr->late_max)
				pr->late_max = now - at;
		}
		double due_f = (double)pr->rate * (double)(k * (uint64_t)tick) / 1e6;
		uint64_t due = due_f < (double)pr->total ? (uint64_t)due_f : pr->total;
		if (due <= sent)
			continue;
		size_t n = batch_body(pr, &body, &cap, sent, due);
		snprintf(head, sizeof head, "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Content-Type: application/x-ndjson\r\nContent-Length: %zu\r\n\r\n", n);
		int status = request(fd, head, body, n, &ans, &close_after);
		int64_t appended = num_after(ans, strlen(ans), "\"appended\":"),
			last = num_after(ans, strlen(ans), "\"last_pos\":");
		if (status != 200 || appended != (int64_t)(due - sent) || last < 0) {
			snprintf(pr->err, sizeof pr->err, "POST /events: %d %.300s", status, ans);
			free(ans);
			atomic_store(&pr->done, 2);
			return NULL;
		}
		free(ans);
		pr->posts++;
		pr->t_last = mono_us();
		atomic_store(&pr->last_pos, (uint64_t)last);
		atomic_store(&pr->acked, atomic_load(&pr->acked) + (uint64_t)appended);
		sent = due;
		if (close_after) {
			close(fd);
			fd = dial();
		}
	}
	free(body);
	close(fd);
	atomic_store(&pr->done, 1);
	return NULL;
}

/* --------------------------------------------------------- subscribers */

enum { SUB_HEAD, SUB_BODY, SUB_CLOSED };

/* A thread reading its share of the subscriptions (one epoll set), with
 * its own latency histogram: the subscriptions' fields are its own until it
 * is joined; the main thread sees only what they publish (pub_*). */
typedef struct {
	pthread_t th;
	int ep;
	uint32_t *hist;            /* latencies, HIST_US buckets */
	uint64_t lat_n, lat_max_us;
} reader;

typedef struct {
	reader *r;
	int fd, phase, is_chunked;
	chunked ch;
	char *buf;
	size_t len;
	/* the message being read */
	int64_t id, pos, t_us;
	int has_data;
	/* what arrived */
	uint64_t count, first, last, gaps, dups, bad;
	int64_t t_last;            /* mono µs when last came */
	int64_t complete;          /* mono µs when it had the last position */
	/* for the main thread */
	_Atomic int pub_subscribed, pub_closed;
	_Atomic uint64_t pub_last; /* last, or from_pos - 1 before the first */
	_Atomic uint64_t pub_bytes;/* the SSE text read up to it */
	_Atomic int64_t pub_complete;
} sub;

static uint64_t from_pos;          /* the first position of the run */
static _Atomic uint64_t final_pos; /* the last position, once the producer is done */
static _Atomic int stop_readers;
static sub *subs;
static int nsubs = 100;
static uint32_t *hist;             /* every reader's latencies, once joined */
static uint64_t lat_n, lat_max_us;

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define STORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

/* Has u the last position?  Then it is complete from when last came. */
static void sub_check_complete(sub *u)
{
	uint64_t fin = LOAD(final_pos);
	if (fin && !u->complete && u->count && u->last >= fin) {
		u->complete = u->t_last;
		STORE(u->pub_complete, u->complete);
	}
}

static void message_end(sub *u, int64_t now_real, int64_t now_mono)
{
	if (!u->has_data)
		return;   /* only comments or fields without data: no message */
	u->has_data = 0;
	if (u->id < 0 || u->pos != u->id || u->t_us < 0) {
		u->bad++;
		u->id = -1;
		return;
	}
	uint64_t id = (uint64_t)u->id;
	u->id = -1;
	if (!u->count) {
		u->first = id;
		if (id > from_pos)
			u->gaps += id - from_pos;
	} else if (id > u->last + 1) {
		u->gaps += id - u->last - 1;
	} else if (id <= u->last) {
		u->dups++;   /* again, or out of order */
	}
	u->count++;
	if (id > u->last) {
		u->last = id;
		u->t_last = now_mono;
	}
	reader *r = u->r;
	int64_t lat = now_real - u->t_us;
	if (lat < 0)
		lat = 0;
	if ((uint64_t)lat > r->lat_max_us)
		r->lat_max_us = (uint64_t)lat;
	uint64_t b = (uint64_t)lat / HIST_US;
	r->hist[b < HIST_N ? b : HIST_N - 1]++;
	r->lat_n++;
}

/* One SSE line (no newline): a field, a comment, or the blank line that
 * ends a message. */
static void sse_line(sub *u, const char *p, size_t n, int64_t now_real, int64_t now_mono)
{
	if (n && p[n - 1] == '\r')
		n--;
	if (!n) {
		message_end(u, now_real, now_mono);
		return;
	}
	if (p[0] == ':')
		return;   /* a comment: ": subscribed", ": hb" */
	if (n > 3 && !memcmp(p, "id:", 3)) {
		size_t v = p[3] == ' ' ? 4 : 3;
		u->id = num_at(p + v, n - v);
	} else if (n > 5 && !memcmp(p, "data:", 5)) {
		size_t v = p[5] == ' ' ? 6 : 5;
		u->has_data = 1;
		/* the line engram read prints: {"pos":N,...,"data":{"t_us":T},...} */
		u->pos = n - v > 7 && !memcmp(p + v, "{\"pos\":", 7) ? num_at(p + v + 7, n - v - 7) : -1;
		u->t_us = num_after(p + v, n - v, "\"t_us\":");
	}
}

static void sub_close(sub *u)
{
	epoll_ctl(u->r->ep, EPOLL_CTL_DEL, u->fd, NULL);
	STORE(u->pub_closed, 1);
	close(u->fd);
	u->phase = SUB_CLOSED;
}

/* The subscription's answer head: 200 and an event stream, or it is
 * closed (and counted bad). */
static int sub_head(sub *u)
{
	size_t h = head_end(u->buf, u->len);
	if (!h) {
		if (u->len == SUB_BUF)
			goto bad;
		return 0;
	}
	if (u->len < 12 || num_at(u->buf + 9, 3) != 200 ||
	    !head_has(u->buf, h, "Content-Type", "text/event-stream")) {
		fprintf(stderr, "sse_load: /subscribe answered %.*s\n", (int)h, u->buf);
		goto bad;
	}
	u->is_chunked = head_has(u->buf, h, "Transfer-Encoding", "chunked");
	/* from= is explicit: whatever is appended from now on comes to it */
	STORE(u->pub_subscribed, 1);
	memmove(u->buf, u->buf + h, u->len - h);
	u->len -= h;
	u->phase = SUB_BODY;
	return 1;
bad:
	u->bad++;
	sub_close(u);
	return 0;
}

static void sub_read(sub *u)
{
	size_t start = u->len;
	ssize_t r = read(u->fd, u->buf + u->len, SUB_BUF - u->len);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		sub_close(u);   /* the server ended the stream: reported by the counts */
		return;
	}
	/* one clock reading for what one read brought: it arrived at once */
	int64_t now_real = real_us(), now_mono = mono_us();
	u->len += (size_t)r;
	if (u->phase == SUB_HEAD) {
		if (!sub_head(u))
			return;
		start = 0;
	}
	if (u->is_chunked) {
		ssize_t m = chunked_feed(&u->ch, u->buf + start, u->len - start);
		if (m < 0) {
			u->bad++;
			sub_close(u);
			return;
		}
		u->len = start + (size_t)m;
	}
	char *p = u->buf, *end = u->buf + u->len, *nl;
	while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
		sse_line(u, p, (size_t)(nl - p), now_real, now_mono);
		p = nl + 1;
	}
	if (u->count) {
		STORE(u->pub_bytes, LOAD(u->pub_bytes) + (uint64_t)(p - u->buf));
		STORE(u->pub_last, u->last);
		sub_check_complete(u);
	}
	u->len = (size_t)(end - p);
	if (u->len == SUB_BUF) {   /* a line longer than the buffer: not this server's */
		u->bad++;
		sub_close(u);
		return;
	}
	memmove(u->buf, p, u->len);
}

static void sub_open(sub *u, reader *r)
{
	char req[256];
	u->r = r;
	u->fd = dial();
	u->id = -1;
	STORE(u->pub_last, from_pos - 1);
	if (!(u->buf = malloc(SUB_BUF)))
		fail("out of memory");
	snprintf(req, sizeof req, "GET /subscribe?from=%llu HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		 "Accept: text/event-stream\r\n\r\n", (unsigned long long)from_pos);
	write_all(u->fd, req, strlen(req));
	fcntl(u->fd, F_SETFL, fcntl(u->fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = u };
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, u->fd, &ev))
		fail("epoll_ctl: %s", strerror(errno));
}

/* A reader's loop until told to stop.  Its subscriptions are those
 * registered in its epoll set (round robin over the readers). */
static void *read_subs(void *arg)
{
	reader *r = arg;
	struct epoll_event evs[256];
	int known = 0;
	while (!atomic_load(&stop_readers)) {
		int n = epoll_wait(r->ep, evs, 256, 20);
		for (int i = 0; i < n; i++)
			sub_read(evs[i].data.ptr);
		if (!known && LOAD(final_pos)) {
			/* those that had the last position before it was known */
			known = 1;
			for (int i = 0; i < nsubs; i++)
				if (subs[i].r == r)
					sub_check_complete(&subs[i]);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------- server */

/* The server's memory: VmRSS counts a file's pages once per mapping, and
 * every subscription maps the store's files again, so RssFile grows with
 * the subscribers times the log's size though the pages are shared; RssAnon
 * (heap, stacks) and Pss (each page divided among its mappings) say what
 * the server itself holds. */
typedef struct {
	long rss_kb, hwm_kb, anon_kb, file_kb, pss_kb, threads;
	double cpu_s;
} procstat;

static procstat server_stat(int pid)
{
	procstat s = { -1, -1, -1, -1, -1, -1, -1 };
	char path[64], line[256];
	if (!pid)
		return s;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return s;
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "VmRSS: %ld", &s.rss_kb);
		sscanf(line, "VmHWM: %ld", &s.hwm_kb);
		sscanf(line, "RssAnon: %ld", &s.anon_kb);
		sscanf(line, "RssFile: %ld", &s.file_kb);
		sscanf(line, "Threads: %ld", &s.threads);
	}
	fclose(f);
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	if ((f = fopen(path, "r"))) {
		while (fgets(line, sizeof line, f))
			sscanf(line, "Pss: %ld", &s.pss_kb);
		fclose(f);
	}
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	unsigned long ut, st;
	if ((f = fopen(path, "r"))) {
		/* after "(comm)": state and 10 more fields, then utime and stime */
		if (fgets(line, sizeof line, f) && strrchr(line, ')') &&
		    sscanf(strrchr(line, ')') + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			   &ut, &st) == 2)
			s.cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		fclose(f);
	}
	return s;
}

/* The store's head position, from GET /head. */
static uint64_t head_pos(void)
{
	int fd = dial(), cl;
	char *ans;
	int status = request(fd, "GET /head HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "", 0, &ans, &cl);
	int64_t pos = num_after(ans, strlen(ans), "\"pos\":");
	if (status != 200 || pos < 0)
		fail("GET /head: %d %.200s", status, ans);
	free(ans);
	close(fd);
	return (uint64_t)pos;
}

static double pct_ms(double q)
{
	if (!lat_n)
		return -1;
	uint64_t want = (uint64_t)(q * (double)lat_n + 0.999999), seen = 0;
	for (size_t b = 0; b < HIST_N; b++)
		if ((seen += hist[b]) >= want)
			return ((double)b * HIST_US + HIST_US / 2.0) / 1000.0;
	return (double)lat_max_us / 1000.0;
}

static void usage(void)
{
	fprintf(stderr, "usage: sse_load --port PORT [--subs S] [--rate R] [--secs D] [--pid PID]\n"
		"                [--tag TAG] [--tick-ms T] [--wait W] [--readers N]\n");
	exit(2);
}

/* What the main thread sees of the subscribers while the stream runs:
 * the slowest one's lag behind the acknowledged head (its maximum, and in
 * each second), and the bytes that reached this client but it had not read
 * yet (FIONREAD): a lag that sits there is the client's, not the server's.
 * The server's own: a subscriber's lag less its unread bytes counted as
 * events of the size it has read so far. */
typedef struct {
	uint64_t max_behind, max_behind_server, *behind_s;
	size_t nsec;
	long unread_max, unread_total_max;
	int64_t t_end;
} watch;

/* One sample: 1 when the run is over (every subscriber has the last
 * position, none is left open, or the wait is over). */
static int watch_sample(watch *w, producer *pr, int64_t now, int64_t deadline)
{
	uint64_t head = LOAD(pr->last_pos), least = UINT64_MAX, fin = LOAD(final_pos);
	int open = 0, complete = 0, q;
	long unread = 0;
	for (int i = 0; i < nsubs; i++) {
		sub *u = &subs[i];
		complete += LOAD(u->pub_complete) != 0;
		if (LOAD(u->pub_closed))
			continue;
		open++;
		uint64_t at = LOAD(u->pub_last), bytes = LOAD(u->pub_bytes);
		least = at < least ? at : least;
		if (ioctl(u->fd, FIONREAD, &q))
			q = 0;
		unread += q;
		w->unread_max = q > w->unread_max ? q : w->unread_max;
		if (at >= from_pos && head > at && bytes) {
			uint64_t in_client = (uint64_t)q * (at - from_pos + 1) / bytes,
				 lag = head - at > in_client ? head - at - in_client : 0;
			w->max_behind_server = lag > w->max_behind_server ? lag : w->max_behind_server;
		}
	}
	w->unread_total_max = unread > w->unread_total_max ? unread : w->unread_total_max;
	uint64_t behind = open && head > least ? head - least : 0;
	size_t sec = now > pr->t0 ? (size_t)((now - pr->t0) / 1000000) : 0;
	sec = sec < w->nsec ? sec : w->nsec - 1;
	w->behind_s[sec] = behind > w->behind_s[sec] ? behind : w->behind_s[sec];
	w->max_behind = behind > w->max_behind ? behind : w->max_behind;
	return fin && (complete == nsubs || !open || now > deadline);
}

/* Run the producer and watch the subscribers until the run is over. */
static void run_stream(producer *pr, watch *w, double wait_s)
{
	pthread_t th;
	w->nsec = (size_t)pr->secs + 2;
	if (!(w->behind_s = calloc(w->nsec, sizeof *w->behind_s)))
		fail("out of memory");
	pr->t0 = mono_us();   /* the producer's first tick is one after it */
	if (pthread_create(&th, NULL, produce, pr))
		fail("pthread_create failed");
	int64_t deadline = 0;
	for (;;) {
		sleep_until(mono_us() + 20000);
		int64_t now = mono_us();
		int done = atomic_load(&pr->done);
		if (done == 2)
			break;
		if (done == 1 && !LOAD(final_pos)) {
			atomic_store(&final_pos, atomic_load(&pr->last_pos));
			deadline = now + (int64_t)(wait_s * 1e6);
		}
		if (watch_sample(w, pr, now, deadline))
			break;
	}
	w->t_end = mono_us();
	pthread_join(th, NULL);
}

/* Open the subscriptions, spread over nreaders threads, and wait until
 * every answer has begun. */
static reader *open_subs(int nreaders)
{
	reader *rd = calloc((size_t)nreaders, sizeof *rd);
	if (!rd || !(subs = calloc((size_t)nsubs, sizeof *subs)))
		fail("out of memory");
	for (int k = 0; k < nreaders; k++)
		if ((rd[k].ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    !(rd[k].hist = calloc(HIST_N, sizeof *rd[k].hist)))
			fail("epoll_create1 or out of memory");
	for (int i = 0; i < nsubs; i++)
		sub_open(&subs[i], &rd[i % nreaders]);
	for (int k = 0; k < nreaders; k++)
		if (pthread_create(&rd[k].th, NULL, read_subs, &rd[k]))
			fail("pthread_create failed");
	int64_t until = mono_us() + 10 * 1000000LL;
	for (int ready = 0; ready < nsubs;) {
		if (mono_us() > until)
			fail("%d of %d subscriptions open after 10 s", ready, nsubs);
		sleep_until(mono_us() + 10000);
		ready = 0;
		for (int i = 0; i < nsubs; i++) {
			if (LOAD(subs[i].pub_closed))
				fail("subscription %d closed before it began", i);
			ready += LOAD(subs[i].pub_subscribed);
		}
	}
	return rd;
}

/* Stop the readers and add up their latencies. */
static void close_readers(reader *rd, int nreaders)
{
	atomic_store(&stop_readers, 1);
	if (!(hist = calloc(HIST_N, sizeof *hist)))
		fail("out of memory");
	for (int k = 0; k < nreaders; k++) {
		pthread_join(rd[k].th, NULL);
		for (size_t b = 0; b < HIST_N; b++)
			hist[b] += rd[k].hist[b];
		lat_n += rd[k].lat_n;
		lat_max_us = rd[k].lat_max_us > lat_max_us ? rd[k].lat_max_us : lat_max_us;
		free(rd[k].hist);
		close(rd[k].ep);
	}
	free(rd);
}

static double cpu_s(const struct rusage *a, const struct rusage *b)
{
	return (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec + b->ru_stime.tv_sec -
			a->ru_stime.tv_sec) +
	       (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec + b->ru_stime.tv_usec -
			a->ru_stime.tv_usec) / 1e6;
}

/* The JSON line.  Every subscriber complete and exact: it had every event
 * of the run once, in order, and nothing else. */
static void report(producer *pr, watch *w, int pid, procstat *before, procstat *subscribed,
		   procstat *end, double client_cpu)
{
	uint64_t acked = atomic_load(&pr->acked), fin = LOAD(final_pos), cmin = UINT64_MAX,
		 cmax = 0, gaps = 0, dups = 0, bad = 0;
	int complete = 0, exact = 0, closed = 0;
	int64_t drain = 0;
	for (int i = 0; i < nsubs; i++) {
		sub *u = &subs[i];
		cmin = u->count < cmin ? u->count : cmin;
		cmax = u->count > cmax ? u->count : cmax;
		gaps += u->gaps, dups += u->dups, bad += u->bad;
		closed += u->phase == SUB_CLOSED;
		if (u->complete) {
			complete++;
			drain = u->complete - pr->t_last > drain ? u->complete - pr->t_last : drain;
		}
		exact += fin && u->count == fin - from_pos + 1 && !u->gaps && !u->dups && !u->bad &&
			 u->first == from_pos && u->last == fin;
	}
	double run_s = pr->t_last > pr->t0 ? (double)(pr->t_last - pr->t0) / 1e6 : 0;
	printf("{\"subscribers\":%d,\"rate_target\":%ld,\"secs\":%g,\"from\":%llu,\"last_pos\":%llu,"
	       "\"events_sent\":%llu,\"events_acked\":%llu,\"posts\":%llu,\"rate_achieved\":%.0f,"
	       "\"post_late_max_ms\":%.1f,\"received_min\":%llu,\"received_max\":%llu,"
	       "\"complete\":%d,\"exact\":%d,\"all_complete\":%s,\"gaps\":%llu,\"dups\":%llu,"
	       "\"bad\":%llu,\"closed\":%d,\"max_behind\":%llu,\"max_behind_server\":%llu,\"unread_max_kb\":%ld,"
	       "\"unread_total_max_kb\":%ld,\"drain_ms\":%.1f,",
	       nsubs, pr->rate, pr->secs, (unsigned long long)from_pos, (unsigned long long)fin,
	       (unsigned long long)pr->total, (unsigned long long)acked,
	       (unsigned long long)pr->posts, run_s > 0 ? (double)acked / run_s : 0,
	       (double)pr->late_max / 1000, (unsigned long long)cmin, (unsigned long long)cmax,
	       complete, exact, exact == nsubs ? "true" : "false", (unsigned long long)gaps,
	       (unsigned long long)dups, (unsigned long long)bad, closed,
	       (unsigned long long)w->max_behind,
	       (unsigned long long)w->max_behind_server, w->unread_max / 1024, w->unread_total_max / 1024,
	       (double)drain / 1000);
	printf("\"lat_p50_ms\":%.2f,\"lat_p99_ms\":%.2f,\"lat_max_ms\":%.2f,\"received\":%llu,"
	       "\"server_pid\":%d,\"rss_start_kb\":%ld,\"rss_subscribed_kb\":%ld,\"rss_end_kb\":%ld,"
	       "\"hwm_kb\":%ld,\"anon_subscribed_kb\":%ld,\"anon_end_kb\":%ld,\"file_end_kb\":%ld,"
	       "\"pss_subscribed_kb\":%ld,\"pss_end_kb\":%ld,\"threads_subscribed\":%ld,"
	       "\"server_cpu_s\":%.2f,\"client_cpu_s\":%.2f,\"wall_s\":%.2f,\"error\":\"%s\","
	       "\"behind_by_s\":[",
	       pct_ms(0.50), pct_ms(0.99), (double)lat_max_us / 1000, (unsigned long long)lat_n, pid,
	       before->rss_kb, subscribed->rss_kb, end->rss_kb, end->hwm_kb, subscribed->anon_kb,
	       end->anon_kb, end->file_kb, subscribed->pss_kb, end->pss_kb, subscribed->threads,
	       end->cpu_s >= 0 ? end->cpu_s - subscribed->cpu_s : -1, client_cpu,
	       (double)(w->t_end - pr->t0) / 1e6,
	       atomic_load(&pr->done) == 2 ? "producer failed" : "");
	for (size_t i = 0; i < w->nsec; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)w->behind_s[i]);
	printf("]}\n");
}

int main(int argc, char **argv)
{
	int pid = 0, nreaders = 2;
	double wait_s = 30;
	producer pr = { .rate = 20000, .secs = 10, .tick_ms = 10, .tag = "sse" };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--subs"))
			nsubs = atoi(v);
		else if (!strcmp(a, "--rate"))
			pr.rate = atol(v);
		else if (!strcmp(a, "--secs"))
			pr.secs = atof(v);
		else if (!strcmp(a, "--pid"))
			pid = atoi(v);
		else if (!strcmp(a, "--tag"))
			pr.tag = v;
		else if (!strcmp(a, "--tick-ms"))
			pr.tick_ms = atoi(v);
		else if (!strcmp(a, "--wait"))
			wait_s = atof(v);
		else if (!strcmp(a, "--readers"))
			nreaders = atoi(v);
		else
			usage();
		i++;
	}
	if (port <= 0 || port > 65535 || nsubs < 1 || pr.rate < 1 || pr.secs <= 0 ||
	    pr.tick_ms < 1 || nreaders < 1)
		usage();
	nreaders = nreaders < nsubs ? nreaders : nsubs;
	pr.total = (uint64_t)((double)pr.rate * pr.secs + 0.5);
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)nsubs + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	procstat before = server_stat(pid);
	from_pos = head_pos() + 1;
	reader *rd = open_subs(nreaders);
	procstat subscribed = server_stat(pid);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	watch w = { 0 };
	run_stream(&pr, &w, wait_s);
	getrusage(RUSAGE_SELF, &ru1);
	procstat end = server_stat(pid);
	close_readers(rd, nreaders);
	report(&pr, &w, pid, &before, &subscribed, &end, cpu_s(&ru0, &ru1));
	if (atomic_load(&pr.done) == 2)
		fprintf(stderr, "sse_load: %s\n", pr.err);
	for (int i = 0; i < nsubs; i++) {
		if (subs[i].phase != SUB_CLOSED)
			close(subs[i].fd);
		free(subs[i].buf);
	}
	free(w.behind_s);
	free(subs);
	free(hist);
	return atomic_load(&pr.done) == 2;
}
