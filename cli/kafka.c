/*
 * kafka.c — engram kafka: the store's log handed to a Kafka topic (export),
 * on librdkafka (docs/KAFKA-notes.md; issue 25).  A first slice: export to
 * the head as it was at start, with the idempotent producer and a durable
 * checkpoint per export name that moves only over positions the brokers
 * acknowledged.  Still to come: --follow, --transactional-id, import,
 * status, and the batch's chain hash in a header.
 *
 * Each event is one message: key its stream (one stream's events stay in
 * one partition, in order), value the line `engram read` prints, headers
 * engram-pos, engram-id, engram-type, engram-time and engram-recorded.
 */
#include "kafka.h"
#include "timefmt.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TYPES 64
#define SAVE_EVERY_US 200000   /* the checkpoint, at most this often */
#define STATUS_EVERY_US 2000000

/* A producer for brokers with the idempotent producer on and the -X pairs:
 * NULL after printing why. */
static rd_kafka_t *producer(const char *brokers, const kafka_x *x,
			    void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
			    void *opaque)
{
	char err[512];
	/* the Java client's partitioner: a key goes where other clients put it */
	static const char *const base[] = { "enable.idempotence", "true",
					    "enable.gapless.guarantee", "true",
					    "partitioner", "murmur2_random", NULL };
	rd_kafka_conf_t *conf = kafka_conf(brokers, base, x);
	if (!conf)
		return NULL;
	rd_kafka_conf_set_dr_msg_cb(conf, dr);
	rd_kafka_conf_set_opaque(conf, opaque);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!rk) {
		cli_error("kafka: %s", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/* ------------------------------------------------------------- export */

/* The topic's partition count (metadata): >0, or 0 after printing why. */
static int32_t partitions(rd_kafka_t *rk, const char *topic)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	int32_t n = 0;
	rd_kafka_resp_err_t err = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 10000)
				      : rd_kafka_last_error();
	if (!err && md->topic_cnt == 1 && !md->topics[0].err)
		n = md->topics[0].partition_cnt;
	else
		cli_error("kafka: topic %s: %s", topic,
			  rd_kafka_err2str(err ? err : md->topic_cnt ? md->topics[0].err
							       : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	return n;
}

/* The engram-pos of the last message of each of the np partitions (0:
 * empty) into tail: what an earlier run (killed, say) got there.  Each
 * partition holds a prefix of what was sent to it (the idempotent,
 * gapless producer), so an event at or before its partition's tail is in
 * the topic already.  0, or -1 after printing why. */
static int read_tails(const char *brokers, const kafka_x *x, const char *topic,
		      int32_t np, uint64_t *tail)
{
	char err[512];
	/* the consumer wants a group; it assigns, never joins or commits */
	static const char *const base[] = { "enable.auto.commit", "false",
					    "group.id", "engram-kafka-export-tails", NULL };
	rd_kafka_conf_t *conf = kafka_conf(brokers, base, x);
	if (!conf)
		return -1;
	rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
	if (!c) {
		cli_error("kafka: %s", err);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
	int want = 0, rc = 0;
	for (int32_t p = 0; p < np && !rc; p++) {
		int64_t lo, hi;
		tail[p] = 0;
		rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(c, topic, p, &lo, &hi, 10000);
		if (e) {
			cli_error("kafka: %s [%d]: %s", topic, (int)p, rd_kafka_err2str(e));
			rc = -1;
		} else if (hi > lo) {
			rd_kafka_topic_partition_list_add(l, topic, p)->offset = hi - 1;
			want++;
		}
	}
	if (!rc && want)
		rd_kafka_assign(c, l);
	for (int tries = 0; !rc && want && tries < 40; tries++) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 250);
		if (!m)
			continue;
		rd_kafka_headers_t *hs;
		const void *v;
		size_t n;
		if (!m->err && m->partition < np && !tail[m->partition] &&
		    !rd_kafka_message_headers(m, &hs) &&
		    !rd_kafka_header_get_last(hs, "engram-pos", &v, &n) && n < 24) {
			char buf[24];
			uint64_t pos;
			memcpy(buf, v, n);
			buf[n] = 0;
			if (!cli_u64(buf, &pos) && pos) {
				tail[m->partition] = pos;
				want--;
			}
		}
		rd_kafka_message_destroy(m);
	}
	if (!rc && want) {
		cli_error("kafka: %s: the last message of %d partition(s) could not be read "
			  "(not engram's?)", topic, want);
		rc = -1;
	}
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return rc;
}

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
	uint64_t acked;
} flight;

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

/* Delivery reports (on rd_kafka_poll's thread: this one). */
static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	flight *f = opaque;
	uint64_t seq = (uint64_t)(uintptr_t)m->_private;
	size_t i = (f->head + (size_t)(seq - f->seq0)) % f->cap;
	if (m->err) {
		if (!f->err) {
			f->err = m->err;
			f->err_pos = f->pos[i];
		}
		return;
	}
	f->done[i] = 1;
	f->acked++;
	while (f->n && f->done[f->head]) {
		f->safe = f->pos[f->head];
		f->head = (f->head + 1) % f->cap;
		f->n--;
		f->seq0++;
	}
}

/* engram kafka export --brokers B --topic T [--types A,B] [--streams GLOB]
 *   [--from POS] [--name N] [--follow] [-X key=value ...] */
int kafka_export(cli *c, int arg)
{
	(void)arg;
	kafka_x x;
	int xrc = kafka_take_x(c, &x);
	if (xrc)
		return xrc;
	const char *brokers = NULL, *topic = NULL, *types = NULL, *streams = NULL, *from = NULL,
		   *name = NULL;
	int follow = 0;
	opt opts[] = {
		{ "follow", 0, NULL, &follow },
		{ "brokers", 1, &brokers, NULL }, { "topic", 1, &topic, NULL },
		{ "types", OPT_LIST, &types, NULL }, { "streams", 1, &streams, NULL },
		{ "from", 1, &from, NULL }, { "name", 1, &name, NULL },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (!brokers || !topic)
		return cli_usage_error(c, "kafka export needs --brokers HOST:PORT[,...] and --topic T");
	char ck[80];
	snprintf(ck, sizeof ck, "kafka-export.%s", name ? name : topic);
	uint64_t start = 0;
	if (from && (cli_u64(from, &start) || !start))
		return cli_usage_error(c, "--from: expected a position (1 or more), got '%s'", from);
	/* the producer first: a bad -X is a usage error, store or none */
	flight fl = { 0 };
	rd_kafka_t *rk = producer(brokers, &x, delivered, &fl);
	if (!rk)
		return EXIT_USAGE;
	eg_store *st = cli_open_read(c, &rc);
	if (!st) {
		rd_kafka_destroy(rk);
		return rc;
	}
	kafka_status ks = { .kind = "export", .name = ck + 13, .brokers = brokers,
			    .topics = topic, .state = "running" };
	kafka_status_save(c, &ks);
	long long status_saved = kafka_now_us();
	uint64_t done = 0;
	eg_head h;
	if ((rc = eg_consumer_get(st, ck, &done)) || (rc = eg_store_head(st, &h))) {
		rc = cli_fail(st, rc);
		rd_kafka_destroy(rk);
		cli_close(st, rc);
		return rc;
	}
	/* --from goes back or forward; else on from the checkpoint */
	/* to the head as it is now, or (--follow) on until stopped */
	eg_filter f = { .from = start ? start : done + 1, .to = follow ? 0 : h.pos };
	char *tbuf = types ? strdup(types) : NULL;
	const char *tv[MAX_TYPES];
	if (tbuf) {
		f.ntypes = cli_split(tbuf, tv, MAX_TYPES);
		f.types = tv;
	}
	fl.safe = f.from - 1;
	/* each event to the partition the Java clients would pick for its
	 * stream, and not again where an earlier run got it */
	int32_t np = partitions(rk, topic);
	uint64_t *tail = np ? calloc((size_t)np, sizeof *tail) : NULL;
	uint64_t present = 0, sent = 0;
	char *lmem = NULL;
	size_t llen = 0;
	FILE *line = open_memstream(&lmem, &llen);
	out *o = line ? out_new(line, FMT_NDJSON) : NULL;
	eg_iter *it = NULL;
	if (!np || !tail || read_tails(brokers, &x, topic, np, tail)) {
		if (np && !tail)
			cli_error("out of memory");
		rc = EXIT_ERR;
		goto end;
	}
	if (!o) {
		cli_error("out of memory");
		rc = EXIT_ERR;
		goto end;
	}
	if ((follow || f.from <= h.pos) && (rc = eg_iter_new(st, &it, &f))) {
		rc = cli_fail(st, rc);
		goto end;
	}
	if (follow)
		kafka_signals(1);
	long long saved = kafka_now_us();
	const eg_event *e;
	int r = it ? EG_OK : EG_END;
	for (;;) {
		if (!it || kafka_stop || fl.err || (r = eg_iter_next(it, &e)) == EG_END) {
			if (!follow || kafka_stop || fl.err)
				break;
			/* the head: deliveries, the checkpoint, then wait for more */
			rd_kafka_poll(rk, 0);
			if (fl.safe > done && !(rc = eg_consumer_set(st, ck, fl.safe)))
				done = fl.safe;
			if ((r = eg_iter_wait(it, 200)) != EG_OK && r != EG_END)
				break;
			continue;
		}
		if (r != EG_OK)
			break;
		char sbuf[1024];
		if (streams) {
			snprintf(sbuf, sizeof sbuf, "%.*s", (int)e->stream_len, e->stream);
			if (fnmatch(streams, sbuf, 0))
				continue;
		}
		int32_t part = rd_kafka_msg_partitioner_murmur2_random(NULL, e->stream, e->stream_len,
									np, NULL, NULL);
		if (e->pos <= tail[part]) {
			present++;   /* there already */
			continue;
		}
		rewind(line);
		out_event(o, e);
		if (out_flush(o) || fflush(line)) {
			cli_error("out of memory");
			rc = EXIT_ERR;
			goto end;
		}
		size_t n = (size_t)ftell(line);
		while (n && lmem[n - 1] == '\n')
			n--;
		uint64_t seq;
		if (flight_push(&fl, e->pos, &seq)) {
			cli_error("out of memory");
			rc = EXIT_ERR;
			goto end;
		}
		char pos[24], t[EG_TIME_LEN + 1], rec[EG_TIME_LEN + 1];
		snprintf(pos, sizeof pos, "%llu", (unsigned long long)e->pos);
		eg_time_format(e->time, t);
		eg_time_format(e->recorded, rec);
		rd_kafka_headers_t *hs = rd_kafka_headers_new(5);
		rd_kafka_header_add(hs, "engram-pos", -1, pos, -1);
		rd_kafka_header_add(hs, "engram-id", -1, e->id, (ssize_t)e->id_len);
		rd_kafka_header_add(hs, "engram-type", -1, e->type, (ssize_t)e->type_len);
		rd_kafka_header_add(hs, "engram-time", -1, t, -1);
		rd_kafka_header_add(hs, "engram-recorded", -1, rec, -1);
		rd_kafka_resp_err_t err;
		for (;;) {
			err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
						RD_KAFKA_V_KEY(e->stream, e->stream_len),
						RD_KAFKA_V_VALUE(lmem, n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						RD_KAFKA_V_HEADERS(hs),
						RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			rd_kafka_poll(rk, 100);   /* the queue drains as deliveries come */
		}
		if (err) {
			rd_kafka_headers_destroy(hs);
			cli_error("kafka: cannot produce position %llu: %s",
				  (unsigned long long)e->pos, rd_kafka_err2str(err));
			rc = EXIT_ERR;
			goto end;
		}
		sent++;
		rd_kafka_poll(rk, 0);
		if (kafka_now_us() - saved > SAVE_EVERY_US && fl.safe > done) {
			if ((rc = eg_consumer_set(st, ck, fl.safe))) {
				rc = cli_fail(st, rc);
				goto end;
			}
			done = fl.safe;
			saved = kafka_now_us();
		}
		if (kafka_now_us() - status_saved > STATUS_EVERY_US) {
			ks.messages = sent;
			kafka_status_save(c, &ks);
			status_saved = kafka_now_us();
		}
	}
	if (follow)
		kafka_signals(0);
	if (it && r != EG_OK && r != EG_END) {
		rc = cli_fail(st, r);
		goto end;
	}
	/* what the brokers have not acknowledged yet, the checkpoint moving
	 * on as they do */
	while (rd_kafka_outq_len(rk) > 0 && !fl.err) {
		rd_kafka_poll(rk, 100);
		if (kafka_now_us() - saved > SAVE_EVERY_US && fl.safe > done &&
		    !eg_consumer_set(st, ck, fl.safe)) {
			done = fl.safe;
			saved = kafka_now_us();
		}
	}
	/* every message acknowledged: the events skipped after the last are
	 * passed too (up to where the iterator looked) */
	uint64_t scanned = it ? eg_iter_scanned(it) : 0;
	if (!fl.n && !fl.err && scanned > fl.safe)
		fl.safe = scanned;
	rc = EXIT_OK;
	if (fl.err) {
		cli_error("kafka: position %llu was not delivered: %s; the checkpoint stays at %llu",
			  (unsigned long long)fl.err_pos, rd_kafka_err2str(fl.err),
			  (unsigned long long)fl.safe);
		kafka_status_error(c, &ks, "position %llu was not delivered: %s",
				   (unsigned long long)fl.err_pos, rd_kafka_err2str(fl.err));
		rc = EXIT_ERR;
	}
	if (fl.safe > done) {
		int src = eg_consumer_set(st, ck, fl.safe);
		if (src && rc == EXIT_OK)
			rc = cli_fail(st, src);
	}
	if (rc == EXIT_OK)
		printf("{\"exported\":%llu,\"present\":%llu,\"checkpoint\":%llu,\"name\":\"%s\"}\n",
		       (unsigned long long)sent, (unsigned long long)present,
		       (unsigned long long)fl.safe, ck + 13);
end:
	ks.messages = sent;
	ks.state = rc == EXIT_OK ? "stopped" : "failed";
	if (rc != EXIT_OK && !ks.last_error[0])
		kafka_status_error(c, &ks, "exited with status %d (its message went to stderr)", rc);
	else
		kafka_status_save(c, &ks);
	eg_iter_free(it);
	rd_kafka_destroy(rk);
	if (o)
		out_free(o);
	if (line)
		fclose(line);
	free(lmem);
	free(fl.pos);
	free(fl.done);
	free(tail);
	free(tbuf);
	cli_close(st, rc);
	return rc;
}
