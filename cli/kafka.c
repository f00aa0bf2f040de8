/*
 * kafka.c — engram kafka export: the store's log handed to a Kafka topic,
 * on librdkafka (docs/KAFKA.md; issue 25).
 *
 * Each event is one message: key its stream (one stream's events stay in
 * one partition, in order), value the line `engram read` prints, headers
 * engram-pos, engram-id, engram-type, engram-time, engram-recorded,
 * engram-chain (the hash of the event's batch), engram-export (the export's
 * name) and, with --transactional-id, engram-txn.
 *
 * Two ways to be exactly once.  Plain: the idempotent, gapless producer
 * leaves each partition a prefix of what was sent to it, so a run skips
 * what the last message of ours in each partition says is there (the
 * "tails"), from a checkpoint that moves only over acknowledged positions.
 * Transactional: each batch of positions and a checkpoint record in the
 * companion topic T.engram-checkpoints commit in one Kafka transaction,
 * and a run starts after the last committed record.  In both, a fatal
 * producer error re-creates the producer and resumes, within the run.
 */
#include "kafka.h"
#include "json.h"
#include "os.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TYPES 64
#define SAVE_EVERY_US 200000    /* the checkpoint, at most this often */
#define STATUS_EVERY_US 2000000
#define TXN_EVENTS 50000        /* a transaction: at most this many events */
#define TXN_MS 500              /* ... or this long (docs/KAFKA.md: with
                                   10,000 and 100 ms, 2.4 times slower) */
#define MAX_STALLS 5            /* producers re-created in a row without progress */
#define RUN_AGAIN (-1)          /* run_once: the producer failed, go on anew */
#define CK_SUFFIX ".engram-checkpoints"

/* The messages in flight, in the order produced: the checkpoint may pass a
 * position once it and every message before it are acknowledged. */
typedef struct flight {
	uint64_t *pos;
	unsigned char *done;
	size_t cap, head, n;      /* a ring: n slots from head */
	uint64_t seq0;            /* the sequence number of the slot at head */
	uint64_t safe;            /* every position up to it is acknowledged */
	rd_kafka_resp_err_t err;  /* the first delivery that failed */
	uint64_t err_pos;
	int dead;                 /* the producer is being torn down: ignore */
} flight;

/* One export: its options, its producer of the moment, its progress. */
typedef struct xp {
	cli *c;
	eg_store *st;
	const kafka_x *x;
	const char *brokers, *topic, *name, *txn_id, *streams;
	char ck[300];            /* the consumer checkpoint, kafka-export.NAME */
	char cktopic[300];       /* the companion topic, T.engram-checkpoints */
	eg_filter f;             /* types and the end (to); from per run */
	int follow, from_given;
	rd_kafka_t *rk;
	flight fl;
	int fatal;               /* the producer's fatal error was raised */
	char why[512];           /* why the producer is being replaced */
	int32_t np;
	uint64_t *tail;
	uint64_t done;           /* the checkpoint as saved */
	uint64_t sent, present, restarts;
	kafka_status ks;
	long long saved_at, status_at;
	char *lmem;              /* the value: the event's line */
	size_t llen;
	FILE *line;
	out *o;
	unsigned char chain[32]; /* the last chain hash and its hex */
	char chain_hex[65];
	/* --transactional-id */
	int in_txn;
	int txn_ready;           /* this producer's start is settled (txn_start) */
	uint64_t committed;      /* the last committed checkpoint record's pos */
	uint64_t txn;            /* the open (or last) transaction's number */
	uint64_t txns;           /* committed by this run */
	uint64_t txn_events;
	long long txn_began;
	uint64_t txn_max, txn_us;  /* --txn-events, --txn-ms */
} xp;

/* ------------------------------------------------------------ flight */

static int flight_push(flight *f, uint64_t pos, uint64_t *seq)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4096;
		uint64_t *p = malloc(cap * sizeof *p);
		unsigned char *d = malloc(cap);
		if (!p || !d) {
			free(p);
			free(d);
			return -1;
		}
		for (size_t i = 0; i < f->n; i++) {
			p[i] = f->pos[(f->head + i) % f->cap];
			d[i] = f->done[(f->head + i) % f->cap];
		}
		free(f->pos);
		free(f->done);
		f->pos = p;
		f->done = d;
		f->cap = cap;
		f->head = 0;
	}
	size_t i = (f->head + f->n) % f->cap;
	f->pos[i] = pos;
	f->done[i] = 0;
	*seq = f->seq0 + f->n++;
	return 0;
}

/* A new producer starts with nothing in flight; safe stays. */
static void flight_reset(flight *f)
{
	f->seq0 += f->n;
	f->head = f->n = 0;
	f->err = 0;
	f->dead = 0;
}

/* Delivery reports (on rd_kafka_poll's thread: this one). */
static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	flight *f = &((xp *)opaque)->fl;
	uint64_t seq = (uint64_t)(uintptr_t)m->_private;
	if (f->dead || !seq || seq - 1 < f->seq0 || seq - 1 >= f->seq0 + f->n)
		return;   /* a checkpoint record (seq 0), or an old producer's */
	size_t i = (f->head + (size_t)(seq - 1 - f->seq0)) % f->cap;
	if (m->err) {
		if (!f->err) {
			f->err = m->err;
			f->err_pos = f->pos[i];
		}
		return;
	}
	f->done[i] = 1;
	while (f->n && f->done[f->head]) {
		f->safe = f->pos[f->head];
		f->head = (f->head + 1) % f->cap;
		f->n--;
		f->seq0++;
	}
}

/* ---------------------------------------------------------- clients */

/* The idempotent producer's fatal error (a sequence gap, a fenced epoch):
 * the producer is unusable; the loop replaces it.  Other errors are
 * librdkafka's news (a broker down): it retries by itself. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	xp *e = opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char buf[400];
		rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
		e->fatal = 1;
		snprintf(e->why, sizeof e->why, "fatal producer error %s: %s",
			 rd_kafka_err2name(orig), buf);
		return;
	}
	cli_warn("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

/* A producer for the export: idempotent, the Java clients' partitioner (a
 * key goes where other clients put it), gapless (a delivery failure that
 * would leave a gap is fatal instead) or transactional, then the -X pairs.
 * NULL after printing why. */
static rd_kafka_t *producer(xp *e)
{
	const char *base[] = { "enable.idempotence", "true", "partitioner", "murmur2_random",
			       e->txn_id ? "transactional.id" : "enable.gapless.guarantee",
			       e->txn_id ? e->txn_id : "true", NULL };
	rd_kafka_conf_t *conf = kafka_conf(e->brokers, base, e->x);
	if (!conf)
		return NULL;
	rd_kafka_conf_set_dr_msg_cb(conf, delivered);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_opaque(conf, e);
	return kafka_client(RD_KAFKA_PRODUCER, conf);
}

/* A consumer that only assigns (never joins a group, never commits);
 * read_committed when asked.  NULL after printing why. */
static rd_kafka_t *reader(xp *e, int committed)
{
	const char *base[] = { "enable.auto.commit", "false",
			       "group.id", "engram-kafka-export-tails",
			       "isolation.level", committed ? "read_committed" : "read_uncommitted",
			       "enable.partition.eof", "true", "fetch.wait.max.ms", "10", NULL };
	rd_kafka_conf_t *conf = kafka_conf(e->brokers, base, e->x);
	return conf ? kafka_client(RD_KAFKA_CONSUMER, conf) : NULL;
}

/* ------------------------------------------------------- reading back */

/* A header's value as a number; 0 when absent or not one. */
static uint64_t header_u64(rd_kafka_headers_t *hs, const char *name)
{
	const void *v;
	size_t n;
	char buf[24];
	uint64_t x;
	if (rd_kafka_header_get_last(hs, name, &v, &n) || n >= sizeof buf)
		return 0;
	memcpy(buf, v, n);
	buf[n] = 0;
	return cli_u64(buf, &x) ? 0 : x;
}

/* Does a header hold exactly s? */
static int header_is(rd_kafka_headers_t *hs, const char *name, const char *s)
{
	const void *v;
	size_t n;
	return !rd_kafka_header_get_last(hs, name, &v, &n) && n == strlen(s) && !memcmp(v, s, n);
}

/* What walk_back looks for: match() takes the message of partition p (in
 * offset order) and returns 1 when it is one (keeping what it needs). */
typedef int (*matcher)(xp *e, int32_t p, const rd_kafka_message_t *m, void *ctx);

/* For each of the np partitions of topic, the last message match() takes,
 * read back from the end in windows that grow 8-fold (the last 16
 * messages, 128, ...) until one is found or a window holds the whole
 * partition: another producer's messages after ours cost a few windows,
 * not a whole scan.  Every partition at once (librdkafka resolves the
 * tail offsets in parallel; a partition's end is its EOF event), so the
 * start of a run costs a few round trips whatever the partition count.
 * found[p] is set.  0, or -1 after printing why. */
static int walk_back(xp *e, rd_kafka_t *c, const char *topic, int32_t np, matcher match,
		     void *ctx, unsigned char *found)
{
	int64_t *seen = calloc((size_t)np, sizeof *seen);
	/* at_start[p]: the window began at the partition's first offset (1),
	 * after it (0), or unknown (2: no watermarks cached yet) */
	unsigned char *looking = calloc((size_t)np * 3, 1), *reached = looking + np,
		      *at_start = looking + 2 * (size_t)np;
	int rc = seen && looking ? 0 : -1;
	if (rc)
		cli_error("out of memory");
	for (int32_t p = 0; p < np && !rc; p++)
		found[p] = 0, looking[p] = 1;
	/* the leaders first: assigned without them, librdkafka resolves the
	 * tail offsets only on its next retry, a second later */
	if (!rc && kafka_partitions(c, topic, 0) <= 0)
		rc = -1;
	for (int64_t w = 16; !rc; w *= 8) {
		rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
		int left = 0;
		for (int32_t p = 0; p < np; p++) {
			if (!looking[p])
				continue;
			seen[p] = reached[p] = 0;
			/* from w before the end, or the first offset retention
			 * kept (as the last fetch reported them) when that is later */
			int64_t lo, hi, off = RD_KAFKA_OFFSET_TAIL(w);
			at_start[p] = 2;
			if (!rd_kafka_get_watermark_offsets(c, topic, p, &lo, &hi) && lo >= 0 &&
			    hi >= lo) {
				off = hi - w > lo ? hi - w : lo;
				at_start[p] = off == lo;
			}
			rd_kafka_topic_partition_list_add(l, topic, p)->offset = off;
			left++;
		}
		if (left)
			rd_kafka_assign(c, l);
		rd_kafka_topic_partition_list_destroy(l);
		if (!left)
			break;
		long long deadline = kafka_now_us() + 30000000;
		rd_kafka_resp_err_t last = 0;
		while (left && kafka_now_us() < deadline) {
			rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
			if (!m)
				continue;
			int32_t p = m->partition;
			int ours = p >= 0 && p < np && looking[p] && !reached[p] &&
				   m->rkt && !strcmp(rd_kafka_topic_name(m->rkt), topic);
			if (ours && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				reached[p] = 1;
				left--;
			} else if (m->err) {
				last = m->err;
			} else if (ours) {
				seen[p]++;
				if (match(e, p, m, ctx))
					found[p] = 1;
			}
			rd_kafka_message_destroy(m);
		}
		rd_kafka_assign(c, NULL);
		if (left) {
			cli_error("kafka: %s: %d partition(s) could not be read back to their end%s%s",
				  topic, left, last ? ": " : "", last ? rd_kafka_err2str(last) : "");
			rc = -1;
		}
		/* a window with fewer messages than asked for began at the start,
		 * unless offsets without a message (transaction markers, records
		 * compacted away or aborted) thinned it: the partition's first
		 * offset, as the brokers' fetches report it, says */
		for (int32_t p = 0; p < np && !rc; p++) {
			int64_t lo, hi;
			if (!looking[p])
				continue;
			if (found[p] || at_start[p] == 1)
				looking[p] = 0;
			else if (at_start[p] == 2 && seen[p] < w)
				looking[p] = rd_kafka_get_watermark_offsets(c, topic, p, &lo, &hi) == 0 &&
					     lo >= 0 && hi - w > lo;
		}
	}
	free(seen);
	free(looking);
	return rc;
}

/* The engram-pos of a message of this export (engram-export NAME). */
static int match_tail(xp *e, int32_t p, const rd_kafka_message_t *m, void *ctx)
{
	(void)ctx;
	rd_kafka_headers_t *hs;
	uint64_t pos;
	if (rd_kafka_message_headers(m, &hs) || !header_is(hs, "engram-export", e->name) ||
	    !(pos = header_u64(hs, "engram-pos")))
		return 0;
	e->tail[p] = pos;
	return 1;
}

/* The engram-pos of the last message of this export in each partition (0:
 * none) into e->tail: what an earlier run (killed, say) got there.  Each
 * partition holds a prefix of what was sent to it (the idempotent,
 * gapless producer), so an event at or before its partition's tail is in
 * the topic already.  Other producers' messages are passed over.  0, or
 * -1 after printing why. */
static int read_tails(xp *e)
{
	rd_kafka_t *c = reader(e, 0);
	unsigned char *found = malloc((size_t)e->np);
	int rc = c && found ? 0 : -1;
	memset(e->tail, 0, (size_t)e->np * sizeof *e->tail);
	if (!rc)
		rc = walk_back(e, c, e->topic, e->np, match_tail, NULL, found);
	if (c) {
		rd_kafka_consumer_close(c);
		rd_kafka_destroy(c);
	}
	free(found);
	return rc;
}

/* A checkpoint record of the companion topic. */
typedef struct ckrec {
	uint64_t pos, prev_pos, txn;
	unsigned char chain[32];
} ckrec;

static int unhex(const char *s, size_t n, unsigned char *bytes, size_t len)
{
	if (n != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char ch = s[2 * i + k];
			v = v * 16 + (unsigned)(ch >= '0' && ch <= '9' ? ch - '0'
						: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : 99);
		}
		if (v > 255)
			return -1;
		bytes[i] = (unsigned char)v;
	}
	return 0;
}

/* {"export":NAME,"pos":b,"prev_pos":a,"chain":HEX,"txn":k}: 0, or -1. */
static int parse_record(const char *s, size_t n, ckrec *r)
{
	json_span obj = { s, n, JSON_OBJECT }, v;
	uint64_t *nums[] = { &r->pos, &r->prev_pos, &r->txn };
	const char *names[] = { "pos", "prev_pos", "txn" };
	if (eg_json_validate(s, n, NULL) || eg_json_type_of(s[0]) != JSON_OBJECT)
		return -1;
	for (int i = 0; i < 3; i++) {
		char buf[24];
		if (!eg_json_member(&obj, names[i], strlen(names[i]), &v) || v.type != JSON_NUMBER ||
		    v.n >= sizeof buf)
			return -1;
		memcpy(buf, v.p, v.n);
		buf[v.n] = 0;
		if (cli_u64(buf, nums[i]))
			return -1;
	}
	if (!eg_json_member(&obj, "chain", 5, &v) || v.type != JSON_STRING ||
	    unhex(v.p + 1, v.n - 2, r->chain, 32))
		return -1;
	return 0;
}

/* A record keyed NAME, well formed: the candidate (the last one wins). */
static int match_record(xp *e, int32_t p, const rd_kafka_message_t *m, void *ctx)
{
	(void)p;
	ckrec r;
	if (m->key_len != strlen(e->name) || memcmp(m->key, e->name, m->key_len) ||
	    parse_record(m->payload, m->len, &r)) {
		if (m->key_len == strlen(e->name) && !memcmp(m->key, e->name, m->key_len))
			cli_warn("kafka: %s [0] offset %lld: not a checkpoint record, passed over",
				 e->cktopic, (long long)m->offset);
		return 0;
	}
	*(ckrec *)ctx = r;
	return 1;
}

/* The last checkpoint record of this export in the companion topic, read
 * with read_committed (a real broker hides aborted transactions' records):
 * 1 with *r, 0 when there is none, -1 after printing why. */
static int read_checkpoint(xp *e, ckrec *r)
{
	rd_kafka_t *c = reader(e, 1);
	if (!c)
		return -1;
	unsigned char found = 0;
	int32_t n = kafka_partitions(c, e->cktopic, 1);
	int rc = n < 0 ? -1 : n == 0 ? 0 : walk_back(e, c, e->cktopic, 1, match_record, r, &found);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return rc < 0 ? -1 : found;
}

/* The chain hash of the batch holding position pos. */
static int chain_of(eg_store *st, uint64_t pos, unsigned char hash[32])
{
	eg_filter f = { .from = pos, .to = pos };
	eg_iter *it;
	const eg_event *ev;
	int rc = eg_iter_new(st, &it, &f);
	if (rc)
		return rc;
	rc = eg_iter_next(it, &ev);
	if (rc == EG_OK)
		rc = eg_iter_chain(it, hash);
	eg_iter_free(it);
	return rc == EG_END ? EG_ENOTFOUND : rc;
}

static void hex(const unsigned char *b, size_t n, char *text)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		text[2 * i] = d[b[i] >> 4];
		text[2 * i + 1] = d[b[i] & 15];
	}
	text[2 * n] = 0;
}

/* ------------------------------------------------------------ export */

/* ENGRAM_KAFKA_TRACE=1: the phases of each run on stderr, with the
 * milliseconds since the command started (where a slow start goes). */
static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
	static long long t0;
	static int on = -1;
	if (on < 0)
		on = getenv("ENGRAM_KAFKA_TRACE") != NULL, t0 = kafka_now_us();
	if (!on)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "engram: kafka trace %7.1f ms: ", (kafka_now_us() - t0) / 1000.0);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int64_t wall_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Save the checkpoint (the consumer kafka-export.NAME) at pos. */
static int save(xp *e, uint64_t pos)
{
	if (pos <= e->done)
		return 0;
	int rc = eg_consumer_set(e->st, e->ck, pos);
	if (rc)
		return cli_fail(e->st, rc);
	e->done = pos;
	e->saved_at = kafka_now_us();
	return 0;
}

/* Note why the producer goes, purge what it holds, destroy it. */
static void drop_producer(xp *e)
{
	if (!e->rk)
		return;
	/* the positions after the acknowledged prefix are counted again by
	 * the next producer: present (its tails) or exported */
	if (!e->txn_id)
		e->sent -= e->fl.n;
	e->fl.dead = 1;
	rd_kafka_purge(e->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(e->rk, 0);
	rd_kafka_destroy(e->rk);
	e->rk = NULL;
	e->in_txn = 0;
}

/* A transactional call's error: 0 (none), or RUN_AGAIN after noting it
 * (an abortable error aborts the transaction first). */
static int txn_failed(xp *e, rd_kafka_error_t *err, const char *what)
{
	if (!err)
		return 0;
	snprintf(e->why, sizeof e->why, "%s: %s", what, rd_kafka_error_string(err));
	if (rd_kafka_error_txn_requires_abort(err)) {
		rd_kafka_error_t *a = rd_kafka_abort_transaction(e->rk, 30000);
		if (a)
			rd_kafka_error_destroy(a);
	}
	rd_kafka_error_destroy(err);
	return RUN_AGAIN;
}

/* Begin a transaction, numbered above the last and above the wall clock
 * in microseconds: a number no transaction of an earlier (killed) run
 * took, so that the messages of one transaction are known by it. */
static int txn_begin(xp *e)
{
	uint64_t now = (uint64_t)wall_us();
	e->txn = e->txn + 1 > now ? e->txn + 1 : now;
	e->txn_events = 0;
	e->txn_began = kafka_now_us();
	int rc = txn_failed(e, rd_kafka_begin_transaction(e->rk), "begin_transaction");
	e->in_txn = !rc;
	return rc;
}

/* Close the open transaction (or open one for the checkpoint alone) at
 * position b: the events are flushed first, so that a checkpoint record
 * is never in the topic before its events (what a reader without
 * read_committed, or the mock cluster, can rely on); then the record;
 * then the commit; then the local cache.  0, RUN_AGAIN or an exit code. */
static int txn_commit(xp *e, uint64_t b)
{
	if (b <= e->committed && !e->in_txn)
		return 0;
	int rc;
	if (!e->in_txn && (rc = txn_begin(e)))
		return rc;
	rd_kafka_resp_err_t ferr = rd_kafka_flush(e->rk, 60000);
	if (ferr || e->fl.err || e->fatal) {
		if (!e->fatal)
			snprintf(e->why, sizeof e->why, "a transaction's messages: %s",
				 rd_kafka_err2str(ferr ? ferr : e->fl.err));
		rd_kafka_error_t *a = e->fatal ? NULL : rd_kafka_abort_transaction(e->rk, 30000);
		if (a)
			rd_kafka_error_destroy(a);
		return RUN_AGAIN;
	}
	unsigned char h[32];
	char hx[65], rec[1024], txn[24];
	if ((rc = chain_of(e->st, b, h)))
		return cli_fail(e->st, rc);
	hex(h, 32, hx);
	char qn[6 * 256 + 3];
	qn[eg_json_quote(e->name, strlen(e->name), qn)] = 0;
	int n = snprintf(rec, sizeof rec,
			 "{\"export\":%s,\"pos\":%llu,\"prev_pos\":%llu,\"chain\":\"%s\",\"txn\":%llu}",
			 qn, (unsigned long long)b, (unsigned long long)e->committed, hx,
			 (unsigned long long)e->txn);
	snprintf(txn, sizeof txn, "%llu", (unsigned long long)e->txn);
	rd_kafka_headers_t *hs = rd_kafka_headers_new(2);
	rd_kafka_header_add(hs, "engram-export", -1, e->name, -1);
	rd_kafka_header_add(hs, "engram-txn", -1, txn, -1);
	rd_kafka_resp_err_t err = rd_kafka_producev(
		e->rk, RD_KAFKA_V_TOPIC(e->cktopic), RD_KAFKA_V_PARTITION(0),
		RD_KAFKA_V_KEY(e->name, strlen(e->name)), RD_KAFKA_V_VALUE(rec, (size_t)n),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hs),
		RD_KAFKA_V_OPAQUE(NULL), RD_KAFKA_V_END);
	if (err) {
		rd_kafka_headers_destroy(hs);
		snprintf(e->why, sizeof e->why, "the checkpoint record: %s", rd_kafka_err2str(err));
		rd_kafka_error_t *a = rd_kafka_abort_transaction(e->rk, 30000);
		if (a)
			rd_kafka_error_destroy(a);
		return RUN_AGAIN;
	}
	if ((rc = txn_failed(e, rd_kafka_commit_transaction(e->rk, 60000), "commit_transaction")))
		return rc;
	trace("transaction %llu committed at position %llu", (unsigned long long)e->txn,
	      (unsigned long long)b);
	e->in_txn = 0;
	e->committed = b;
	e->txns++;
	e->sent += e->txn_events;
	return save(e, b);
}

/* The event as a message: its line, its partition, its headers. */
static int produce(xp *e, eg_iter *it, const eg_event *ev, int32_t part)
{
	rewind(e->line);
	out_event(e->o, ev);
	if (out_flush(e->o) || fflush(e->line)) {
		cli_error("out of memory");
		return EXIT_ERR;
	}
	size_t n = (size_t)ftell(e->line);
	while (n && e->lmem[n - 1] == '\n')
		n--;
	unsigned char h[32];
	int rc = eg_iter_chain(it, h);
	if (rc)
		return cli_fail(e->st, rc);
	if (memcmp(h, e->chain, 32) || !e->chain_hex[0]) {
		memcpy(e->chain, h, 32);
		hex(h, 32, e->chain_hex);
	}
	uint64_t seq;
	if (flight_push(&e->fl, ev->pos, &seq)) {
		cli_error("out of memory");
		return EXIT_ERR;
	}
	char pos[24], t[EG_TIME_LEN + 1], rec[EG_TIME_LEN + 1], txn[24];
	snprintf(pos, sizeof pos, "%llu", (unsigned long long)ev->pos);
	eg_time_format(ev->time, t);
	eg_time_format(ev->recorded, rec);
	rd_kafka_headers_t *hs = rd_kafka_headers_new(8);
	rd_kafka_header_add(hs, "engram-pos", -1, pos, -1);
	rd_kafka_header_add(hs, "engram-id", -1, ev->id, (ssize_t)ev->id_len);
	rd_kafka_header_add(hs, "engram-type", -1, ev->type, (ssize_t)ev->type_len);
	rd_kafka_header_add(hs, "engram-time", -1, t, -1);
	rd_kafka_header_add(hs, "engram-recorded", -1, rec, -1);
	rd_kafka_header_add(hs, "engram-chain", -1, e->chain_hex, 64);
	rd_kafka_header_add(hs, "engram-export", -1, e->name, -1);
	if (e->txn_id) {
		snprintf(txn, sizeof txn, "%llu", (unsigned long long)e->txn);
		rd_kafka_header_add(hs, "engram-txn", -1, txn, -1);
	}
	rd_kafka_resp_err_t err;
	for (;;) {
		err = rd_kafka_producev(e->rk, RD_KAFKA_V_TOPIC(e->topic), RD_KAFKA_V_PARTITION(part),
					RD_KAFKA_V_KEY(ev->stream, ev->stream_len),
					RD_KAFKA_V_VALUE(e->lmem, n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_HEADERS(hs),
					RD_KAFKA_V_OPAQUE((void *)(uintptr_t)(seq + 1)), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || e->fatal)
			break;
		rd_kafka_poll(e->rk, 100);   /* the queue drains as deliveries come */
	}
	if (err) {
		rd_kafka_headers_destroy(hs);
		e->fl.n--;   /* not in flight after all */
		if (e->fatal || err == RD_KAFKA_RESP_ERR__FATAL || err == RD_KAFKA_RESP_ERR__STATE)
			return RUN_AGAIN;
		cli_error("kafka: cannot produce position %llu: %s", (unsigned long long)ev->pos,
			  rd_kafka_err2str(err));
		return EXIT_ERR;
	}
	if (e->txn_id)
		e->txn_events++;   /* exported once committed */
	else
		e->sent++;
	return 0;
}

/* The producer failed (why in e->why)? */
static int broken(xp *e)
{
	if (e->fatal)
		return 1;
	if (e->fl.err) {
		snprintf(e->why, sizeof e->why, "position %llu was not delivered: %s",
			 (unsigned long long)e->fl.err_pos, rd_kafka_err2str(e->fl.err));
		return 1;
	}
	return 0;
}

/* Now and then: deliveries, the checkpoint (plain mode), the status. */
static int tick(xp *e, int now)
{
	rd_kafka_poll(e->rk, 0);
	if (!e->txn_id && (now || kafka_now_us() - e->saved_at > SAVE_EVERY_US)) {
		int rc = save(e, e->fl.safe);
		if (rc)
			return rc;
	}
	if (kafka_now_us() - e->status_at > STATUS_EVERY_US) {
		e->ks.messages = e->sent;
		kafka_status_save(e->c, &e->ks);
		e->status_at = kafka_now_us();
	}
	return 0;
}

/* At start of a transactional run: the last committed checkpoint record
 * says where to go on (the local checkpoint is only a cache of it), if
 * its chain hash is the store's at that position.  0, RUN_AGAIN or an
 * exit code; *from set. */
static int txn_start(xp *e, uint64_t *from)
{
	rd_kafka_error_t *err = rd_kafka_init_transactions(e->rk, 30000);
	if (err) {
		snprintf(e->why, sizeof e->why, "init_transactions: %s", rd_kafka_error_string(err));
		rd_kafka_error_destroy(err);
		return RUN_AGAIN;
	}
	/* the producer learns the companion topic now, not at the first
	 * commit (where the metadata round trip cost a second on the mock) */
	if (kafka_partitions(e->rk, e->cktopic, 1) < 0) {
		snprintf(e->why, sizeof e->why, "the metadata of %s could not be read", e->cktopic);
		return RUN_AGAIN;
	}
	ckrec r;
	int found = read_checkpoint(e, &r);
	if (found < 0) {
		snprintf(e->why, sizeof e->why, "the checkpoint records of %s could not be read",
			 e->cktopic);
		return RUN_AGAIN;
	}
	e->committed = *from - 1;
	e->txn_ready = 1;
	if (!found || e->from_given)
		return 0;
	unsigned char h[32];
	int rc = chain_of(e->st, r.pos, h);
	if (rc == EG_ENOTFOUND || (!rc && memcmp(h, r.chain, 32))) {
		cli_error("kafka: export %s: the checkpoint record (position %llu) does not match "
			  "this store's log (%s); another store, or a restored one? --from POS "
			  "starts over", e->name, (unsigned long long)r.pos,
			  rc ? "beyond its head" : "another chain hash");
		return EXIT_INTEGRITY;
	}
	if (rc)
		return cli_fail(e->st, rc);
	if (r.pos < e->done)
		cli_warn("kafka: export %s: the local checkpoint (%llu) is ahead of the last "
			 "committed record (%llu): going on from the record", e->name,
			 (unsigned long long)e->done, (unsigned long long)r.pos);
	e->committed = r.pos;
	e->txn = r.txn;
	*from = r.pos + 1;
	return 0;
}

/* One producer's life: from position from to the end (or until stopped).
 * EXIT_OK, RUN_AGAIN (the producer failed; why in e->why), or an exit
 * code. */
static int run_once(xp *e, uint64_t from, int first)
{
	e->fatal = 0;
	flight_reset(&e->fl);
	if (!(e->rk = producer(e)))
		return first ? EXIT_USAGE : EXIT_ERR;
	trace("producer created");
	int rc = e->txn_id ? txn_start(e, &from) : 0;
	if (rc)
		return rc;
	if (e->txn_id)
		trace("transactions initialised; from position %llu", (unsigned long long)from);
	int32_t np = kafka_partitions(e->rk, e->topic, 0);
	if (np <= 0)
		return EXIT_ERR;
	if (e->np && np != e->np) {
		cli_error("kafka: topic %s now has %d partitions, not %d: an export needs a stable "
			  "partition count", e->topic, (int)np, (int)e->np);
		return EXIT_ERR;
	}
	e->np = np;
	if (!e->tail && !(e->tail = calloc((size_t)np, sizeof *e->tail))) {
		cli_error("out of memory");
		return EXIT_ERR;
	}
	if (!e->txn_id && read_tails(e)) {
		snprintf(e->why, sizeof e->why, "the tails of %s could not be read", e->topic);
		return RUN_AGAIN;
	}
	trace("tails read");
	eg_filter f = e->f;
	f.from = from;
	eg_iter *it = NULL;
	if ((e->follow || from <= f.to) && (rc = eg_iter_new(e->st, &it, &f)))
		return cli_fail(e->st, rc);
	const eg_event *ev;
	int r = it ? EG_OK : EG_END;
	unsigned n = 0;
	while (!rc) {
		if (broken(e)) {
			rc = RUN_AGAIN;
			break;
		}
		if (!it || kafka_stop || (r = eg_iter_next(it, &ev)) == EG_END) {
			/* the head: the transaction, deliveries, the checkpoint */
			if (e->txn_id && it && (rc = txn_commit(e, eg_iter_scanned(it))))
				break;
			if (!e->follow || kafka_stop)
				break;
			/* every message acknowledged: the events skipped (present,
			 * filtered) after the last one are passed too */
			if (!e->txn_id && it && !e->fl.n && eg_iter_scanned(it) > e->fl.safe)
				e->fl.safe = eg_iter_scanned(it);
			if ((rc = tick(e, 1)))
				break;
			if ((r = eg_iter_wait(it, 200)) != EG_OK && r != EG_END)
				break;
			continue;
		}
		if (r != EG_OK)
			break;
		if (e->streams) {
			char sbuf[1024];
			snprintf(sbuf, sizeof sbuf, "%.*s", (int)ev->stream_len, ev->stream);
			if (fnmatch(e->streams, sbuf, 0))
				continue;
		}
		int32_t part = rd_kafka_msg_partitioner_murmur2_random(NULL, ev->stream, ev->stream_len,
									np, NULL, NULL);
		if (!e->txn_id && ev->pos <= e->tail[part]) {
			e->present++;   /* there already */
			continue;
		}
		if (e->txn_id && !e->in_txn && (rc = txn_begin(e)))
			break;
		if ((rc = produce(e, it, ev, part)))
			break;
		if (e->txn_id && e->txn_events >= e->txn_max && (rc = txn_commit(e, ev->pos)))
			break;
		/* the clock, the deliveries and the checkpoint every 64
		 * messages: per message they cost a tenth of the export */
		if (++n % 64)
			continue;
		if (e->txn_id && e->in_txn && (uint64_t)(kafka_now_us() - e->txn_began) > e->txn_us &&
		    (rc = txn_commit(e, ev->pos)))
			break;
		rc = tick(e, 0);
	}
	trace("the head or a stop: %llu sent, %llu present", (unsigned long long)e->sent,
	      (unsigned long long)e->present);
	if (!rc && it && r != EG_OK && r != EG_END)
		rc = cli_fail(e->st, r);
	/* plain: what the brokers have not acknowledged yet, the checkpoint
	 * moving on as they do */
	while (!rc && !e->txn_id && rd_kafka_outq_len(e->rk) > 0 && !broken(e)) {
		rd_kafka_poll(e->rk, 100);
		rc = tick(e, 0);
	}
	if (!rc && broken(e))
		rc = RUN_AGAIN;
	/* every message acknowledged: the events skipped after the last are
	 * passed too (up to where the iterator looked) */
	uint64_t scanned = it ? eg_iter_scanned(it) : 0;
	if (!rc && !e->txn_id && !e->fl.n && scanned > e->fl.safe)
		e->fl.safe = scanned;
	eg_iter_free(it);
	if (!e->txn_id) {
		int src = save(e, e->fl.safe);
		if (!rc)
			rc = src;
	}
	return rc;
}

/* A second export of one name on one store would undo the resume rule:
 * an flock on DIR/kafka/export.NAME.lock keeps them apart (kept until
 * exit).  The fd, or -1 after printing why with *rc set. */
static int lock_export(xp *e, int *rc)
{
	char dir[4096], path[4400];
	snprintf(dir, sizeof dir, "%s/%s", e->c->dir, KAFKA_DIR);
	snprintf(path, sizeof path, "%s/export.%s.lock", dir, e->name);
	if (eg_os.mkdir(dir, 0755) && errno != EEXIST) {
		cli_error("cannot create %s: %s", dir, strerror(errno));
		*rc = EXIT_ERR;
		return -1;
	}
	int fd = eg_os.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		cli_error("cannot open %s: %s", path, strerror(errno));
		*rc = EXIT_ERR;
		return -1;
	}
	if (eg_os.flock(fd, LOCK_EX | LOCK_NB)) {
		int busy = errno == EWOULDBLOCK;
		cli_error(busy ? "kafka: export %s is running already (%s is locked)"
			       : "kafka: export %s: cannot lock %s", e->name, path);
		eg_os.close(fd);
		*rc = busy ? EXIT_CONFLICT : EXIT_ERR;
		return -1;
	}
	return fd;
}

/* The runs: a producer that fails is replaced and the export resumes,
 * from the acknowledged prefix (plain) or the last committed record
 * (transactional); MAX_STALLS failures in a row without progress end it. */
static int export_runs(xp *e, uint64_t from)
{
	int stalls = 0, rc;
	trace("start: name %s, from position %llu", e->name, (unsigned long long)from);
	for (int first = 1;; first = 0) {
		uint64_t before = e->txn_id ? e->committed : e->fl.safe;
		e->txn_ready = 0;
		rc = run_once(e, from, first);
		if (rc != RUN_AGAIN || kafka_stop) {
			drop_producer(e);
			/* stopped while a producer was being replaced: the
			 * checkpoint holds what was acknowledged; a stop is 0 */
			return rc == RUN_AGAIN ? (kafka_stop ? EXIT_OK : EXIT_ERR) : rc;
		}
		drop_producer(e);
		e->restarts++;
		uint64_t now = e->txn_id ? e->committed : e->fl.safe;
		stalls = now > before ? 1 : stalls + 1;
		/* a transactional producer that failed before it settled where
		 * to begin (init_transactions, the checkpoint records) begins
		 * again where it was to, --from and all */
		if (e->txn_id && !e->txn_ready)
			continue;
		from = now + 1;
		e->from_given = 0;
		if (stalls > MAX_STALLS) {
			cli_error("kafka: export %s: %s; %d producers in a row made no progress, "
				  "the checkpoint stays at %llu", e->name, e->why, MAX_STALLS,
				  (unsigned long long)now);
			kafka_status_error(e->c, &e->ks, "%s (gave up after %d producers without progress)",
					   e->why, MAX_STALLS);
			return EXIT_ERR;
		}
		cli_warn("kafka: export %s: %s; a new producer goes on from position %llu",
			 e->name, e->why, (unsigned long long)from);
		kafka_status_error(e->c, &e->ks, "%s; a new producer went on from position %llu",
				   e->why, (unsigned long long)from);
		struct timespec pause = { 0, 100000000L * stalls };
		nanosleep(&pause, NULL);
	}
}

/* engram kafka export --brokers B --topic T [--types A,B] [--streams GLOB]
 *   [--from POS] [--name N] [--follow] [--transactional-id ID
 *   [--txn-events N] [--txn-ms MS]] [-X k=v ...] */
int kafka_export(cli *c, int arg)
{
	(void)arg;
	kafka_x x;
	int rc = kafka_take_x(c, &x);
	if (rc)
		return rc;
	xp e = { .c = c, .x = &x };
	const char *types = NULL, *from = NULL, *tevents = NULL, *tms = NULL;
	opt opts[] = {
		{ "follow", 0, NULL, &e.follow },
		{ "brokers", 1, &e.brokers, NULL }, { "topic", 1, &e.topic, NULL },
		{ "types", OPT_LIST, &types, NULL }, { "streams", 1, &e.streams, NULL },
		{ "from", 1, &from, NULL }, { "name", 1, &e.name, NULL },
		{ "transactional-id", 1, &e.txn_id, NULL },
		{ "txn-events", 1, &tevents, NULL }, { "txn-ms", 1, &tms, NULL },
		{ NULL, 0, NULL, NULL },
	};
	if ((rc = cli_parse(c, opts, 1)))
		return rc < 0 ? EXIT_OK : rc;
	if (!e.brokers || !e.topic)
		return cli_usage_error(c, "kafka export needs --brokers HOST:PORT[,...] and --topic T");
	int opt_name = e.name != NULL;
	if (!e.name)
		e.name = e.topic;
	/* the checkpoint kafka-export.NAME is a consumer's: 1-64 of [A-Za-z0-9._-] */
	if (!kafka_name_ok(e.name, 64 - strlen("kafka-export.")))
		return cli_usage_error(c, "--name: expected 1 to 51 of A-Z a-z 0-9 . _ - (the "
				       "checkpoint kafka-export.NAME is a consumer's), got '%s'%s",
				       e.name, opt_name ? "" : " (the topic: give --name)");
	size_t ntypes = 0;
	for (const char *t = types; t && *t; t++)
		ntypes += *t == ',';
	if (types && ntypes + 1 > MAX_TYPES)
		return cli_usage_error(c, "--types: at most %d types", MAX_TYPES);
	if (e.txn_id && strlen(e.topic) + strlen(CK_SUFFIX) > 249)
		return cli_usage_error(c, "--topic: with --transactional-id at most %d characters "
				       "(the companion topic %s%s must be a topic name too)",
				       (int)(249 - strlen(CK_SUFFIX)), "T", CK_SUFFIX);
	if (e.txn_id && !e.txn_id[0])
		return cli_usage_error(c, "--transactional-id: expected an id, got ''");
	e.txn_max = TXN_EVENTS;
	e.txn_us = TXN_MS * 1000;
	if ((tevents || tms) && !e.txn_id)
		return cli_usage_error(c, "--txn-events and --txn-ms go with --transactional-id");
	if (tevents && (cli_u64(tevents, &e.txn_max) || !e.txn_max))
		return cli_usage_error(c, "--txn-events: expected a count (1 or more), got '%s'",
				       tevents);
	if (tms && (cli_u64(tms, &e.txn_us) || !e.txn_us || e.txn_us > 3600000))
		return cli_usage_error(c, "--txn-ms: expected milliseconds (1 to 3600000), got '%s'",
				       tms);
	if (tms)
		e.txn_us *= 1000;
	snprintf(e.ck, sizeof e.ck, "kafka-export.%s", e.name);
	snprintf(e.cktopic, sizeof e.cktopic, "%s%s", e.topic, CK_SUFFIX);
	uint64_t start = 0;
	if (from && (cli_u64(from, &start) || !start))
		return cli_usage_error(c, "--from: expected a position (1 or more), got '%s'", from);
	e.from_given = start > 0;
	/* a producer first: a bad -X is a usage error, store or none */
	rd_kafka_t *probe = producer(&e);
	if (!probe)
		return EXIT_USAGE;
	rd_kafka_destroy(probe);
	if (!(e.st = cli_open_read(c, &rc)))
		return rc;
	int lockfd = lock_export(&e, &rc);
	if (lockfd < 0) {
		cli_close(e.st, rc);
		return rc;
	}
	e.ks = (kafka_status){ .kind = "export", .name = e.name, .brokers = e.brokers,
			       .topics = e.topic, .state = "running" };
	kafka_status_save(c, &e.ks);
	e.status_at = e.saved_at = kafka_now_us();
	eg_head h;
	char *tbuf = types ? strdup(types) : NULL;
	const char *tv[MAX_TYPES];
	e.line = open_memstream(&e.lmem, &e.llen);
	e.o = e.line ? out_new(e.line, FMT_NDJSON) : NULL;
	if ((rc = eg_consumer_get(e.st, e.ck, &e.done)) || (rc = eg_store_head(e.st, &h))) {
		rc = cli_fail(e.st, rc);
		goto end;
	}
	if (!e.o || (types && !tbuf)) {
		cli_error("out of memory");
		rc = EXIT_ERR;
		goto end;
	}
	if (tbuf) {
		e.f.ntypes = cli_split(tbuf, tv, MAX_TYPES);
		e.f.types = tv;
	}
	/* to the head as it is now, or (--follow) on until stopped; --from
	 * goes back or forward, else on from the checkpoint */
	e.f.to = e.follow ? 0 : h.pos;
	uint64_t first = start ? start : e.done + 1;
	e.fl.safe = first - 1;
	if (e.follow)
		kafka_signals(1);
	rc = export_runs(&e, first);
	if (e.follow)
		kafka_signals(0);
	uint64_t ckpt = e.txn_id ? e.committed : e.fl.safe;
	if (rc == EXIT_OK) {
		printf("{\"exported\":%llu,\"present\":%llu,\"checkpoint\":%llu,\"name\":\"%s\"",
		       (unsigned long long)e.sent, (unsigned long long)e.present,
		       (unsigned long long)ckpt, e.name);
		if (e.txn_id)
			printf(",\"transactions\":%llu", (unsigned long long)e.txns);
		if (e.restarts)
			printf(",\"restarts\":%llu", (unsigned long long)e.restarts);
		printf("}\n");
	}
end:
	e.ks.messages = e.sent;
	e.ks.state = rc == EXIT_OK ? "stopped" : "failed";
	if (rc != EXIT_OK && !e.ks.last_error[0])
		kafka_status_error(c, &e.ks, "exited with status %d (its message went to stderr)", rc);
	else
		kafka_status_save(c, &e.ks);
	if (e.o)
		out_free(e.o);
	if (e.line)
		fclose(e.line);
	free(e.lmem);
	free(e.fl.pos);
	free(e.fl.done);
	free(e.tail);
	free(tbuf);
	eg_os.close(lockfd);
	cli_close(e.st, rc);
	return rc;
}
