/* sender_ctx: the sender's state shared by its modules, and the helpers they all use. */
#include "sender_ctx.h"

#include <time.h>

#include "mf_clock.h"
#include "mf_daemon.h"

int sender_ctx_past_deadline(sender_ctx *s)
{
    if (!mf_daemon_stopping())
        return 0;
    if (s->stop_deadline_ms == 0)
        s->stop_deadline_ms = mf_clock_mono_ms() + s->cfg->shutdown_s * 1000;
    return mf_clock_mono_ms() >= s->stop_deadline_ms;
}

uint32_t sender_ctx_rand(sender_ctx *s)
{
    uint32_t x = s->rnd ? s->rnd : 2463534242u; /* xorshift32: jitter only */

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s->rnd = x;
    return x;
}

sender_slot *sender_ctx_slot_by_id(sender_ctx *s, const mf_uuid *id)
{
    return sender_slot_index_find(&s->idx, s->slots, id);
}

void sender_ctx_pg_state(sender_ctx *s, int ok, const char *detail)
{
    if (ok == s->pg_ok && ok)
        return;
    s->pg_ok = ok;
    sender_obs_dep(&s->obs, "postgres", ok, detail);
}

void sender_ctx_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}
