/*
 * fence_probe.c — does the mock cluster fence a zombie (issue 25,
 * docs/KAFKA-notes.md)?  Transactional export after a restart relies on
 * it: the new incarnation's init_transactions bumps the epoch of the
 * transactional id, so the old one (a process that was thought dead) can no
 * longer commit.  Producer A begins a transaction and sends a message;
 * producer B, with the same transactional.id, calls init_transactions; A's
 * commit must then fail with a fatal PRODUCER_FENCED (or
 * INVALID_PRODUCER_EPOCH), and B must commit its own.  One line per step.
 *
 * usage: fence_probe BROKERS TOPIC TRANSACTIONAL_ID
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

static rd_kafka_t *producer(const char *brokers, const char *txnid)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
	rd_kafka_conf_set(conf, "transactional.id", txnid, errstr, sizeof errstr);
	rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof errstr);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!rk)
		fprintf(stderr, "fence_probe: %s\n", errstr);
	return rk;
}

static int step(const char *what, rd_kafka_error_t *error)
{
	if (!error) {
		printf("%s: ok\n", what);
		return 0;
	}
	printf("%s: %s%s\n", what, rd_kafka_error_name(error), rd_kafka_error_is_fatal(error) ? " fatal" : "");
	rd_kafka_error_destroy(error);
	return -1;
}

static void send_one(rd_kafka_t *rk, const char *topic, const char *value)
{
	rd_kafka_resp_err_t err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
						    RD_KAFKA_V_VALUE((void *)value, strlen(value)),
						    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	printf("produce %s: %s\n", value, err ? rd_kafka_err2name(err) : "ok");
	rd_kafka_flush(rk, 5000);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: fence_probe BROKERS TOPIC TRANSACTIONAL_ID\n");
		return 2;
	}
	rd_kafka_t *a = producer(argv[1], argv[3]), *b = producer(argv[1], argv[3]);
	if (!a || !b)
		return 1;
	step("A init_transactions", rd_kafka_init_transactions(a, 10000));
	step("A begin", rd_kafka_begin_transaction(a));
	send_one(a, argv[2], "zombie");
	step("B init_transactions", rd_kafka_init_transactions(b, 10000));
	int fenced = step("A commit (must fail)", rd_kafka_commit_transaction(a, 10000)) != 0;
	step("B begin", rd_kafka_begin_transaction(b));
	send_one(b, argv[2], "successor");
	int ok = step("B commit", rd_kafka_commit_transaction(b, 10000)) == 0;
	printf("fenced: %s\n", fenced && ok ? "yes" : "no");
	rd_kafka_destroy(a);
	rd_kafka_destroy(b);
	return fenced && ok ? 0 : 1;
}
