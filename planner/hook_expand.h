/* hook_expand: what a webhook-triggered run adds to its expansion. */
/* The call's variables and its recipients or customer keys. */
#ifndef PLANNER_HOOK_EXPAND_H
#define PLANNER_HOOK_EXPAND_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "mf_buf.h"
#include "mf_codec.h"
#include "mf_err.h"
#include "mf_mysql.h"

/* The mf_webhook_runs row of a run (present = 0 for every other run). Owned: hook_expand_free. */
typedef struct hook_run {
    int present;
    json_t *variables;  /* object name -> string */
    json_t *recipients; /* array of normalised phones, or NULL */
    json_t *keys;       /* array of customer keys (strings), or NULL */
} hook_run;

/* Load run_id's webhook data into out. 0 (present or not), or -1 with err (database). */
int hook_expand_load(PGconn *conn, const char *run_id, hook_run *out, mf_err *err);

void hook_expand_free(hook_run *h);

/* Number of variables the call carries (0 for other runs). */
size_t hook_expand_nvars(const hook_run *h);

/* The call's variables take precedence over the n resolved ones in kv (cap entries): a
 * variable of the same name gets the call's value, others are appended. Returns the new
 * count. The values are borrowed from h. */
size_t hook_expand_merge(const hook_run *h, mf_codec_kv *kv, size_t n, size_t cap);

/* The target query restricted to one customer key, as a prepared statement's text:
 *   SELECT * FROM (<query>) AS mf_hook WHERE mf_hook.`<key_column>` = ?
 * The key is always bound, never spliced. Into out (reset first). 0, or -1 with err. */
int hook_expand_key_sql(const char *query, const char *key_column, mf_buf *out, mf_err *err);

/* A target row for recipient phone: the columns phone_column and key_column (one column
 * when they are the same) holding the phone. names/values/lengths are caller arrays of 2. */
void hook_expand_recipient_row(const char *phone, const char *phone_column, const char *key_column,
                               const char *names[2], const char *values[2],
                               unsigned long lengths[2], mf_mysql_row *row);

#endif
