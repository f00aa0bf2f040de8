/*
 * fuzz_statsd.c — libFuzzer target for the statsd text converter
 * (src/util/metrictext.c): the input is the text; see metrictext_check.h
 * for what must hold.
 */
#include "metrictext_check.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	check_conv(eg_mt_statsd, (const char *)data, size);
	return 0;
}
