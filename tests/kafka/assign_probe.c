/*
 * assign_probe.c — can a consumer that never joins its group commit offsets
 * for it (issue 25, docs/KAFKA-notes.md)?  engram kafka import assigns its
 * partitions itself, at offsets read from the log, and commits to Kafka
 * only for monitoring.  Consumes TOPIC partition 0 from the beginning to its
 * end with rd_kafka_assign, commits the next offset synchronously, then a
 * second consumer reads GROUP's committed offset back.  One line per step.
 *
 * usage: assign_probe BROKERS TOPIC GROUP
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>

static rd_kafka_t *consumer(const char *brokers, const char *group)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
	rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr);
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
	rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof errstr);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
	if (!rk)
		fprintf(stderr, "assign_probe: %s\n", errstr);
	return rk;
}

/* Read partition 0 to its end; the next offset to read, or -1. */
static long read_to_end(rd_kafka_t *rk, const char *topic)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	long next = -1, n = 0;
	for (int polls = 0; polls < 200; polls++) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		int eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
		if (eof)
			next = (long)m->offset;
		else if (!m->err) {
			next = (long)m->offset + 1;
			n++;
		}
		rd_kafka_message_destroy(m);
		if (eof)
			break;
	}
	printf("read %ld messages, next offset %ld\n", n, next);
	return next;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: assign_probe BROKERS TOPIC GROUP\n");
		return 2;
	}
	rd_kafka_t *rk = consumer(argv[1], argv[3]);
	if (!rk)
		return 1;
	long next = read_to_end(rk, argv[2]);
	rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(offs, argv[2], 0)->offset = next;
	rd_kafka_resp_err_t err = rd_kafka_commit(rk, offs, 0);
	printf("commit without joining: %s\n", err ? rd_kafka_err2name(err) : "ok");
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);

	rd_kafka_t *c = consumer(argv[1], argv[3]);
	offs->elems[0].offset = RD_KAFKA_OFFSET_INVALID;
	err = rd_kafka_committed(c, offs, 10000);
	if (err)
		printf("committed offset: %s\n", rd_kafka_err2name(err));
	else
		printf("committed offset: %ld\n", (long)offs->elems[0].offset);
	rd_kafka_topic_partition_list_destroy(offs);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return 0;
}
