/* sim_send: per-message validation shared by send-many and group adds. */
#ifndef SIM_SEND_H
#define SIM_SEND_H

#include "mf_phone.h"
#include "sim.h"
#include "sim_req.h"

/* Outcome of one requested message. */
typedef struct sim_verdict {
    const sim_req_msg *src; /* the request's message (borrowed) */
    const char *fail_code;  /* NULL when accepted; a table string or fail_code_buf */
    char fail_code_buf[SIM_CODE_LEN];
    char fail_msg[256];
    char to[MF_PHONE_MAX]; /* normalised, or the raw value cut to fit when invalid */
    const char *type;      /* "SMS", ... or the raw type when invalid */
    char id[SIM_ID_LEN + 1];
} sim_verdict;

/* Validate the n messages of req into v (calloc'd by the caller): fields, numbers, sender,
 * customFields, type and lengths, then (dup_check) 1026 for a number repeated in the
 * request, then permanent_fail_ratio. Returns 0, or -1 (out of memory, err set). */
int sim_validate_messages(sim_ctx *ctx, const sim_knobs *k, sim_req *req, sim_verdict *v, size_t n,
                          int dup_check, mf_err *err);
/* Mark v as failed with a table code (and optional detail). */
void sim_verdict_fail(sim_verdict *v, sim_code_id id, const char *detail);
/* A ledger record for v (its id assigned now if it has none): created at now_ms; state
 * PENDING (or REJECTED with the fail code). The caller sets state/lifecycle for sends. */
void sim_verdict_record(sim_ctx *ctx, const sim_req *req, sim_verdict *v, int64_t now_ms,
                        sim_new_msg *nm);
/* Append the customFields of a request message (as given) or {}. */
int sim_append_req_cf(const sim_req *req, const sim_req_msg *m, mf_buf *b, mf_err *err);

#endif
