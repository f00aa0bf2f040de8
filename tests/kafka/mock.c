/*
 * mock.c — a librdkafka mock cluster in its own process, for the Kafka
 * bridge's tests (issue 25, docs/KAFKA-notes.md).  It starts a cluster of
 * brokers on loopback ports, creates the topics it is given, prints the
 * bootstrap servers as one line on stdout, then takes fault commands on
 * stdin, one a line, and answers each with "ok" or "error: ..." so that a
 * test script can wait for the fault to be in place before going on:
 *
 *   down B | up B              broker B stops / starts answering
 *   leader TOPIC PART B        partition PART's leader becomes broker B
 *   err KEY N CODE...          the next N requests of ApiKey KEY (Produce=0,
 *                              Fetch=1, ...) fail with the CODEs in turn
 *                              (a number or a name: NOT_LEADER_FOR_PARTITION,
 *                              _TRANSPORT disconnects); missing CODEs repeat
 *                              the last one
 *   clear KEY                  forget the errors pushed for KEY
 *   rtt B MS                   broker B answers MS milliseconds late
 *   topic NAME PARTS           create another topic (replication as -r)
 *   coord transaction|group KEY B   make broker B the coordinator of KEY
 *   quit                       (or end of input) stop the cluster, exit 0
 *
 * usage: mock [-b BROKERS] [-p PARTITIONS] [-r REPLICATION] TOPIC...
 * (defaults 3 brokers, 4 partitions, replication 3).
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ERRS 64

static int replication = 3;

/* A response code by number or by name (as rd_kafka_err2name spells it). */
static int parse_code(const char *s, rd_kafka_resp_err_t *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s && !*end) {
		*out = (rd_kafka_resp_err_t)v;
		return 0;
	}
	const struct rd_kafka_err_desc *descs;
	size_t n;
	rd_kafka_get_err_descs(&descs, &n);
	for (size_t i = 0; i < n; i++)
		if (descs[i].name && !strcasecmp(descs[i].name, s)) {
			*out = descs[i].code;
			return 0;
		}
	return -1;
}

/* The answer to one command: ok, or an error naming what went wrong. */
static void reply(rd_kafka_resp_err_t err, const char *what)
{
	if (err)
		printf("error: %s: %s\n", what, rd_kafka_err2name(err));
	else
		printf("ok\n");
	fflush(stdout);
}

static void cmd_err(rd_kafka_mock_cluster_t *mc, char **tok, int ntok)
{
	rd_kafka_resp_err_t errs[MAX_ERRS];
	int key = atoi(tok[1]), n = atoi(tok[2]), ncodes = ntok - 3;
	if (ntok < 4 || n <= 0 || n > MAX_ERRS) {
		reply(RD_KAFKA_RESP_ERR__INVALID_ARG, "err KEY N CODE...");
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *c = tok[3 + (i < ncodes ? i : ncodes - 1)];
		if (parse_code(c, &errs[i])) {
			reply(RD_KAFKA_RESP_ERR__INVALID_ARG, c);
			return;
		}
	}
	rd_kafka_mock_push_request_errors_array(mc, (int16_t)key, (size_t)n, errs);
	reply(0, "err");
}

/* One command line, split on blanks; returns 1 on quit. */
static int run_command(rd_kafka_mock_cluster_t *mc, char *line)
{
	char *tok[MAX_ERRS + 4];
	int ntok = 0;
	for (char *p = strtok(line, " \t\r\n"); p && ntok < MAX_ERRS + 4; p = strtok(NULL, " \t\r\n"))
		tok[ntok++] = p;
	if (ntok == 0)
		return 0;
	const char *c = tok[0];
	if (!strcmp(c, "quit"))
		return 1;
	if (!strcmp(c, "down") && ntok == 2)
		reply(rd_kafka_mock_broker_set_down(mc, atoi(tok[1])), "down");
	else if (!strcmp(c, "up") && ntok == 2)
		reply(rd_kafka_mock_broker_set_up(mc, atoi(tok[1])), "up");
	else if (!strcmp(c, "leader") && ntok == 4)
		reply(rd_kafka_mock_partition_set_leader(mc, tok[1], atoi(tok[2]), atoi(tok[3])), "leader");
	else if (!strcmp(c, "err"))
		cmd_err(mc, tok, ntok);
	else if (!strcmp(c, "clear") && ntok == 2) {
		rd_kafka_mock_clear_request_errors(mc, (int16_t)atoi(tok[1]));
		reply(0, "clear");
	} else if (!strcmp(c, "rtt") && ntok == 3)
		reply(rd_kafka_mock_broker_set_rtt(mc, atoi(tok[1]), atoi(tok[2])), "rtt");
	else if (!strcmp(c, "topic") && ntok == 3)
		reply(rd_kafka_mock_topic_create(mc, tok[1], atoi(tok[2]), replication), "topic");
	else if (!strcmp(c, "coord") && ntok == 4)
		reply(rd_kafka_mock_coordinator_set(mc, tok[1], tok[2], atoi(tok[3])), "coord");
	else
		reply(RD_KAFKA_RESP_ERR__INVALID_ARG, c);
	return 0;
}

int main(int argc, char **argv)
{
	int brokers = 3, partitions = 4, opt;
	while ((opt = getopt(argc, argv, "b:p:r:")) != -1) {
		if (opt == 'b')
			brokers = atoi(optarg);
		else if (opt == 'p')
			partitions = atoi(optarg);
		else if (opt == 'r')
			replication = atoi(optarg);
		else
			goto usage;
	}
	if (brokers < 1 || partitions < 1 || replication < 1 || replication > brokers)
		goto usage;

	/* The cluster needs a client handle for its book keeping only; its
	 * brokers run on their own thread and listen on loopback ports, so
	 * clients in other processes (kcat, engram) connect to them. */
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!rk) {
		fprintf(stderr, "mock: %s\n", errstr);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc) {
		fprintf(stderr, "mock: could not start the cluster\n");
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, argv[i], partitions, replication);
		if (err) {
			fprintf(stderr, "mock: topic %s: %s\n", argv[i], rd_kafka_err2str(err));
			return 1;
		}
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, stdin) > 0 && !run_command(mc, line))
		;
	free(line);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
usage:
	fprintf(stderr, "usage: mock [-b BROKERS] [-p PARTITIONS] [-r REPLICATION] TOPIC...\n");
	return 2;
}
