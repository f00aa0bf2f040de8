/*
 * kafka_import.c — engram kafka import: Kafka topics into the store,
 * exactly once (docs/KAFKA.md, issue 25).
 *
 * The consumer assigns every partition of the topics itself (no group
 * join) at offsets read from the log: each engram batch holds the mapped
 * messages AND one event in the reserved stream $kafka-import.GROUP that
 * records the next offset and the event-time watermark of every assigned
 * partition.  The batch is atomic, so after a crash the log holds a batch's
 * events and its offsets, or neither; the next run starts where the last
 * such event says.  Kafka's committed offsets are written after each batch
 * for monitoring only and never read.
 */
#include "kafka.h"
#include "buf.h"
#include "json.h"
#include "timefmt.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ERR_GIVE_UP_US 60000000LL   /* without --follow: only errors this long, exit 1 */
#define MAX_TOPICS 64
#define GROUP_MAX 64
#define DEFAULT_BATCH 50000   /* 1M clickstream messages: 2.7 s at 10,000, 2.2 s at 50,000 */
#define MAX_BATCH 1000000
#define QUIET_US 100000         /* --follow: commit after this long without messages */
#define BATCH_AGE_US 1000000    /* --follow: and at least this often */
#define STATUS_EVERY_US 2000000
#define DEFAULT_IDLE_US 30000000
#define ID_MAX_LEN 64           /* engram's id limit (docs/FORMAT.md) */
#define NONE INT64_MIN

#define OFFSETS_TYPE "engram.kafka.offsets"
#define REJECTED_TYPE "engram.kafka.rejected"
#define QUARANTINE "$quarantine"

/* One assigned partition. */
typedef struct part {
	const char *topic;
	int32_t id;
	int64_t next;          /* the next offset to read (what the log records) */
	int64_t end;           /* the high watermark at start */
	int64_t wm;            /* the largest event time seen (us), NONE before one */
	long long last_at;     /* monotonic us of its last message this run, 0: none */
	int done;              /* without --follow: at its end as it was at start */
	int known;             /* its offset came from the log */
} part;

/* A message waiting in the open batch, with its default id. */
typedef struct pending {
	rd_kafka_message_t *m;
	part *p;
	char id[ID_MAX_LEN + 1];
	char *why;             /* why it was refused (malloc'd), or NULL */
} pending;

typedef struct imp {
	cli *c;
	eg_store *st;
	rd_kafka_t *rk;
	const eg_map *map;
	const char *group;
	char stream[GROUP_MAX + 16];  /* $kafka-import.GROUP */
	part *parts;
	size_t np;
	const char *topics[MAX_TOPICS];
	size_t ntopics, first[MAX_TOPICS + 1];   /* parts of topic t: [first[t], first[t+1]) */
	pending *pend;
	eg_line *lines;
	size_t n, cap;
	int64_t hb;                   /* the last heartbeat's time, NONE before one */
	long long idle_us, started;
	int follow, dirty;            /* dirty: the log does not hold the offsets yet */
	uint64_t imported, duplicates, quarantined, messages, batches, heartbeats;
	kafka_status ks;
	long long err_since;   /* errors and no message since (0: none) */
	long long err_saved;   /* when the last error went to the status file */
} imp;

/* ------------------------------------------------------- where to start */

static part *find_part(imp *I, const char *topic, size_t tn, int32_t id)
{
	for (size_t t = 0; t < I->ntopics; t++)
		if (strlen(I->topics[t]) == tn && !memcmp(I->topics[t], topic, tn)) {
			size_t k = I->first[t] + (size_t)id;
			return id >= 0 && k < I->first[t + 1] ? &I->parts[k] : NULL;
		}
	return NULL;
}

/* "T/P" of a key span (quotes included) to its partition, or NULL. */
static part *key_part(imp *I, const json_span *k)
{
	const char *s = k->p + 1, *e = k->p + k->n - 1;
	const char *slash = NULL;
	for (const char *q = s; q < e; q++)
		if (*q == '/')
			slash = q;
	if (!slash || slash + 1 >= e)
		return NULL;
	char num[16];
	size_t nn = (size_t)(e - slash - 1);
	if (nn >= sizeof num)
		return NULL;
	memcpy(num, slash + 1, nn);
	num[nn] = 0;
	char *end;
	long id = strtol(num, &end, 10);
	if (*end || id < 0 || id > INT32_MAX)
		return NULL;
	return find_part(I, s, (size_t)(slash - s), (int32_t)id);
}

/* The members of an object of "T/P": number into the field at offset off
 * of each partition named (partitions no longer assigned are ignored). */
static void take_numbers(imp *I, const json_span *obj, size_t off, int mark)
{
	json_obj it;
	json_span k, v;
	json_err err;
	if (obj->type != JSON_OBJECT || eg_json_obj_begin(&it, obj->p, obj->n, &err))
		return;
	while (eg_json_obj_next(&it, &k, &v, &err) == 1) {
		part *p = key_part(I, &k);
		if (!p || v.type != JSON_NUMBER)
			continue;
		*(int64_t *)((char *)p + off) = strtoll(v.p, NULL, 10);
		if (mark)
			p->known = 1;
	}
}

/* The last offsets event of the group: each partition's next offset and
 * watermark, and the last heartbeat.  EG_OK (also when there is none). */
static int read_state(imp *I)
{
	eg_filter f = { .stream = I->stream, .reverse = 1, .limit = 1 };
	eg_iter *it;
	int rc = eg_iter_new(I->st, &it, &f);
	if (rc)
		return rc;
	const eg_event *e;
	rc = eg_iter_next(it, &e);
	if (rc == EG_OK) {
		json_span d = { e->data, e->data_len, JSON_OBJECT }, v;
		if (eg_json_member(&d, "offsets", 7, &v))
			take_numbers(I, &v, offsetof(part, next), 1);
		if (eg_json_member(&d, "watermarks", 10, &v))
			take_numbers(I, &v, offsetof(part, wm), 0);
		if (eg_json_member(&d, "heartbeat", 9, &v) && v.type == JSON_NUMBER)
			I->hb = strtoll(v.p, NULL, 10);
	}
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

/* The partitions of each topic (metadata), and their watermarks now: 0, or
 * EXIT_ERR after printing why. */
static int find_partitions(imp *I, int from_end)
{
	size_t np = 0;
	for (size_t t = 0; t < I->ntopics; t++) {
		int32_t n = kafka_partitions(I->rk, I->topics[t], 0);
		if (n <= 0)
			return EXIT_ERR;
		part *ps = realloc(I->parts, (np + (size_t)n) * sizeof *ps);
		if (!ps) {
			cli_error("out of memory");
			return EXIT_ERR;
		}
		I->parts = ps;
		I->first[t] = np;
		for (int32_t i = 0; i < n; i++)
			ps[np++] = (part){ .topic = I->topics[t], .id = i, .next = -1, .wm = NONE };
		I->first[t + 1] = np;
	}
	I->np = np;
	int rc = read_state(I);
	if (rc)
		return cli_fail(I->st, rc);
	for (size_t i = 0; i < np; i++) {
		part *p = &I->parts[i];
		int64_t lo, hi;
		rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(I->rk, p->topic, p->id,
									   &lo, &hi, 10000);
		if (err) {
			cli_error("kafka: the offsets of %s/%d: %s", p->topic, (int)p->id,
				  rd_kafka_err2str(err));
			return EXIT_ERR;
		}
		p->end = hi;
		if (!p->known) {
			p->next = from_end ? hi : lo;
			I->dirty = 1;   /* the log learns where this one starts */
		} else if (p->next > hi) {
			/* the log read further than the partition now goes: not
			 * the topic the offsets were taken from */
			cli_error("kafka: %s/%d: the log's next offset %lld is beyond the partition's "
				  "end %lld: the topic was deleted and made again, or these are other "
				  "brokers; a new --group starts afresh (ids dedup what is here)",
				  p->topic, (int)p->id, (long long)p->next, (long long)hi);
			return EXIT_ERR;
		} else if (p->next < lo) {
			cli_warn("kafka: %s/%d: offsets %lld to %lld are gone from the topic "
				 "(retention) and cannot be imported; going on at %lld",
				 p->topic, (int)p->id, (long long)p->next, (long long)lo - 1,
				 (long long)lo);
			p->next = lo;
			I->dirty = 1;
		}
		p->done = p->next >= hi;
	}
	return 0;
}

/* ----------------------------------------------------------- a message */

/* The id of a message that gives none: "kafka:T/P/O", or when that would
 * be longer than engram's ids may be, "kafka:" and 32 hex digits of a
 * 128-bit FNV-1a hash of "T/P/O". */
static void message_id(const part *p, int64_t off, char idbuf[ID_MAX_LEN + 1])
{
	int n = snprintf(idbuf, ID_MAX_LEN + 1, "kafka:%s/%d/%lld", p->topic, (int)p->id,
			 (long long)off);
	if (n <= ID_MAX_LEN)
		return;
	char key[400];
	int kn = snprintf(key, sizeof key, "%s/%d/%lld", p->topic, (int)p->id, (long long)off);
	uint64_t h[2] = { 0xcbf29ce484222325ull, 0x84222325cbf29ce4ull };
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < kn; i++)
			h[k] = (h[k] ^ (unsigned char)key[i]) * (k ? 0x100000001b3ull : 0x100000001b3ull + 2);
	snprintf(idbuf, ID_MAX_LEN + 1, "kafka:%016llx%016llx", (unsigned long long)h[0],
		 (unsigned long long)h[1]);
}

/* s as a JSON string (bytes that are not UTF-8 as U+FFFD) onto q. */
static int put_text(buf *q, const char *s, size_t n)
{
	if (eg_json_utf8_valid(s, n))
		return buf_quote(q, s, n);
	buf clean = { 0 };
	for (size_t i = 0; i < n; ) {
		size_t len = 1;
		while (len <= 4 && i + len <= n && !eg_json_utf8_valid(s + i, len))
			len++;
		int bad = len <= 4 && i + len <= n ? buf_add(&clean, s + i, len)
						   : buf_add(&clean, "\xef\xbf\xbd", 3);
		if (bad) {
			free(clean.p);
			return -1;
		}
		i += len <= 4 && i + len <= n ? len : 1;
	}
	int rc = buf_quote(q, clean.p ? clean.p : "", clean.n);
	free(clean.p);
	return rc;
}

/* The data of a refused message's $quarantine event. */
static int rejected_json(imp *I, const pending *pe, buf *q)
{
	const rd_kafka_message_t *m = pe->m;
	char num[96];
	q->n = 0;
	int bad = buf_puts(q, "{\"group\":") || buf_quote(q, I->group, strlen(I->group)) ||
		  buf_puts(q, ",\"topic\":") || buf_quote(q, pe->p->topic, strlen(pe->p->topic));
	int64_t ts = kafka_msg_time(m);
	snprintf(num, sizeof num, ",\"partition\":%d,\"offset\":%lld", (int)m->partition,
		 (long long)m->offset);
	bad = bad || buf_puts(q, num) || buf_puts(q, ",\"key\":");
	bad = bad || (m->key ? put_text(q, m->key, m->key_len) : buf_puts(q, "null"));
	if (ts >= 0) {
		char t[EG_TIME_LEN + 1];
		eg_time_format(ts, t);
		bad = bad || buf_puts(q, ",\"timestamp\":\"") || buf_puts(q, t) || buf_puts(q, "\"");
	}
	bad = bad || buf_puts(q, ",\"error\":") || put_text(q, pe->why, strlen(pe->why)) ||
	      buf_puts(q, ",\"value\":");
	bad = bad || (m->payload ? put_text(q, m->payload, m->len) : buf_puts(q, "null"));
	return bad || buf_puts(q, "}") ? EG_ENOMEM : EG_OK;
}

static int on_bad(void *ctx, uint64_t line, const char *text, size_t len, const char *msg)
{
	imp *I = ctx;
	(void)text;
	(void)len;
	free(I->pend[line].why);
	I->pend[line].why = strdup(msg);
	return !I->pend[line].why;   /* out of memory stops */
}

/* --------------------------------------------------------- the batches */

/* The import's watermark: the minimum of the largest event times of the
 * partitions not idle (a partition is idle once it has delivered nothing
 * for --idle-timeout, or, never having delivered this run, once that long
 * has passed since start); NONE when a partition that counts has no time
 * yet, or when every partition is idle. */
static int64_t watermark(const imp *I)
{
	long long now = kafka_now_us();
	int64_t w = NONE;
	int any = 0;
	for (size_t i = 0; i < I->np; i++) {
		const part *p = &I->parts[i];
		long long since = p->last_at ? p->last_at : I->started;
		if (now - since >= I->idle_us)
			continue;
		if (p->wm == NONE)
			return NONE;
		if (!any || p->wm < w)
			w = p->wm;
		any = 1;
	}
	return any ? w : NONE;
}

/* The offsets event: every partition's next offset and watermark. */
static int offsets_json(imp *I, buf *q, uint64_t msgs, uint64_t quar)
{
	char num[128];
	q->n = 0;
	int bad = buf_puts(q, "{\"group\":") || buf_quote(q, I->group, strlen(I->group));
	for (int pass = 0; pass < 2; pass++) {
		bad = bad || buf_puts(q, pass ? "},\"watermarks\":{" : ",\"offsets\":{");
		int k = 0;
		for (size_t i = 0; i < I->np; i++) {
			const part *p = &I->parts[i];
			if (pass && p->wm == NONE)
				continue;
			snprintf(num, sizeof num, "%s\"", k++ ? "," : "");
			bad = bad || buf_puts(q, num) || buf_puts(q, p->topic);
			snprintf(num, sizeof num, "/%d\":%lld", (int)p->id,
				 (long long)(pass ? p->wm : p->next));
			bad = bad || buf_puts(q, num);
		}
	}
	bad = bad || buf_puts(q, "}");
	if (I->hb != NONE) {
		snprintf(num, sizeof num, ",\"heartbeat\":%lld", (long long)I->hb);
		bad = bad || buf_puts(q, num);
	}
	snprintf(num, sizeof num, ",\"messages\":%llu,\"quarantined\":%llu}",
		 (unsigned long long)msgs, (unsigned long long)quar);
	return bad || buf_puts(q, num) ? EG_ENOMEM : EG_OK;
}

/* Commit the offsets of every partition to Kafka for group G (monitoring
 * only: never read back by engram). */
static void commit_to_kafka(imp *I, int async)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)I->np);
	for (size_t i = 0; i < I->np; i++)
		rd_kafka_topic_partition_list_add(l, I->parts[i].topic, I->parts[i].id)->offset =
			I->parts[i].next;
	rd_kafka_resp_err_t err = rd_kafka_commit(I->rk, l, async);
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
		cli_warn("kafka: committing the offsets of group %s to Kafka (for monitoring "
			 "only): %s", I->group, rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(l);
}

/* One heartbeat at the watermark w, in the batch. */
static int add_heartbeat(imp *I, eg_batch *b, int64_t w)
{
	char data[128], q[6 * GROUP_MAX + 3];
	q[eg_json_quote(I->group, strlen(I->group), q)] = 0;
	int n = snprintf(data, sizeof data, "{\"source\":\"kafka-import\",\"group\":%s}", q);
	return eg_batch_add_heartbeat(b, w, data, (size_t)n);
}

/* Append the open batch: its messages (refused ones to $quarantine), a
 * heartbeat when the watermark moved, and the offsets of every partition,
 * in one atomic commit.  Then Kafka's offsets, for monitoring.  0, or the
 * exit code after printing why. */
static int flush(imp *I)
{
	int64_t w = watermark(I);
	int beat = w != NONE && (I->hb == NONE || w > I->hb);
	if (!I->n && !beat && !I->dirty)
		return 0;
	eg_batch_opts o = { .sync = EG_SYNC_ALWAYS, .expect_version = -1, .map = I->map,
			    .expected_events = I->n };
	eg_batch *b = NULL;
	buf q = { 0 };
	uint64_t done, quar = 0, added = 0, dups = 0;
	/* each line's default id lives in its pending entry (set only now:
	 * the array moves as it grows) */
	for (size_t i = 0; i < I->n; i++)
		I->lines[i].d.id = I->pend[i].id;
	int rc = eg_batch_begin(I->st, &b, &o);
	if (rc == EG_OK && I->n)
		rc = eg_batch_add_lines(b, I->lines, I->n, on_bad, I, &done);
	for (size_t i = 0; rc == EG_OK && i < I->n; i++) {
		pending *pe = &I->pend[i];
		eg_line *l = &I->lines[i];
		part *p = pe->p;
		int64_t t = l->time;
		if (l->rc == EG_EINVAL) {
			int64_t ts = kafka_msg_time(pe->m);
			t = ts >= 0 ? ts : 0;
			if (!pe->why)
				pe->why = strdup("refused");
			rc = !pe->why || rejected_json(I, pe, &q)
				     ? EG_ENOMEM
				     : eg_batch_add_system(b, QUARANTINE, REJECTED_TYPE, q.p, q.n);
			quar++;
		} else if (l->rc == EG_EDUP) {
			dups++;
		} else {
			added++;
		}
		/* the partition's time: its events', or for a refused message the
		 * message's timestamp (the partition moves on all the same) */
		if (t && (p->wm == NONE || t > p->wm))
			p->wm = t;
		if (pe->m->offset + 1 > p->next)
			p->next = pe->m->offset + 1;
	}
	w = watermark(I);
	beat = w != NONE && (I->hb == NONE || w > I->hb);
	int64_t hb_was = I->hb;
	if (rc == EG_OK && beat) {
		I->hb = w;
		rc = add_heartbeat(I, b, w);
	}
	if (rc == EG_OK && (rc = offsets_json(I, &q, I->n, quar)) == EG_OK)
		rc = eg_batch_add_system(b, I->stream, OFFSETS_TYPE, q.p, q.n);
	eg_append_result res;
	if (rc == EG_OK) {
		rc = eg_batch_commit(b, &res);
		b = NULL;
	}
	free(q.p);
	if (rc) {
		eg_batch_abort(b);
		I->hb = hb_was;
		kafka_status_error(I->c, &I->ks, "appending a batch: %s", eg_errmsg(I->st));
		return cli_fail(I->st, rc);
	}
	I->imported += added;
	I->duplicates += dups;
	I->quarantined += quar;
	I->messages += I->n;
	I->heartbeats += beat;
	I->batches++;
	I->dirty = 0;
	for (size_t i = 0; i < I->n; i++) {
		rd_kafka_message_destroy(I->pend[i].m);
		free(I->pend[i].why);
	}
	I->n = 0;
	commit_to_kafka(I, 1);
	return 0;
}

/* Take one message, polled at now, into the open batch. */
static int take(imp *I, rd_kafka_message_t *m, long long now)
{
	size_t tn;
	const char *tname = rd_kafka_topic_name(m->rkt);
	tn = strlen(tname);
	part *p = find_part(I, tname, tn, m->partition);
	if (!p || m->offset < p->next) {   /* not ours, or already in the log */
		rd_kafka_message_destroy(m);
		return 0;
	}
	if (I->n == I->cap) {
		size_t cap = I->cap ? 2 * I->cap : 1024;
		pending *pe = realloc(I->pend, cap * sizeof *pe);
		if (pe)
			I->pend = pe;
		eg_line *l = pe ? realloc(I->lines, cap * sizeof *l) : NULL;
		if (!l) {
			rd_kafka_message_destroy(m);
			cli_error("out of memory");
			return EXIT_ERR;
		}
		I->lines = l;
		I->cap = cap;
	}
	pending *pe = &I->pend[I->n];
	pe->m = m;
	pe->p = p;
	pe->why = NULL;
	message_id(p, m->offset, pe->id);
	int64_t ts = kafka_msg_time(m);
	I->lines[I->n] = (eg_line){ .json = m->payload ? m->payload : "", .len = m->len,
				    .d = { .id_len = strlen(pe->id),
					   .has_time = ts >= 0, .time = ts } };
	I->n++;
	p->last_at = now;
	if (!I->follow && m->offset + 1 >= p->end)
		p->done = 1;
	return 0;
}

static int all_done(const imp *I)
{
	for (size_t i = 0; i < I->np; i++)
		if (!I->parts[i].done)
			return 0;
	return 1;
}

/* One message or event from the consumer's queue. */
static int one(imp *I, rd_kafka_message_t *m, uint64_t batch, long long now)
{
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		const char *t = rd_kafka_topic_name(m->rkt);
		part *p = find_part(I, t, strlen(t), m->partition);
		if (p && !I->follow)
			p->done = 1;
		rd_kafka_message_destroy(m);
		return 0;
	}
	if (m->err) {
		/* said once a second, not once a fetch */
		if (now - I->err_saved >= 1000000) {
			kafka_status_error(I->c, &I->ks, "%s", rd_kafka_message_errstr(m));
			cli_warn("kafka: %s", rd_kafka_message_errstr(m));
			I->err_saved = now;
		}
		if (!I->err_since)
			I->err_since = now;
		rd_kafka_message_destroy(m);
		char why[512];
		if (rd_kafka_fatal_error(I->rk, why, sizeof why)) {
			cli_error("kafka: fatal: %s", why);
			return EXIT_ERR;
		}
		/* without --follow a partition that only fails (a topic gone,
		 * access refused) would keep the run from its end for ever */
		if (!I->follow && now - I->err_since > ERR_GIVE_UP_US) {
			cli_error("kafka: only errors for %d s, the last: %s; what is not committed "
				  "is read again by the next run", (int)(ERR_GIVE_UP_US / 1000000),
				  I->ks.last_error);
			return EXIT_ERR;
		}
		return 0;
	}
	I->err_since = 0;
	int rc = take(I, m, now);
	if (!rc && I->n >= batch)
		rc = flush(I);
	return rc;
}

#define POLL_MAX 4096   /* messages taken from the queue at once */

/* Consume until every partition is at its end as it was at start (or,
 * with --follow, until stopped), committing batches as they fill. */
static int run(imp *I, uint64_t batch)
{
	long long opened = 0, status_at = kafka_now_us();
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(I->rk);
	rd_kafka_message_t **ms = malloc(POLL_MAX * sizeof *ms);
	int rc = 0;
	if (!q || !ms) {
		cli_error("kafka: no consumer queue, or out of memory");
		rc = EXIT_ERR;
	}
	while (!rc && !kafka_stop && (I->follow || !all_done(I))) {
		ssize_t got = rd_kafka_consume_batch_queue(q, 100, ms, POLL_MAX);
		long long now = kafka_now_us();
		if (got > 0 && !I->n)
			opened = now;
		for (ssize_t k = 0; k < got; k++) {
			if (rc)
				rd_kafka_message_destroy(ms[k]);
			else
				rc = one(I, ms[k], batch, now);
		}
		if (rc)
			break;
		/* --follow: commit what is open after 100 ms of quiet or a
		 * second of trickle, or a heartbeat alone when an idle
		 * partition lets the watermark move */
		if (I->follow && (got <= 0 || (I->n && now - opened >= BATCH_AGE_US)))
			rc = flush(I);
		if (now - status_at >= STATUS_EVERY_US) {
			I->ks.messages = I->messages;
			kafka_status_save(I->c, &I->ks);
			status_at = now;
		}
	}
	if (!rc)
		rc = flush(I);
	free(ms);
	if (q)
		rd_kafka_queue_destroy(q);
	return rc;
}

/* The summary line. */
static void summary(imp *I)
{
	buf q = { 0 };
	char num[160];
	snprintf(num, sizeof num, "{\"imported\":%llu,\"duplicates\":%llu,\"quarantined\":%llu,"
		 "\"messages\":%llu,\"batches\":%llu,\"heartbeats\":%llu,\"group\":",
		 (unsigned long long)I->imported, (unsigned long long)I->duplicates,
		 (unsigned long long)I->quarantined, (unsigned long long)I->messages,
		 (unsigned long long)I->batches, (unsigned long long)I->heartbeats);
	int bad = buf_puts(&q, num) || buf_quote(&q, I->group, strlen(I->group));
	if (I->hb != NONE) {
		char t[EG_TIME_LEN + 1];
		eg_time_format(I->hb, t);
		bad = bad || buf_puts(&q, ",\"watermark\":\"") || buf_puts(&q, t) || buf_puts(&q, "\"");
	}
	bad = bad || buf_puts(&q, ",\"offsets\":{");
	for (size_t i = 0; i < I->np; i++) {
		snprintf(num, sizeof num, "/%d\":%lld", (int)I->parts[i].id,
			 (long long)I->parts[i].next);
		bad = bad || buf_puts(&q, i ? ",\"" : "\"") || buf_puts(&q, I->parts[i].topic) ||
		      buf_puts(&q, num);
	}
	if (!bad && !buf_puts(&q, "}}\n"))
		fwrite(q.p, 1, q.n, stdout);
	free(q.p);
}

/* The consumer: assigned partitions, no group join, nothing committed
 * automatically.  NULL after printing why (a bad -X). */
static rd_kafka_t *consumer(const char *brokers, const char *group, int follow, const kafka_x *x)
{
	const char *base[] = { "group.id", group, "enable.auto.commit", "false",
			       "enable.auto.offset.store", "false",
			       "enable.partition.eof", follow ? "false" : "true",
			       /* an offset the topic no longer holds (retention):
				* go on at the oldest one it does */
			       "auto.offset.reset", "earliest",
			       /* While a batch is appended, the fetchers fill the
				* consumer queue; at its limits (100,000 messages,
				* 64 MiB by default) each partition's fetcher backs
				* off for fetch.error.backoff.ms (500 ms in 2.0): 1M
				* clickstream events on 64 partitions took 7.2 s so,
				* 1.8 s with these (docs/KAFKA.md). */
			       "queued.min.messages", "1000000",
			       "queued.max.messages.kbytes", "131072",
			       "fetch.error.backoff.ms", "20", NULL };
	rd_kafka_conf_t *conf = kafka_conf(brokers, base, x);
	return conf ? kafka_client(RD_KAFKA_CONSUMER, conf) : NULL;
}

static int assign(imp *I)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)I->np);
	for (size_t i = 0; i < I->np; i++)
		rd_kafka_topic_partition_list_add(l, I->parts[i].topic, I->parts[i].id)->offset =
			I->parts[i].next;
	rd_kafka_resp_err_t err = rd_kafka_assign(I->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (err) {
		cli_error("kafka: assigning the partitions: %s", rd_kafka_err2str(err));
		return EXIT_ERR;
	}
	return 0;
}

/* engram kafka import --brokers B --topic T[,T...] --group G
 *   [--map segment|snowplow|FILE] [--from beginning|end] [--follow]
 *   [--idle-timeout DURATION] [--batch N] [-X key=value ...] */
int kafka_import(cli *c, int arg)
{
	(void)arg;
	kafka_x x;
	int rc = kafka_take_x(c, &x);
	if (rc)
		return rc;
	const char *brokers = NULL, *topic = NULL, *group = NULL, *map = NULL, *from = NULL,
		   *idle = NULL, *batch_s = NULL;
	int follow = 0;
	opt opts[] = {
		{ "follow", 0, NULL, &follow },
		{ "brokers", 1, &brokers, NULL }, { "topic", OPT_LIST, &topic, NULL },
		{ "group", 1, &group, NULL }, { "map", 1, &map, NULL },
		{ "from", 1, &from, NULL }, { "idle-timeout", 1, &idle, NULL },
		{ "batch", 1, &batch_s, NULL },
		{ NULL, 0, NULL, NULL },
	};
	if ((rc = cli_parse(c, opts, 1)))
		return rc < 0 ? EXIT_OK : rc;
	if (!brokers || !topic || !group)
		return cli_usage_error(c, "kafka import needs --brokers HOST:PORT[,...], --topic "
				       "T[,T...] and --group G");
	if (!kafka_name_ok(group, GROUP_MAX))
		return cli_usage_error(c, "--group: expected 1 to %d characters of A-Z a-z 0-9 . _ -, "
				       "got '%s'", GROUP_MAX, group);
	int from_end = 0;
	if (from && !(from_end = !strcmp(from, "end")) && strcmp(from, "beginning"))
		return cli_usage_error(c, "--from: expected beginning or end, got '%s'", from);
	uint64_t batch = DEFAULT_BATCH;
	if (batch_s && (cli_u64(batch_s, &batch) || !batch || batch > MAX_BATCH))
		return cli_usage_error(c, "--batch: expected a number of messages from 1 to %d, "
				       "got '%s'", MAX_BATCH, batch_s);
	int64_t idle_us = DEFAULT_IDLE_US;
	if (idle && (eg_duration_parse(idle, strlen(idle), &idle_us) || idle_us <= 0))
		return cli_usage_error(c, "--idle-timeout: expected a duration such as 30s, 500ms "
				       "or 2m, got '%s'", idle);
	imp I = { .c = c, .group = group, .follow = follow, .idle_us = idle_us, .hb = NONE };
	char *tbuf = strdup(topic);
	if (!tbuf) {
		cli_error("out of memory");
		return EXIT_ERR;
	}
	size_t commas = 0;
	for (const char *p = topic; *p; p++)
		commas += *p == ',';
	if (commas >= MAX_TOPICS) {
		free(tbuf);
		return cli_usage_error(c, "--topic: at most %d topics", MAX_TOPICS);
	}
	I.ntopics = cli_split(tbuf, I.topics, MAX_TOPICS);
	for (size_t t = 0; t < I.ntopics; t++)
		for (size_t u = 0; u < t; u++)
			if (!strcmp(I.topics[t], I.topics[u]))
				I.topics[t] = "";
	for (size_t t = 0; t < I.ntopics; t++)
		if (!kafka_name_ok(I.topics[t], 249)) {
			rc = cli_usage_error(c, "--topic: expected topic names of A-Z a-z 0-9 . _ - "
					     "(1 to 249), each once, got '%s'", I.topics[t]);
			free(tbuf);
			return rc;
		}
	snprintf(I.stream, sizeof I.stream, "$kafka-import.%s", group);
	eg_map *mp = NULL;
	if (map && !(mp = cli_load_map(map, &rc))) {
		free(tbuf);
		return rc;
	}
	I.map = mp;
	/* the consumer first: a bad -X is a usage error, store or none */
	if (!(I.rk = consumer(brokers, group, follow, &x))) {
		eg_map_free(mp);
		free(tbuf);
		return EXIT_USAGE;
	}
	I.ks = (kafka_status){ .kind = "import", .name = group, .brokers = brokers,
			       .topics = topic, .state = "running" };
	I.st = cli_open_write(c, 1, &rc);
	if (!I.st)
		goto end;
	kafka_status_save(c, &I.ks);
	I.started = kafka_now_us();
	if ((rc = find_partitions(&I, from_end)) || (rc = assign(&I))) {
		kafka_status_error(c, &I.ks, "could not start (its message went to stderr)");
		goto end;
	}
	if (follow)
		kafka_signals(1);
	rc = run(&I, batch);
	if (follow)
		kafka_signals(0);
	if (rc == EXIT_OK) {
		commit_to_kafka(&I, 0);
		summary(&I);
		if (I.quarantined)
			cli_warn("%llu message%s could not be imported: they are in %s (type %s, "
				 "with topic, partition, offset and the error): engram read --stream "
				 "'%s' --type %s", (unsigned long long)I.quarantined,
				 I.quarantined == 1 ? "" : "s", QUARANTINE, REJECTED_TYPE, QUARANTINE,
				 REJECTED_TYPE);
	}
end:
	I.ks.messages = I.messages;
	I.ks.state = rc == EXIT_OK ? "stopped" : "failed";
	if (I.st) {
		if (rc != EXIT_OK && !I.ks.last_error[0])
			kafka_status_error(c, &I.ks, "exited with status %d (its message went to "
					   "stderr)", rc);
		else
			kafka_status_save(c, &I.ks);
	}
	for (size_t i = 0; i < I.n; i++) {
		rd_kafka_message_destroy(I.pend[i].m);
		free(I.pend[i].why);
	}
	rd_kafka_consumer_close(I.rk);
	rd_kafka_destroy(I.rk);
	free(I.pend);
	free(I.lines);
	free(I.parts);
	eg_map_free(mp);
	free(tbuf);
	cli_close(I.st, rc);
	return rc;
}
