/*
 * warn.c — warnings about mistakes that would otherwise pass in silence:
 * an event type the store has never seen, named in a spec or an option,
 * and the nearest name to a mistyped one ("did you mean").
 * The command still runs and exits 0; the warning goes to stderr so that
 * the user who misspelled "deposit" learns why the answer is empty.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* The store's type names, in name order. */
typedef struct known {
	char **name;
	size_t n, cap;
	int failed;
} known;

static int add_known(void *ctx, const char *name, size_t len, uint64_t count, uint64_t version)
{
	(void)count, (void)version;
	known *k = ctx;
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 16;
		char **p = realloc(k->name, cap * sizeof *p);
		if (!p)
			return k->failed = 1;
		k->name = p;
		k->cap = cap;
	}
	if (!(k->name[k->n] = strndup(name, len)))
		return k->failed = 1;
	k->n++;
	return 0;
}

/* Edit distance counting a swap of two neighbours as one edit ("raed",
 * "deposti"), up to 64 bytes a side (longer: "far"). */
static size_t distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	if (n > 64 || m > 64)
		return SIZE_MAX;
	unsigned char d[65][65];
	for (size_t i = 0; i <= n; i++)
		d[i][0] = (unsigned char)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (unsigned char)j;
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			unsigned best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1u < best)
				best = d[i - 1][j] + 1u;
			if (d[i][j - 1] + 1u < best)
				best = d[i][j - 1] + 1u;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1u < best)
				best = d[i - 2][j - 2] + 1u;
			d[i][j] = (unsigned char)best;
		}
	return d[n][m];
}

const char *cli_nearest(const char *t, const char *const *names, size_t n)
{
	const char *best = NULL;
	size_t bd = SIZE_MAX, len = strlen(t), limit = 1 + len / 5;
	for (size_t i = 0; i < n; i++) {
		size_t d = distance(t, names[i]);
		if (len >= 2 && !strncmp(names[i], t, len))
			d = 1;   /* the start of a name: "cons" for consume */
		if (d < bd) {
			bd = d;
			best = names[i];
		}
	}
	return bd <= limit ? best : NULL;
}

/* How many known types a warning lists before "and N more". */
#define LIST_MAX 10

static void warn_unknown(const known *k, const char *t, const char *where)
{
	char list[1024];
	size_t at = 0;
	for (size_t i = 0; i < k->n && i < LIST_MAX && at < sizeof list; i++)
		at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", k->name[i]);
	if (k->n > LIST_MAX && at < sizeof list)
		snprintf(list + at, sizeof list - at, " and %zu more", k->n - LIST_MAX);
	const char *near = cli_nearest(t, (const char *const *)k->name, k->n);
	cli_warn("%s: type '%s' never occurs in the store (its types: %s)%s%s%s", where, t, list,
		 near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
}

/* Does every type occur?  One lookup each: the list of the store's types
 * (a read of every key, streams too) is wanted only for a warning. */
static int all_known(eg_store *st, const char *const *types, size_t n)
{
	uint64_t count;
	for (size_t i = 0; i < n; i++)
		if (eg_store_key(st, EG_KEYS_TYPES, types[i], strlen(types[i]), &count) != EG_OK)
			return 0;
	return 1;
}

void cli_warn_unused_path(const char *spec, const char *what, const char *name,
			  const char *took, const char *path, uint64_t used, uint64_t missing,
			  uint64_t not_number)
{
	if (path && !used && missing + not_number)
		cli_warn("%s: %s '%s': none of the %llu events %s has %s at %s", spec, what, name,
			 (unsigned long long)(missing + not_number), took,
			 not_number ? "a number" : "a value", path);
}

void cli_warn_types(eg_store *st, const char *where, const char *const *types, size_t n)
{
	known k = { 0 };
	if (all_known(st, types, n))
		return;
	if (eg_store_keys(st, EG_KEYS_TYPES, add_known, &k) || k.failed || k.n == 0)
		goto out;   /* an empty store: every answer is empty, and plainly so */
	for (size_t i = 0; i < n; i++) {
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = !strcmp(types[i], types[j]);
		for (size_t j = 0; j < k.n && !seen; j++)
			seen = !strcmp(types[i], k.name[j]);
		if (!seen)
			warn_unknown(&k, types[i], where);
	}
out:
	for (size_t i = 0; i < k.n; i++)
		free(k.name[i]);
	free(k.name);
}

int cli_subcommand(cli *c, const char *cmd, const cli_sub *subs, size_t n)
{
	const char *sub = c->argc > 0 ? c->argv[0] : NULL;
	const char *names[32];
	char list[512] = "";
	size_t len = 0;
	for (size_t i = 0; i < n && i < 32; i++) {
		names[i] = subs[i].name;
		len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s",
					i == 0 ? "" : i + 1 == n ? " or " : ", ", subs[i].name);
	}
	if (!sub || sub[0] == '-') {
		if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h")))
			return cli_help_cmd(stdout, cmd) ? EXIT_USAGE : EXIT_OK;
		return cli_usage_error(c, "expected a subcommand: %s", list);
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(sub, subs[i].name))
			return subs[i].run(c, subs[i].arg);
	const char *near = cli_nearest(sub, names, n < 32 ? n : 32);
	return cli_usage_error(c, "unknown subcommand \"%s\"%s%s%s", sub,
			       near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
}
