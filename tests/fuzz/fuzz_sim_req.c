/* fuzz_sim_req: libFuzzer target for the CoolSMS simulator's request body parser (sim_req). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_field(const sim_jfield *f)
{
    if ((f->kind == SIM_J_STRING) != (f->s != NULL) || (f->s != NULL && f->s[f->len] != '\0'))
        abort();
}

/*
 * Input: a request body (allocated at its exact size). Oracle: a parsed request's records
 * hold only terminated strings of the length they claim, customFields entries lie inside
 * the request's table and their keys are unique per message; a failed parse says why.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];
    char *body = malloc(size > 0 ? size : 1);
    sim_req *r;
    size_t i, j, k;

    if (body == NULL)
        abort();
    memcpy(body, data, size);
    why[0] = '\0';
    r = sim_req_parse(body, size, why, sizeof(why));
    if (r == NULL) {
        if (why[0] == '\0' || memchr(why, '\0', sizeof(why)) == NULL)
            abort();
        free(body);
        return 0;
    }
    for (i = 0; i < sim_req_count(r); i++) {
        const sim_req_msg *m = sim_req_at(r, i);
        const sim_req_kv *cf;

        if (!m->is_object)
            continue;
        check_field(&m->to);
        check_field(&m->from);
        check_field(&m->text);
        check_field(&m->subject);
        check_field(&m->type);
        check_field(&m->pf_id);
        check_field(&m->template_id);
        if (m->ncf > SIM_REQ_CF_KEEP || m->ncf > m->cf_distinct)
            abort();
        cf = sim_req_cf(r, m);
        for (j = 0; j < m->ncf; j++) {
            check_field(&cf[j].val);
            for (k = 0; k < j; k++)
                if (strcmp(cf[j].key, cf[k].key) == 0)
                    abort();
        }
        (void)sim_req_cf_get(r, m, "jobId");
    }
    check_field(sim_req_allow_duplicates(r));
    check_field(sim_req_scheduled_date(r));
    sim_req_free(r);
    free(body);
    return 0;
}
