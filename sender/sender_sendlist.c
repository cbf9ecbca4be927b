/* sender_sendlist: the jobs of a batch being sent and the scratch arrays of their statements. */
#include "sender_sendlist.h"

#include <stdlib.h>
#include <string.h>

#include "sender_ctx.h"

int sender_sendlist_init(sender_sendlist *st, sender_ctx *s, mf_err *err)
{
    size_t rs = (size_t)s->cfg->request_size, n = s->n ? s->n : 1;

    memset(st, 0, sizeof(*st));
    st->s = s;
    st->todo = calloc(n, sizeof(*st->todo));
    st->outs = calloc(n, sizeof(*st->outs));
    st->renew_ids = calloc(n, sizeof(*st->renew_ids));
    st->msgs = calloc(rs, sizeof(*st->msgs));
    st->ids = calloc(rs, sizeof(*st->ids));
    st->runs = calloc(rs, sizeof(*st->runs));
    st->kk = calloc(rs, sizeof(*st->kk));
    st->rel_as = calloc(n, sizeof(*st->rel_as));
    st->rel_code = calloc(n, sizeof(*st->rel_code));
    st->rel_msg = calloc(n, sizeof(*st->rel_msg));
    st->rel_buf = calloc(n, sizeof(*st->rel_buf));
    st->rel_gid = calloc(n, sizeof(*st->rel_gid));
    st->grows = calloc(n, sizeof(*st->grows));
    st->set_cap = 16;
    while (st->set_cap < rs * 2)
        st->set_cap *= 2;
    st->set = calloc(st->set_cap, sizeof(*st->set));
    if (!st->rel_gid || !st->grows || !st->rel_as || !st->rel_code || !st->rel_msg ||
        !st->rel_buf || !st->set || !st->kk || !st->todo || !st->outs || !st->renew_ids ||
        !st->msgs || !st->ids || !st->runs)
        return mf_err_set(err, "out of memory");
    for (size_t i = 0; i < s->n; i++)
        if (s->slots[i].state == SLOT_SEND && s->slots[i].fresh)
            st->todo[st->ntodo++] = i;
    return 0;
}

void sender_sendlist_free(sender_sendlist *st)
{
    free(st->rel_gid);
    free(st->grows);
    free(st->todo);
    free(st->outs);
    free(st->renew_ids);
    free(st->msgs);
    free(st->ids);
    free(st->runs);
    free(st->kk);
    free(st->set);
    free(st->rel_as);
    free(st->rel_code);
    free(st->rel_msg);
    free(st->rel_buf);
}
