/*
 * sqlite.h — SQLite as src/sql/ sees it.  In libengram and the engram
 * command, the linked library (sqlite3.h); in the loadable extension
 * (build with -DEG_SQL_EXTENSION), the routines the loading program hands
 * over (sqlite3ext.h), so that the extension uses that program's SQLite.
 */
#ifndef EG_SQL_SQLITE_H
#define EG_SQL_SQLITE_H

#ifdef EG_SQL_EXTENSION
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
#else
#include <sqlite3.h>
#endif

#endif
