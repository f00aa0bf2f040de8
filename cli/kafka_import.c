/*
 * kafka_import.c — engram kafka import: Kafka topics into the store,
 * exactly once (docs/KAFKA-notes.md).  Being written (issue 25).
 */
#include "kafka.h"

int kafka_import(cli *c, int arg)
{
	(void)arg;
	return cli_usage_error(c, "kafka import is not built yet");
}
