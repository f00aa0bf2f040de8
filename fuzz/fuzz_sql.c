/*
 * fuzz_sql.c — libFuzzer target for SQL over the log (src/sql/).  The input
 * is a WHERE clause.  On a small store (made once, in $TMPDIR), the
 * positions it selects from the events table, whose conditions are pushed
 * down to engram's indexes, must be those it selects from a plain TEMP
 * table holding the same rows, whenever both statements run (a clause that
 * fails to prepare, or runs past a budget of steps, is skipped).  The input
 * also goes whole to eg_sql_declare, the scanner that runs before every
 * statement engram sql prepares.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* strcasestr */
#endif
#include "engram.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)
#define MAX_ROWS 512
#define BUDGET 200000   /* VDBE steps per statement */

static sqlite3 *db;
static eg_store *st;
static char store_dir[512];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

static void remove_store(void)
{
	sqlite3_close(db);
	eg_store_close(st);
	nftw(store_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *const EVENTS[] = {
	"{\"id\":\"a1\",\"stream\":\"acct-1\",\"type\":\"deposit\",\"time\":\"2025-01-01T10:00:00Z\",\"actor\":\"u:1\",\"data\":{\"amount\":5}}",
	"{\"id\":\"a2\",\"stream\":\"acct-1\",\"type\":\"withdrawal\",\"time\":\"2025-01-01T11:30:00.5Z\",\"data\":{\"amount\":2.5}}",
	"{\"id\":\"a3\",\"stream\":\"acct-2\",\"type\":\"deposit\",\"time\":\"2025-01-02T00:00:00Z\",\"session\":\"s1\",\"data\":{\"amount\":7},\"meta\":{\"t\":1}}",
	"{\"id\":\"m1\",\"stream\":\"cpu\",\"type\":\"load\",\"kind\":\"metric\",\"time\":\"2025-01-01T09:00:00Z\",\"data\":{\"value\":0.5}}",
	"{\"id\":\"e1\",\"type\":\"crash\",\"kind\":\"error\",\"time\":\"2024-12-31T23:59:59.999999Z\",\"data\":{\"message\":\"m\"}}",
	"{\"id\":\"a4\",\"stream\":\"acct-2\",\"type\":\"fee\",\"time\":\"2025-01-02T00:00:00Z\",\"data\":{\"amount\":1}}",
	"{\"id\":\"a5\",\"stream\":\"ACCT-1\",\"type\":\"Deposit\",\"time\":1735725600000,\"data\":{\"amount\":\"9\"}}",
	"{\"stream\":\"acct-3\",\"type\":\"deposit\",\"time\":\"2025-01-03T08:00:00+02:00\",\"actor\":\"\",\"data\":{\"amount\":-3}}",
};

static void make_store(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(store_dir, sizeof store_dir, "%s/fuzz_sql.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(store_dir));
	atexit(remove_store);
	CHECK(eg_store_open(&st, store_dir, EG_OPEN_WRITE | EG_OPEN_CREATE, NULL) == EG_OK);
	/* Three batches, so that record time differs along the log. */
	for (int b = 0; b < 3; b++) {
		eg_batch *bt;
		eg_batch_opts o = { .sync = EG_SYNC_NONE, .expect_version = -1 };
		CHECK(eg_batch_begin(st, &bt, &o) == EG_OK);
		for (size_t i = 0; i < sizeof EVENTS / sizeof *EVENTS; i++) {
			char line[512];
			const char *e = EVENTS[i];
			if (b && strstr(e, "\"id\":\"")) {   /* new ids in later batches */
				snprintf(line, sizeof line, "{\"id\":\"b%d-%zu\",%s", b, i, strchr(e, ',') + 1);
				e = line;
			}
			CHECK(eg_batch_add_json(bt, e, strlen(e)) == EG_OK);
		}
		CHECK(eg_batch_commit(bt, NULL) == EG_OK);
		usleep(2000);
	}
	CHECK(eg_sql_open(st, &db) == EG_OK);
	CHECK(sqlite3_exec(db, "CREATE TEMP TABLE plain AS SELECT pos, id, stream, version, type, "
			   "kind, time, recorded, actor, session, data, meta, time_us, recorded_us "
			   "FROM events", NULL, NULL, NULL) == SQLITE_OK);
}

static int over_budget(void *ctx)
{
	return ++*(int *)ctx > BUDGET / 1000;
}

/* The positions a query selects, in order; -1 when it does not run to
 * its end within the budget. */
static int positions(const char *sql, sqlite3_int64 *out)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK || !s)
		return -1;
	int ticks = 0, n = 0, rc;
	sqlite3_progress_handler(db, 1000, over_budget, &ticks);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < MAX_ROWS)
		out[n++] = sqlite3_column_int64(s, 0);
	sqlite3_progress_handler(db, 0, NULL, NULL);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : -1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (!db)
		make_store();
	if (size > 2000)
		return 0;
	char *clause = malloc(size + 1);
	CHECK(clause);
	memcpy(clause, data, size);
	clause[size] = 0;
	char *renamed = NULL;
	int shift = 0;
	(void)eg_sql_declare(db, clause, (int)size, &renamed, &shift);
	sqlite3_free(renamed);
	/* One statement each (a ';' would start another), and nothing that
	 * answers differently from one run to the next. */
	if (!strchr(clause, ';') && strlen(clause) == size && !strcasestr(clause, "random") &&
	    !strcasestr(clause, "changes") && !strcasestr(clause, "insert_rowid")) {
		char *a = sqlite3_mprintf("SELECT pos FROM events WHERE %s ORDER BY pos", clause);
		char *b = sqlite3_mprintf("SELECT pos FROM plain WHERE %s ORDER BY pos", clause);
		static sqlite3_int64 pa[MAX_ROWS], pb[MAX_ROWS];
		int na = positions(a, pa), nb = na >= 0 ? positions(b, pb) : -1;
		if (na >= 0 && nb >= 0) {
			CHECK(na == nb);
			CHECK(memcmp(pa, pb, (size_t)na * sizeof *pa) == 0);
		}
		sqlite3_free(a);
		sqlite3_free(b);
	}
	free(clause);
	return 0;
}
