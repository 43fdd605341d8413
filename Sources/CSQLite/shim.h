#include <sqlite3.h>

/* sqlite3_config is variadic, which Swift cannot call: these wrap the settings the runtime uses.
   They must run before the first connection opens. */

/* Memory statistics off: SQLite then allocates without taking a global mutex each time. */
static inline int journey_sqlite3_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
