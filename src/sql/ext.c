/*
 * ext.c — the loadable extension (build/lib/libengram_sqlite.so).
 */
#include "sql.h"

#ifdef EG_SQL_EXTENSION
SQLITE_EXTENSION_INIT1

int sqlite3_engramsqlite_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);
int sqlite3_extension_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

int sqlite3_engramsqlite_init(sqlite3 *db, char **err, const sqlite3_api_routines *api)
{
	(void)err;
	SQLITE_EXTENSION_INIT2(api);
	return eg_sql_register_ext(db);
}

int sqlite3_extension_init(sqlite3 *db, char **err, const sqlite3_api_routines *api)
{
	return sqlite3_engramsqlite_init(db, err, api);
}
#endif
