/* sender_catalog: cached templates, workflow message_config and system_settings from PostgreSQL. */
#ifndef SENDER_CATALOG_H
#define SENDER_CATALOG_H

#include <stdint.h>

#include <libpq-fe.h>

#include "mf_err.h"
#include "mf_uuid.h"

/* A message_templates row (strings owned by the catalog, never NULL: "" when SQL NULL). */
typedef struct sender_template {
    const char *message_type; /* sms, lms, kakao */
    const char *category;     /* promotion, ... */
    const char *template_code;
    const char *content;
    const char *buttons; /* JSON array text */
    const char *invalid; /* NULL, or why no job may use it (over a bound of
                               * sender_rules_check_template; content is then "") */
} sender_template;

/* What the sender reads from workflows.message_config (NULL when absent). */
typedef struct sender_wfconf {
    const char *sender_number;
    const char *subject;
    const char *pf_id;
    int disable_sms;
    const char *ad_sender_name;
    const char *ad_opt_out;
    int quiet_hours;     /* 1 unless advertising.quiet_hours is false */
    double rate_per_min; /* rate_per_minute: the workflow's send rate, 0: none */
    const char *invalid; /* NULL, or why no job may use it (the subject over a bound;
                               * subject is then NULL) */
} sender_wfconf;

/* system_settings fallbacks (NULL when absent). */
typedef struct sender_settings {
    const char *sender_number; /* coolsms_sender_number */
    const char *pf_id;         /* kakao_pf_id */
} sender_settings;

typedef struct sender_catalog sender_catalog;

/* ttl_ms: how long an entry (found or not) is trusted. NULL when out of memory. */
sender_catalog *sender_catalog_new(long long ttl_ms);
void sender_catalog_free(sender_catalog *c);

/*
 * Make sure every template and workflow id given (duplicates allowed) has a fresh entry:
 * one query for all missing or expired templates, one for workflows, one for the settings
 * when expired (now_ms: a clock that never goes back; the sender passes monotonic ms).
 * Pointers returned by the getters stay valid until the next load.
 * Returns 0 or -1 with err (nothing is cached from a failed query). Out of memory is such an
 * error ("out of memory ..."), never a missing row or a NULL field.
 */
int sender_catalog_load(sender_catalog *c, PGconn *pg, const mf_uuid *tpl_ids, size_t ntpl,
                        const mf_uuid *wf_ids, size_t nwf, int64_t now_ms, mf_err *err);

/* NULL when the row does not exist (or was never loaded). */
const sender_template *sender_catalog_template(const sender_catalog *c, const mf_uuid *id);
const sender_wfconf *sender_catalog_workflow(const sender_catalog *c, const mf_uuid *id);
const sender_settings *sender_catalog_settings(const sender_catalog *c);

/* Number of queries run so far (for tests and metrics). */
unsigned long sender_catalog_queries(const sender_catalog *c);

#endif
