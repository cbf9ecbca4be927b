/* planner_mysql: the planner's MySQL settings and a variable query's first value. */
#include "planner_mysql.h"

#include <string.h>

void planner_mysql_config(const planner_config *cfg, mf_log *log, unsigned connect_timeout_s,
                          mf_mysql_config *out)
{
    memset(out, 0, sizeof(*out));
    out->host = cfg->mysql_host;
    out->port = (unsigned)cfg->mysql_port;
    out->user = cfg->mysql_user;
    out->password = cfg->mysql_password;
    out->db = cfg->mysql_db;
    out->connect_timeout_s = connect_timeout_s;
    out->query_time_limit_s = (unsigned)cfg->mysql_time_limit_s;
    out->log = log;
}

int planner_first_value_cb(const mf_mysql_row *row, void *arg)
{
    planner_first_value *fv = arg;
    unsigned col = 0;
    mf_err err;

    if (fv->got++)
        return 0; /* keep draining: stopping early would drop the connection */
    if (fv->column != NULL) {
        for (col = 0; col < row->ncols && strcmp(row->names[col], fv->column) != 0; col++)
            ;
        if (col == row->ncols)
            return 0;
    }
    if (row->values[col] == NULL || !mf_buf_utf8_valid(row->values[col], row->lengths[col]))
        return 0;
    if (row->lengths[col] > fv->max) {
        fv->too_big = row->lengths[col];
        return 0;
    }
    fv->has = mf_buf_append(fv->out, row->values[col], row->lengths[col], &err) == 0 &&
              mf_buf_append_char(fv->out, '\0', &err) == 0;
    return 0;
}
