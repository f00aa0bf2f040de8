/*
 * fuzz_prometheus.c — libFuzzer target for the prometheus text converter
 * (src/util/metrictext.c): the input is the text; see metrictext_check.h
 * for what must hold.
 * Inputs with a "# EOF" line take the OpenMetrics path.
 */
#include "metrictext_check.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	check_conv(eg_mt_prometheus, (const char *)data, size);
	return 0;
}
