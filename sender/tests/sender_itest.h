/* sender_itest: what the sender's integration tests do alike (rows inserted for their ids). */
#ifndef SENDER_ITEST_H
#define SENDER_ITEST_H

#include <libpq-fe.h>

#include "mf_uuid.h"

/* Runs an INSERT ... RETURNING id (n parameters p) and writes the id as text into out
 * (MF_UUID_STR_SIZE bytes); fails the test unless the statement returned one row. */
void sender_itest_insert_id(PGconn *c, const char *sql, int n, const char *const *p, char *out);

#endif
