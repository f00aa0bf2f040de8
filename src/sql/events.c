#include "sql.h"
int eg_sql_register_events(sqlite3 *db, eg_sql_conn *c)
{
	(void)db, (void)c;
	return SQLITE_OK;
}
int eg_sql_register_ext(sqlite3 *db) { (void)db; return SQLITE_OK; }
