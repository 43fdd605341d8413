#include <postgresql/libpq-fe.h>

/* Notices (NOTICE, WARNING) from the server are not printed on standard error. */
static void journey_pq_quiet_notice(void *arg, const char *message) { (void)arg; (void)message; }
static inline void journey_pq_quiet(PGconn *conn) { PQsetNoticeProcessor(conn, journey_pq_quiet_notice, 0); }
