/*
 * compact.c — engram compact: seal (compress) every segment of the log that
 * is not sealed yet, the last one included, as the writer.  The library
 * does the work (eg_store_compact); this prints what it did.
 */
#include "cli.h"

#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int cmd_compact(cli *c)
{
	const char *bs = NULL, *lv = NULL;
	opt opts[] = {
		{ "block-size", 1, &bs, NULL }, { "level", 1, &lv, NULL }, { NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 0);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	eg_compact_opts co = { 0, 0 };
	uint64_t v;
	if (bs && (cli_size(bs, &v) || v < 4096 || v > (16u << 20)))
		return cli_usage_error(c, "--block-size: expected a size from 4k to 16M such as 256k");
	if (bs)
		co.block_size = (uint32_t)v;
	if (lv && (cli_u64(lv, &v) || v < 1 || v > 19))
		return cli_usage_error(c, "--level: expected a zstd level from 1 to 19");
	if (lv)
		co.level = (int)v;
	eg_store *st = cli_open_write(c, 0, &rc);
	if (!st)
		return rc;
	double t0 = now_s();
	eg_compact_result r;
	int e = eg_store_compact(st, &co, &r);
	double secs = now_s() - t0;
	if (e) {
		rc = cli_fail(st, e);
		eg_store_close(st);
		return rc;
	}
	out *o = out_new(stdout, c->format);
	out_row_begin(o);
	out_u64(o, "sealed", r.sealed);
	out_u64(o, "already_sealed", r.already);
	out_u64(o, "bytes_before", r.bytes_before);
	out_u64(o, "bytes_after", r.bytes_after);
	out_f64(o, "ratio", r.bytes_after ? (double)r.bytes_before / (double)r.bytes_after : 0);
	out_u64(o, "log_bytes", r.log_bytes);
	out_f64(o, "seconds", secs);
	out_row_end(o);
	rc = out_finish(o, EXIT_OK);
	cli_close(st, rc);
	return rc;
}
