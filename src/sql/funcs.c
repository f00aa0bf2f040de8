/*
 * funcs.c — the table-valued functions over the engines.  (Being written.)
 */
#include "sql.h"

int eg_sql_register_funcs(sqlite3 *db, eg_sql_conn *c)
{
	(void)db, (void)c;
	return SQLITE_OK;
}

int eg_sql_declare(sqlite3 *db, const char *sql, int n)
{
	(void)db, (void)sql, (void)n;
	return SQLITE_OK;
}
