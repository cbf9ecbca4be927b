/* sender_gate: opt-outs and the advertising frequency cap, one PostgreSQL call per batch. */
#include <string.h>

#include "mf_pgarr.h"
#include "sender_ctx.h"
#include "sender_gate.h"
#include "sender_rules.h"

/* clang-format off */
static const char GATE_SQL[] =
    "SELECT job_id, code, message FROM mf_send_gate($1::uuid[], $2::text[], $3::uuid[], "
    "$4::boolean[])";
/* clang-format on */

/* 1 when the slot's template is an advertising one (category promotion). */
static int is_ad(sender_ctx *s, const sender_slot *sl)
{
    const sender_template *t = sender_catalog_template(s->cat, &sl->job.tpl);

    return t != NULL && strcmp(t->category, "promotion") == 0;
}

static int wants_gate(const sender_slot *sl)
{
    return sl->state == SLOT_SEND && !sl->fresh;
}

/* Fills the four array literals with the slots still to send; *n gets their count. */
static int fill_arrays(sender_ctx *s, mf_pgarr *a, size_t *n, mf_err *err)
{
    *n = 0;
    for (size_t i = s->claim_next; i < s->n; i++) {
        sender_slot *sl = &s->slots[i];

        if (!wants_gate(sl))
            continue;
        if (mf_pgarr_add_uuid(&a[0], &sl->job.id, err) != 0 ||
            mf_pgarr_add(&a[1], sl->job.to, err) != 0 ||
            mf_pgarr_add_uuid(&a[2], &sl->job.wf, err) != 0 ||
            mf_pgarr_add(&a[3], is_ad(s, sl) ? "t" : "f", err) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

/* A refused job: failed before sending, with the gate's code and message. */
static void refuse(sender_ctx *s, sender_slot *sl, const char *code, const char *msg)
{
    sl->state = SLOT_FAILED;
    sl->st = MF_RESULT_FAILED;
    sl->ch = MF_TYPE_NONE;
    sl->code = strcmp(code, SENDER_CODE_OPTED_OUT) == 0          ? SENDER_CODE_OPTED_OUT
               : strcmp(code, SENDER_CODE_FREQUENCY_CAPPED) == 0 ? SENDER_CODE_FREQUENCY_CAPPED
                                                                 : SENDER_CODE_BAD_CONFIG;
    sl->msg = sender_arena_strdup(&s->arena, msg);
}

static int apply_rows(sender_ctx *s, PGresult *res, long *refused, mf_err *err)
{
    int rows = PQntuples(res);

    *refused = 0;
    for (int r = 0; r < rows; r++) {
        mf_uuid id;
        sender_slot *sl;

        if (mf_uuid_parse(PQgetvalue(res, r, 0), &id, err) != 0)
            return -1;
        sl = sender_ctx_slot_by_id(s, &id);
        if (sl == NULL || !wants_gate(sl))
            continue;
        refuse(s, sl, PQgetvalue(res, r, 1), PQgetvalue(res, r, 2));
        (*refused)++;
    }
    return 0;
}

int sender_gate_apply(sender_ctx *s, mf_err *err)
{
    mf_pgarr a[4];
    const char *params[4];
    PGresult *res = NULL;
    size_t n = 0;
    long refused = 0;
    int rc = -1;

    for (int k = 0; k < 4; k++)
        mf_pgarr_init(&a[k]);
    if (fill_arrays(s, a, &n, err) != 0)
        goto out;
    if (n == 0) {
        rc = 0;
        goto out;
    }
    for (int k = 0; k < 4; k++)
        if ((params[k] = mf_pgarr_finish(&a[k], err)) == NULL)
            goto out;
    res = mf_pg_query(s->pg, GATE_SQL, 4, params, err);
    if (res == NULL || apply_rows(s, res, &refused, err) != 0)
        goto out;
    if (refused > 0)
        MF_LOG(s->log, MF_LOG_INFO, "jobs refused before sending (opt-out or frequency cap)",
               MF_KV_I("refused", refused), MF_KV_I("checked", (long long)n));
    rc = 0;
out:
    PQclear(res);
    for (int k = 0; k < 4; k++)
        mf_pgarr_free(&a[k]);
    return rc;
}
