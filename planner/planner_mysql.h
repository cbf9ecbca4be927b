/* planner_mysql: the planner's MySQL settings and a variable query's first value. */
#ifndef PLANNER_PLANNER_MYSQL_H
#define PLANNER_PLANNER_MYSQL_H

#include <stddef.h>

#include "mf_buf.h"
#include "mf_log.h"
#include "mf_mysql.h"
#include "planner_config.h"

/* Shared by the run expansion (expand.c), the event consumer (events.c) and the idle probe
 * (planner.c), which connect to the same customers' database. */

/* The connection settings of cfg's MySQL with connect_timeout_s and cfg's statement time
 * limit into out (every other field zero). The strings stay cfg's, log the caller's. */
void planner_mysql_config(const planner_config *cfg, mf_log *log, unsigned connect_timeout_s,
                          mf_mysql_config *out);

/* The first row's value of one column of a variable query, appended to out with its
 * terminator. Borrowed: column, out. */
typedef struct planner_first_value {
    const char *column; /* NULL: the first column */
    mf_buf *out;
    size_t max;            /* longest value taken (SIZE_MAX: any) */
    unsigned long too_big; /* the value's length when it was longer than max, else 0 */
    int got, has;          /* rows seen; 1 when a value was appended */
} planner_first_value;

/* mf_mysql row callback (arg: a planner_first_value): takes the first row's value when the
 * column exists and the value is non-NULL, valid UTF-8 and at most max bytes; the other rows
 * are drained (stopping early would drop the connection). Always returns 0. */
int planner_first_value_cb(const mf_mysql_row *row, void *arg);

#endif
