/*
 * kafka_status.c — engram kafka status: each export and import, its
 * checkpoint, lag and last error.  Being written (issue 25).
 */
#include "kafka.h"

int kafka_status_cmd(cli *c, int arg)
{
	(void)arg;
	return cli_usage_error(c, "kafka status is not built yet");
}
