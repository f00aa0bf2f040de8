/*
 * kafka_status.c — engram kafka status: each export and import of the
 * store, from its status file (DIR/kafka/KIND.NAME.json, kafka.h), with
 * its checkpoint, its lag in messages and seconds, and its last error.
 *
 * An export's checkpoint is the consumer checkpoint kafka-export.NAME; its
 * lag is counted in the log (the positions after it) and dated by the
 * record time of the first of them.  An import's checkpoint is the offsets
 * of the last event of its stream $kafka-import.GROUP; its lag needs the
 * brokers: each partition's high watermark less the next offset, dated by
 * the Kafka timestamp of the oldest message not imported.
 */
#include "kafka.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATUS_MAX (1u << 20)
#define MAX_BRIDGES 1024
#define MAX_PARTS 4096
#define BROKER_WAIT_MS 3000

static int64_t wall_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* One status file, read. */
typedef struct bridge {
	char *text;                  /* the file's JSON object */
	json_span obj;
	char kind[16], name[256], state[16];
	long long pid;
} bridge;

/* The member name of b's object as a NUL-terminated string into buf. */
static const char *str_member(const bridge *b, const char *name, char *buf, size_t cap)
{
	json_span v;
	buf[0] = 0;
	if (eg_json_member(&b->obj, name, strlen(name), &v) && v.type == JSON_STRING &&
	    v.n <= cap) {
		size_t n = eg_json_string_decode(&v, buf);
		buf[n] = 0;
	}
	return buf;
}

static long long num_member(const bridge *b, const char *name)
{
	json_span v;
	if (eg_json_member(&b->obj, name, strlen(name), &v) && v.type == JSON_NUMBER)
		return strtoll(v.p, NULL, 10);
	return 0;
}

/* Read DIR/kafka/FILE into b: 0, or -1 (not a status file: skipped). */
static int read_bridge(const char *dir, const char *file, bridge *b)
{
	char path[4600];
	size_t n;
	snprintf(path, sizeof path, "%s/%s", dir, file);
	memset(b, 0, sizeof *b);
	if (!(b->text = cli_read_path(path, STATUS_MAX, &n)))
		return -1;
	json_obj it;
	if (eg_json_obj_begin(&it, b->text, n, NULL)) {
		cli_warn("%s: not a status file (not one JSON object); skipped", path);
		free(b->text);
		return -1;
	}
	b->obj = (json_span){ b->text, n, JSON_OBJECT };
	while (b->obj.n && (b->text[b->obj.n - 1] == '\n' || b->text[b->obj.n - 1] == ' '))
		b->obj.n--;
	str_member(b, "kind", b->kind, sizeof b->kind);
	str_member(b, "name", b->name, sizeof b->name);
	str_member(b, "state", b->state, sizeof b->state);
	b->pid = num_member(b, "pid");
	/* "running" by a process that is gone: killed before it could say */
	if (!strcmp(b->state, "running") && b->pid > 0 && kill((pid_t)b->pid, 0) && errno == ESRCH)
		snprintf(b->state, sizeof b->state, "dead");
	return 0;
}

static int by_file(const void *a, const void *b)
{
	const bridge *x = a, *y = b;
	int c = strcmp(x->kind, y->kind);
	return c ? c : strcmp(x->name, y->name);
}

/* ------------------------------------------------------------- export */

/* An export's row: its checkpoint and the log after it. */
static int export_row(out *o, eg_store *st, const bridge *b, uint64_t head, int64_t now)
{
	char ck[300];
	uint64_t pos = 0;
	snprintf(ck, sizeof ck, "kafka-export.%s", b->name);
	int rc = eg_consumer_get(st, ck, &pos);
	if (rc)
		return rc;
	char num[24];
	snprintf(num, sizeof num, "%llu", (unsigned long long)pos);
	out_json(o, "checkpoint", num, strlen(num));
	uint64_t lag = head > pos ? head - pos : 0;
	out_u64(o, "lag_messages", lag);
	int64_t age = 0;
	if (lag) {
		/* dated by the first event not exported yet */
		eg_filter f = { .from = pos + 1, .to = head, .limit = 1 };
		eg_iter *it;
		const eg_event *e;
		if ((rc = eg_iter_new(st, &it, &f)))
			return rc;
		if ((rc = eg_iter_next(it, &e)) == EG_OK)
			age = now - e->recorded;
		eg_iter_free(it);
		if (rc != EG_OK && rc != EG_END)
			return rc;
	}
	out_seconds(o, "lag_seconds", age > 0 ? age : 0);
	return EG_OK;
}

/* ------------------------------------------------------------- import */

/* The partitions of an import's last offsets event. */
typedef struct part {
	char topic[256];
	int32_t p;
	int64_t next;
} part;

/* The data of the last event of $kafka-import.GROUP into *data (malloc'd;
 * NULL when there is none): EG_OK or an error. */
static int last_offsets(eg_store *st, const char *group, char **data, size_t *n)
{
	char stream[300];
	snprintf(stream, sizeof stream, "$kafka-import.%s", group);
	eg_filter f = { .stream = stream, .reverse = 1, .limit = 1 };
	eg_iter *it;
	const eg_event *e;
	*data = NULL;
	int rc = eg_iter_new(st, &it, &f);
	if (rc)
		return rc;
	if ((rc = eg_iter_next(it, &e)) == EG_OK) {
		if ((*data = malloc(e->data_len + 1))) {
			memcpy(*data, e->data, e->data_len);
			(*data)[e->data_len] = 0;
			*n = e->data_len;
		} else {
			rc = EG_ENOMEM;
		}
	}
	eg_iter_free(it);
	return rc == EG_END ? EG_OK : rc;
}

/* "offsets" of the event's data as parts: how many (at most max). */
static int parse_offsets(const char *data, size_t n, part *ps, int max)
{
	json_span d = { data, n, JSON_OBJECT }, offs, k, v;
	json_obj it;
	int np = 0;
	if (!eg_json_member(&d, "offsets", 7, &offs) || offs.type != JSON_OBJECT ||
	    eg_json_obj_begin(&it, offs.p, offs.n, NULL))
		return 0;
	while (np < max && eg_json_obj_next(&it, &k, &v, NULL) == 1) {
		char key[300];
		if (k.n > sizeof key || v.type != JSON_NUMBER)
			continue;
		size_t kn = eg_json_string_decode(&k, key);
		key[kn] = 0;
		char *slash = strrchr(key, '/');
		if (!slash || (size_t)(slash - key) >= sizeof ps->topic)
			continue;
		*slash = 0;
		snprintf(ps[np].topic, sizeof ps[np].topic, "%s", key);
		ps[np].p = (int32_t)strtol(slash + 1, NULL, 10);
		ps[np].next = strtoll(v.p, NULL, 10);
		np++;
	}
	return np;
}

/* The brokers' view of an import: the messages after its offsets (*lag)
 * and the age of the oldest of them (*age, microseconds): 0, or -1 when
 * the brokers did not answer (after a warning). */
static int broker_lag(const char *brokers, const kafka_x *x, const char *group, part *ps,
		      int np, int64_t now, uint64_t *lag, int64_t *age)
{
	static const char *const base[] = { "enable.auto.commit", "false",
					    "enable.partition.eof", "false",
					    "group.id", "engram-kafka-status", NULL };
	*lag = 0;
	*age = 0;
	rd_kafka_conf_t *conf = kafka_conf(brokers, base, x);
	rd_kafka_t *c = conf ? kafka_client(RD_KAFKA_CONSUMER, conf) : NULL;
	if (!c)
		return -1;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
	int rc = 0, want = 0;
	for (int i = 0; i < np; i++) {
		int64_t lo, hi;
		rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(c, ps[i].topic, ps[i].p,
									 &lo, &hi, BROKER_WAIT_MS);
		if (e) {
			cli_warn("kafka: %s [%d]: %s: the lag of import %s is unknown", ps[i].topic,
				 (int)ps[i].p, rd_kafka_err2str(e), group);
			rc = -1;
			break;
		}
		int64_t from = ps[i].next > lo ? ps[i].next : lo;
		if (hi > from) {
			*lag += (uint64_t)(hi - from);
			rd_kafka_topic_partition_list_add(l, ps[i].topic, ps[i].p)->offset = from;
			want++;
		}
	}
	/* the oldest message not imported: the first after each offset */
	if (!rc && want && !rd_kafka_assign(c, l)) {
		int64_t oldest = INT64_MAX;
		long long until = kafka_now_us() + BROKER_WAIT_MS * 1000LL;
		while (want && kafka_now_us() < until) {
			rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
			if (!m)
				continue;
			if (!m->err) {
				int64_t us = kafka_msg_time(m);
				if (us >= 0 && us < oldest)
					oldest = us;
				rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
				rd_kafka_topic_partition_list_add(one, rd_kafka_topic_name(m->rkt),
								  m->partition);
				rd_kafka_incremental_unassign(c, one);
				rd_kafka_topic_partition_list_destroy(one);
				want--;
			}
			rd_kafka_message_destroy(m);
		}
		if (oldest != INT64_MAX && now > oldest)
			*age = now - oldest;
	}
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_destroy(c);
	return rc;
}

/* An import's row: the offsets in the log and, when the brokers answer,
 * what is beyond them. */
static int import_row(out *o, eg_store *st, const bridge *b, const char *brokers,
		      const kafka_x *x, int64_t now)
{
	char *data = NULL;
	size_t n = 0;
	int rc = last_offsets(st, b->name, &data, &n);
	if (rc)
		return rc;
	json_span d = { data, n, JSON_OBJECT }, offs;
	if (data && eg_json_member(&d, "offsets", 7, &offs) && offs.type == JSON_OBJECT)
		out_json(o, "checkpoint", offs.p, offs.n);
	else
		out_json(o, "checkpoint", "{}", 2);
	part *ps = malloc(MAX_PARTS * sizeof *ps);
	int np = ps && data ? parse_offsets(data, n, ps, MAX_PARTS) : 0;
	uint64_t lag;
	int64_t age;
	if (np && brokers[0] && !broker_lag(brokers, x, b->name, ps, np, now, &lag, &age)) {
		out_u64(o, "lag_messages", lag);
		out_seconds(o, "lag_seconds", age);
	} else {
		out_null(o, "lag_messages");
		out_null(o, "lag_seconds");
	}
	free(ps);
	free(data);
	return EG_OK;
}

/* engram kafka status [--brokers B] [-X key=value ...] */
int kafka_status_cmd(cli *c, int arg)
{
	(void)arg;
	kafka_x x;
	int rc = kafka_take_x(c, &x);
	if (rc)
		return rc;
	const char *brokers = NULL;
	opt opts[] = { { "brokers", 1, &brokers, NULL }, { NULL, 0, NULL, NULL } };
	if ((rc = cli_parse(c, opts, 1)))
		return rc < 0 ? EXIT_OK : rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	char dir[4400];
	snprintf(dir, sizeof dir, "%s/%s", c->dir, KAFKA_DIR);
	bridge *bs = calloc(MAX_BRIDGES, sizeof *bs);
	int nb = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (bs && d && nb < MAX_BRIDGES && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len > 5 && !strcmp(de->d_name + len - 5, ".json") &&
		    (!strncmp(de->d_name, "export.", 7) || !strncmp(de->d_name, "import.", 7)) &&
		    !read_bridge(dir, de->d_name, &bs[nb]))
			nb++;
	}
	if (d)
		closedir(d);
	if (!bs) {
		cli_error("out of memory");
		cli_close(st, EXIT_ERR);
		return EXIT_ERR;
	}
	qsort(bs, (size_t)nb, sizeof *bs, by_file);
	eg_head h;
	int r = eg_store_head(st, &h);
	int64_t now = wall_us();
	out *o = out_new(stdout, c->format);
	static const char *const keys[] = { "kind", "name", "topics", "state", "checkpoint",
					    "lag_messages", "lag_seconds", "messages", "updated",
					    "last_error", "last_error_at" };
	out_header(o, keys, sizeof keys / sizeof *keys);
	for (int i = 0; i < nb && r == EG_OK; i++) {
		bridge *b = &bs[i];
		char topics[1024], brk[1024], err[1024];
		out_row_begin(o);
		out_cstr(o, "kind", b->kind);
		out_cstr(o, "name", b->name);
		out_cstr(o, "topics", str_member(b, "topics", topics, sizeof topics));
		out_cstr(o, "state", b->state);
		if (strcmp(b->kind, "export")) {
			r = import_row(o, st, b, brokers ? brokers : str_member(b, "brokers", brk, sizeof brk),
				       &x, now);
		} else if ((r = export_row(o, st, b, h.pos, now)) == EG_EINVAL) {
			/* a name no checkpoint can have (an older engram let it
			 * through): the row without one, and the next rows */
			out_null(o, "checkpoint");
			out_null(o, "lag_messages");
			out_null(o, "lag_seconds");
			r = EG_OK;
		}
		out_u64(o, "messages", (uint64_t)num_member(b, "messages"));
		out_time(o, "updated", num_member(b, "updated"));
		str_member(b, "last_error", err, sizeof err);
		out_cstr(o, "last_error", err[0] ? err : NULL);
		if (num_member(b, "last_error_at"))
			out_time(o, "last_error_at", num_member(b, "last_error_at"));
		else
			out_null(o, "last_error_at");
		out_row_end(o);
	}
	rc = r ? cli_fail(st, r) : EXIT_OK;
	rc = out_finish(o, rc);
	for (int i = 0; i < nb; i++)
		free(bs[i].text);
	free(bs);
	cli_close(st, rc);
	return rc;
}
