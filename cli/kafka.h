/*
 * kafka.h — what engram kafka's subcommands share (cli/kafka_common.c):
 * librdkafka's configuration from --brokers and -X pairs, its log as
 * engram's warnings, the stop signals of --follow, and the status file
 * each export and import keeps for engram kafka status (docs/KAFKA.md).
 */
#ifndef ENGRAM_CLI_KAFKA_H
#define ENGRAM_CLI_KAFKA_H

#include "cli.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>

#define KAFKA_MAX_X 64      /* -X key=value pairs */
#define KAFKA_DIR "kafka"   /* the status files, under the store's directory */

/* -X key=value (librdkafka's configuration, as kcat takes it), taken out of
 * c->argv before the other options are parsed (a value may hold commas). */
typedef struct kafka_x {
	const char *kv[KAFKA_MAX_X];
	int n;
} kafka_x;

/* Take the -X pairs out of c->argv: 0, or a usage error's exit code. */
int kafka_take_x(cli *c, kafka_x *x);

/* A configuration with bootstrap.servers = brokers, then each base pair
 * (NULL-terminated key, value, key, value...: what engram needs), then the
 * -X pairs (which may override them), and engram's log callback.  NULL
 * after printing why (a bad -X names itself). */
rd_kafka_conf_t *kafka_conf(const char *brokers, const char *const *base, const kafka_x *x);

/* A producer or consumer on conf (taken: freed on failure too); NULL after
 * printing why. */
rd_kafka_t *kafka_client(rd_kafka_type_t type, rd_kafka_conf_t *conf);

/* The topic's partition count (metadata): >0; 0 when it does not exist and
 * missing_ok (quietly); else -1 after printing why. */
int32_t kafka_partitions(rd_kafka_t *rk, const char *topic, int missing_ok);

/* librdkafka's errors and warnings as engram's warnings. */
void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* A message's Kafka timestamp in microseconds since the epoch, or -1 when
 * it has none or one past the year 9999 (a producer's garbage). */
int64_t kafka_msg_time(const rd_kafka_message_t *m);

/* Is s 1 to max of [A-Za-z0-9._-] (an import's group, an export's name,
 * a topic)? */
int kafka_name_ok(const char *s, size_t max);

/* A monotonic clock in microseconds. */
long long kafka_now_us(void);

/* --follow: SIGINT and SIGTERM set kafka_stop (the command finishes what
 * is in flight, saves its progress and exits 0); kafka_signals(0) puts
 * the old handlers back. */
extern volatile sig_atomic_t kafka_stop;
void kafka_signals(int on);

/*
 * The status file of one export or import: DIR/kafka/KIND.NAME.json, one
 * JSON object written whole (tmp, fsync, rename) at start, every few
 * seconds while running, on an error and at the end, so that engram kafka
 * status can show a bridge that is not running, and its last error.
 * kind is "export" or "import"; name an export's name or an import's
 * group.  The fields are in struct order.
 */
typedef struct kafka_status {
	const char *kind, *name;
	const char *brokers, *topics;   /* topics: comma-separated */
	const char *state;              /* "running", "stopped" (exit 0), "failed" */
	long long pid;
	int64_t started, updated;       /* epoch microseconds (UTC) */
	uint64_t messages;              /* exported or imported by this run */
	char last_error[512];           /* "" when none */
	int64_t last_error_at;
} kafka_status;

/* Write s (updated set to now); a failure is a warning, never fatal: the
 * status is for people, the checkpoint is what counts. */
void kafka_status_save(cli *c, kafka_status *s);

/* Note an error in s (kept in last_error) and save it. */
void kafka_status_error(cli *c, kafka_status *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int kafka_export(cli *c, int arg);
int kafka_import(cli *c, int arg);
int kafka_status_cmd(cli *c, int arg);

#endif
