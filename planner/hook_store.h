/* hook_store: the webhook endpoint's PostgreSQL statements. */
/* The workflow and its secret, the replay guard, idempotency and the run. */
#ifndef PLANNER_HOOK_STORE_H
#define PLANNER_HOOK_STORE_H

#include <stddef.h>

#include <libpq-fe.h>

#include "mf_err.h"
#include "mf_uuid.h"

#define HOOK_STORE_KNOWN_MAX 256
#define HOOK_STORE_SECRET_MAX 256

/* What the endpoint needs of a workflow. */
typedef struct hook_workflow {
    int found;
    char status[32]; /* "" when NULL */
    char trigger_type[32];
    int has_secret;
    char secret[HOOK_STORE_SECRET_MAX]; /* wiped by hook_store_workflow_wipe */
    /* variable names a call may set: the template's (content and subject) and the keys of
     * workflows.variables */
    char known[HOOK_STORE_KNOWN_MAX][65];
    size_t nknown;
} hook_workflow;

/* Load workflow wf_id (a uuid in text) into out (found = 0 when there is none). 0, or -1 with
 * err (database). */
int hook_store_workflow(PGconn *conn, const char *wf_id, hook_workflow *out, mf_err *err);

/* Overwrite the secret in memory. */
void hook_store_workflow_wipe(hook_workflow *wf);

/* One accepted call. Inputs are borrowed; outputs are filled by hook_store_trigger. */
typedef struct hook_trigger {
    const char *workflow_id;
    const char *sig_hex;         /* the request's signature (replay key) */
    const char *idem_key;        /* Idempotency-Key or NULL */
    const char *variables_json;  /* JSON object text */
    const char *recipients_json; /* JSON array text or NULL */
    const char *keys_json;       /* JSON array text or NULL */
    char run_id[MF_UUID_STR_SIZE];
    int existing; /* the Idempotency-Key named an earlier call: run_id is that call's run */
    int replay;   /* the signature was used before (and no Idempotency-Key matched) */
    int gone;     /* the workflow is no longer active and webhook-triggered */
} hook_trigger;

/*
 * In one transaction: an Idempotency-Key that is known returns its run; else the signature is
 * recorded (a signature seen already: replay = 1, nothing written), a workflow_runs row
 * ('running', trigger_type 'webhook') and its mf_webhook_runs row are inserted, and the key is
 * recorded. Concurrent calls with one key: the unique key decides, the loser returns the
 * winner's run and writes nothing. Signatures older than the window are purged on the way.
 * 0 (see the output flags), or -1 with err.
 */
int hook_store_trigger(PGconn *conn, hook_trigger *t, mf_err *err);

#endif
