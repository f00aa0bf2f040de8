/*
 * forget.c — engram forget SUBJECT and engram forget --list
 * (docs/FORGETTING.md): destroy a subject's keys so that its personal
 * values read null from then on, and list the subjects forgotten.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int list_one(void *ctx, const char *subject, size_t n, uint32_t key_id,
		    int64_t forgotten_at)
{
	out *o = ctx;
	out_row_begin(o);
	out_str(o, "subject", subject, n);
	out_u64(o, "key_id", key_id);
	out_time(o, "forgotten_at", forgotten_at);
	out_row_end(o);
	return out_error(o) ? -1 : 0;
}

static int forget_list(cli *c)
{
	int rc;
	eg_store *st = cli_open_read(c, &rc);
	if (!st)
		return rc;
	out *o = out_new(stdout, c->format);
	int r = eg_store_forgotten(st, list_one, o);
	rc = r > 0 ? EXIT_OK : r ? cli_fail(st, r) : EXIT_OK;
	eg_store_close(st);
	return out_finish(o, rc);
}

int cmd_forget(cli *c)
{
	int list = 0;
	opt opts[] = {
		{ "list", 0, NULL, &list },
		{ NULL, 0, NULL, NULL },
	};
	int rc = cli_parse(c, opts, 1);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (list && c->npos)
		return cli_usage_error(c, "--list takes no SUBJECT");
	if (list)
		return forget_list(c);
	if (c->npos != 1 || !*c->pos[0])
		return cli_usage_error(c, "forget needs the SUBJECT (the value of x-subject, "
				       "such as c2), or --list");
	eg_store *st = cli_open_write(c, 0, &rc);
	if (!st)
		return rc;
	eg_forget_result f;
	int r = eg_store_forget(st, c->pos[0], &f);
	if (r) {
		rc = cli_fail(st, r);
		cli_close(st, rc);
		return rc;
	}
	if (f.already)
		cli_warn("subject \"%s\" was forgotten before; derived state dropped again",
			 f.subject);
	out *o = out_new(stdout, c->format);
	out_row_begin(o);
	out_cstr(o, "subject", f.subject);
	out_u64(o, "key_id", f.key_id);
	out_u64(o, "keys", f.keys);
	out_time(o, "forgotten_at", f.forgotten_at);
	out_bool(o, "already", f.already);
	out_cstr(o, "dropped", f.dropped);
	out_row_end(o);
	cli_close(st, EXIT_OK);
	return out_finish(o, EXIT_OK);
}
