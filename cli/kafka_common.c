/*
 * kafka_common.c — what engram kafka export, import and status share
 * (kafka.h): configuration, the log, the stop signals, the status files,
 * and the command's dispatch.
 */
#include "kafka.h"
#include "json.h"
#include "os.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int kafka_take_x(cli *c, kafka_x *x)
{
	int j = 0;
	x->n = 0;
	for (int i = 0; i < c->argc; i++) {
		if (strcmp(c->argv[i], "-X")) {
			c->argv[j++] = c->argv[i];
			continue;
		}
		if (i + 1 >= c->argc || !strchr(c->argv[i + 1], '=') || c->argv[i + 1][0] == '=')
			return cli_usage_error(c, "-X: expected KEY=VALUE (librdkafka's configuration)");
		if (x->n == KAFKA_MAX_X)
			return cli_usage_error(c, "-X: at most %d pairs", KAFKA_MAX_X);
		x->kv[x->n++] = c->argv[++i];
	}
	c->argc = j;
	return 0;
}

rd_kafka_t *kafka_client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
	if (!rk) {
		cli_error("kafka: %s", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

int32_t kafka_partitions(rd_kafka_t *rk, const char *topic, int missing_ok)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	int32_t n = -1;
	rd_kafka_resp_err_t err = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 10000)
				      : rd_kafka_last_error();
	if (!err && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
		n = md->topics[0].partition_cnt;
	else if (!err && md->topic_cnt == 1 && missing_ok &&
		 md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		n = 0;
	if (n < 0)
		cli_error("kafka: topic %s: %s", topic,
			  err ? rd_kafka_err2str(err)
			      : md->topic_cnt != 1 ? rd_kafka_err2str(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
			      : md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
			      : "no partitions");
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	return n;
}

/* The log: errors and warnings, but not the notice that
 * enable.gapless.guarantee is experimental (export sets it). */
void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 4 && strcmp(fac, "CONFWARN"))
		cli_warn("kafka: %s: %s", fac, buf);
}

rd_kafka_conf_t *kafka_conf(const char *brokers, const char *const *base, const kafka_x *x)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err)) {
		cli_error("--brokers: %s", err);
		goto bad;
	}
	for (size_t i = 0; base && base[i]; i += 2)
		if (rd_kafka_conf_set(conf, base[i], base[i + 1], err, sizeof err)) {
			cli_error("kafka: %s", err);
			goto bad;
		}
	for (int i = 0; x && i < x->n; i++) {
		char key[256];
		const char *eq = strchr(x->kv[i], '=');
		snprintf(key, sizeof key, "%.*s", (int)(eq - x->kv[i]), x->kv[i]);
		if (rd_kafka_conf_set(conf, key, eq + 1, err, sizeof err)) {
			cli_error("-X %s: %s", x->kv[i], err);
			goto bad;
		}
	}
	rd_kafka_conf_set_log_cb(conf, kafka_log);
	return conf;
bad:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

int64_t kafka_msg_time(const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t tt;
	int64_t ms = rd_kafka_message_timestamp(m, &tt);
	return ms >= 0 && ms <= 253402300799999LL ? ms * 1000 : -1;
}

int kafka_name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

long long kafka_now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

volatile sig_atomic_t kafka_stop;
static struct sigaction old_int, old_term;

static void on_stop(int sig)
{
	(void)sig;
	kafka_stop = 1;
}

void kafka_signals(int on)
{
	if (on) {
		struct sigaction sa = { .sa_handler = on_stop };
		sigemptyset(&sa.sa_mask);
		kafka_stop = 0;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
	} else {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
}

/* ------------------------------------------------------------- status */

static int64_t wall_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* s as a JSON string into out (cap bytes; room for every byte escaped). */
static const char *q(const char *s, char *dst, size_t cap)
{
	size_t n = s ? strlen(s) : 0;
	if (6 * n + 3 > cap)
		n = (cap - 3) / 6;
	dst[eg_json_quote(s ? s : "", n, dst)] = 0;
	return dst;
}

void kafka_status_save(cli *c, kafka_status *s)
{
	char dir[4096], file[320];
	s->updated = wall_us();
	if (!s->started)
		s->started = s->updated;
	if (!s->pid)
		s->pid = getpid();
	snprintf(dir, sizeof dir, "%s/%s", c->dir, KAFKA_DIR);
	snprintf(file, sizeof file, "%s.%s.json", s->kind, s->name);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		cli_warn("cannot create %s: %s", dir, strerror(errno));
		return;
	}
	char a[6 * 300 + 3], b[6 * 1024 + 3], t[6 * 1024 + 3], e[6 * 512 + 3], st[6 * 16 + 3];
	char *text = NULL;
	int n = asprintf(&text,
			 "{\"kind\":\"%s\",\"name\":%s,\"brokers\":%s,\"topics\":%s,\"state\":%s,"
			 "\"pid\":%lld,\"started\":%lld,\"updated\":%lld,\"messages\":%llu,"
			 "\"last_error\":%s,\"last_error_at\":%lld}\n",
			 s->kind, q(s->name, a, sizeof a), q(s->brokers ? s->brokers : "", b, sizeof b),
			 q(s->topics ? s->topics : "", t, sizeof t), q(s->state, st, sizeof st),
			 s->pid, (long long)s->started, (long long)s->updated,
			 (unsigned long long)s->messages, q(s->last_error, e, sizeof e),
			 (long long)s->last_error_at);
	if (n < 0) {
		cli_warn("out of memory writing %s/%s", dir, file);
		return;
	}
	if (eg_os_write_file_atomic_mode(dir, file, text, (size_t)n, 0644))
		cli_warn("cannot write %s/%s: %s", dir, file, strerror(errno));
	free(text);
}

void kafka_status_error(cli *c, kafka_status *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
	va_end(ap);
	s->last_error_at = wall_us();
	kafka_status_save(c, s);
}

int cmd_kafka(cli *c)
{
	static const cli_sub subs[] = {
		{ "export", kafka_export, 0 },
		{ "import", kafka_import, 0 },
		{ "status", kafka_status_cmd, 0 },
	};
	return cli_subcommand(c, "kafka", subs, sizeof subs / sizeof *subs);
}
