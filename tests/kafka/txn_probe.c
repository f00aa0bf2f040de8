/*
 * txn_probe.c — does a broker (librdkafka's mock cluster, tests/kafka/mock.c)
 * do Kafka transactions as engram kafka export --transactional-id will need
 * them (issue 25, docs/KAFKA-notes.md)?  One transactional producer:
 *
 *   1. commits a transaction of 3 messages (keys "commit", values c1..c3)
 *      and, in it, a checkpoint message to TOPIC.engram-checkpoints and
 *      the offset OFFSET of TOPIC partition 0 for consumer group GROUP
 *      (rd_kafka_send_offsets_to_transaction);
 *   2. sends a transaction of 3 messages (keys "abort", values a1..a3) and
 *      a checkpoint that must not count to the brokers, then aborts it;
 *   3. reads GROUP's committed offset back through a consumer.
 *
 * Each step prints one line ("commit: ok", "committed offset: 42"...), so a
 * reader of the output can tell which one failed; kcat then checks what
 * read_committed and read_uncommitted consumers see.
 *
 * usage: txn_probe BROKERS TOPIC TRANSACTIONAL_ID GROUP OFFSET
 * (TRANSACTIONAL_ID "-": step 3 only, for a group that committed offsets
 * the ordinary way, to tell a probe that cannot read from a commit that
 * did not happen).
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(const char *step, rd_kafka_error_t *error)
{
	if (!error) {
		printf("%s: ok\n", step);
		return 0;
	}
	printf("%s: %s (%s)%s%s\n", step, rd_kafka_error_name(error), rd_kafka_error_string(error),
	       rd_kafka_error_is_fatal(error) ? " fatal" : "",
	       rd_kafka_error_txn_requires_abort(error) ? " abortable" : "");
	rd_kafka_error_destroy(error);
	return -1;
}

static int produce(rd_kafka_t *rk, const char *topic, const char *key, const char *value)
{
	rd_kafka_resp_err_t err = rd_kafka_producev(
		rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
		RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_HEADER("engram-pos", value, -1), RD_KAFKA_V_END);
	if (err)
		printf("produce %s: %s\n", value, rd_kafka_err2name(err));
	return err ? -1 : 0;
}

/* One transaction: the three messages, a checkpoint, and for a commit the
 * group's offset; committed or aborted as told. */
static int transaction(rd_kafka_t *rk, const char *topic, const char *cptopic, const char *group,
		       long offset, int commit)
{
	const char *key = commit ? "commit" : "abort";
	char value[32];
	if (check(commit ? "begin (commit)" : "begin (abort)", rd_kafka_begin_transaction(rk)))
		return -1;
	for (int i = 1; i <= 3; i++) {
		snprintf(value, sizeof value, "%c%d", key[0], i);
		if (produce(rk, topic, key, value))
			return -1;
	}
	snprintf(value, sizeof value, "checkpoint-%s", key);
	if (produce(rk, cptopic, "export-name", value))
		return -1;
	if (commit) {
		rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(offsets, topic, 0)->offset = offset;
		rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata_new(group);
		int rc = check("send_offsets_to_transaction",
			       rd_kafka_send_offsets_to_transaction(rk, offsets, cgmd, 10000));
		rd_kafka_consumer_group_metadata_destroy(cgmd);
		rd_kafka_topic_partition_list_destroy(offsets);
		if (rc)
			return -1;
		return check("commit", rd_kafka_commit_transaction(rk, 10000));
	}
	/* Sent first: an abort purges the messages still queued, and the
	 * brokers would never see what the abort is meant to hide. */
	rd_kafka_resp_err_t err = rd_kafka_flush(rk, 10000);
	printf("flush before abort: %s\n", err ? rd_kafka_err2name(err) : "ok");
	return check("abort", rd_kafka_abort_transaction(rk, 10000));
}

/* The offset GROUP has committed for TOPIC partition 0, asked of the
 * group coordinator by a consumer that joins nothing. */
static void print_committed(const char *brokers, const char *topic, const char *group)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
	rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr);
	rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
	if (!c) {
		printf("consumer: %s\n", errstr);
		return;
	}
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, topic, 0);
	rd_kafka_resp_err_t err = rd_kafka_committed(c, parts, 10000);
	if (err)
		printf("committed offset: %s\n", rd_kafka_err2name(err));
	else
		printf("committed offset: %ld\n", (long)parts->elems[0].offset);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: txn_probe BROKERS TOPIC TRANSACTIONAL_ID GROUP OFFSET\n");
		return 2;
	}
	const char *brokers = argv[1], *topic = argv[2], *txnid = argv[3], *group = argv[4];
	long offset = atol(argv[5]);
	char cptopic[256], errstr[512];
	snprintf(cptopic, sizeof cptopic, "%s.engram-checkpoints", topic);
	if (!strcmp(txnid, "-")) {
		print_committed(brokers, topic, group);
		return 0;
	}

	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) ||
	    rd_kafka_conf_set(conf, "transactional.id", txnid, errstr, sizeof errstr)) {
		fprintf(stderr, "txn_probe: %s\n", errstr);
		return 2;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!rk) {
		fprintf(stderr, "txn_probe: %s\n", errstr);
		return 1;
	}
	int rc = check("init_transactions", rd_kafka_init_transactions(rk, 10000));
	if (!rc)
		rc = transaction(rk, topic, cptopic, group, offset, 1);
	if (!rc)
		rc = transaction(rk, topic, cptopic, group, offset, 0);
	rd_kafka_flush(rk, 10000);
	rd_kafka_destroy(rk);
	if (!rc)
		print_committed(brokers, topic, group);
	return rc ? 1 : 0;
}
