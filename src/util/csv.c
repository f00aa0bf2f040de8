/*
 * csv.c — reading CSV (csv.h).
 */
#include "csv.h"

void eg_csv_begin(csv *c, const char *p, const char *end)
{
	memset(c, 0, sizeof *c);
	c->p = p;
	c->end = end;
	c->next_line = 1;
	/* a UTF-8 byte-order mark is not part of the first field */
	if (end - p >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		c->p += 3;
}

static int fail(csv *c, const char *why)
{
	c->why = why;
	c->why_line = c->line;        /* where the record starts */
	return -1;
}

static int end_field(csv *c)
{
	if (buf_grow(&c->off, &c->cap, c->nf + 2, sizeof *c->off))
		return fail(c, "out of memory");
	c->off[++c->nf] = c->text.n;
	return 0;
}

int eg_csv_next(csv *c)
{
	/* skip blank lines */
	while (c->p < c->end && (*c->p == '\n' || (*c->p == '\r' && c->p + 1 < c->end &&
						   c->p[1] == '\n'))) {
		c->p += *c->p == '\r' ? 2 : 1;
		c->next_line++;
	}
	if (c->p >= c->end)
		return 0;
	c->line = c->next_line;
	c->text.n = 0;
	c->nf = 0;
	if (buf_grow(&c->off, &c->cap, 2, sizeof *c->off))
		return fail(c, "out of memory");
	c->off[0] = 0;
	for (;;) {
		const char *p = c->p;
		if (p < c->end && *p == '"') {
			/* quoted: up to the quote that is not doubled */
			for (p++;; p++) {
				if (p >= c->end)
					return fail(c, "a quoted field is not closed before the end of the file");
				if (*p == '"') {
					if (p + 1 < c->end && p[1] == '"') {
						if (buf_add(&c->text, "\"", 1))
							return fail(c, "out of memory");
						p++;
						continue;
					}
					break;
				}
				if (*p == '\n')
					c->next_line++;
				if (buf_add(&c->text, p, 1))
					return fail(c, "out of memory");
			}
			p++;
			if (p < c->end && *p != ',' && *p != '\n' && !(*p == '\r' && p + 1 < c->end && p[1] == '\n'))
				return fail(c, "expected a comma or the end of the line after a closing quote");
		} else {
			const char *s = p;
			while (p < c->end && *p != ',' && *p != '\n' &&
			       !(*p == '\r' && p + 1 < c->end && p[1] == '\n')) {
				if (*p == '"')
					return fail(c, "a quote inside a field that does not start with one "
						    "(quote the whole field and double the quote)");
				p++;
			}
			if (buf_add(&c->text, s, (size_t)(p - s)))
				return fail(c, "out of memory");
		}
		if (end_field(c))
			return -1;
		if (p < c->end && *p == ',') {
			c->p = p + 1;
			continue;
		}
		if (p < c->end)
			p += *p == '\r' ? 2 : 1;
		c->next_line++;
		c->p = p;
		return 1;
	}
}

void eg_csv_free(csv *c)
{
	free(c->text.p);
	free(c->off);
	memset(c, 0, sizeof *c);
}
