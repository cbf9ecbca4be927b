/* sim_req: streaming parse of a send-many request body into flat message records (yajl). */
#include "sim_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

/* ---- string arena: every string of one request, freed at once ------------------------------ */

enum { ARENA_BLOCK = 64 * 1024 };

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block;

static char *arena_dup(arena_block **head, const unsigned char *s, size_t len)
{
    arena_block *b = *head;
    char *out;

    if (b == NULL || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;

        b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = *head;
        *head = b;
    }
    out = b->data + b->used;
    memcpy(out, s, len);
    out[len] = '\0';
    b->used += len + 1;
    return out;
}

static void arena_free(arena_block *b)
{
    while (b != NULL) {
        arena_block *next = b->next;

        free(b);
        b = next;
    }
}

/* ---- the parse ------------------------------------------------------------------------------ */

/* Where the parser is: the container it is in. F_SKIP: one we do not keep. */
typedef enum frame { F_TOP, F_MSGS, F_MSG, F_CF, F_KAKAO, F_SKIP } frame;

/* Keys that matter, per container (K_OTHER: any other key, its value is skipped). */
typedef enum req_key {
    K_OTHER,
    K_MESSAGES,
    K_ALLOW_DUP,
    K_SHOW_LIST,
    K_SCHEDULED, /* top */
    K_TO,
    K_FROM,
    K_TEXT,
    K_SUBJECT,
    K_TYPE,
    K_IMAGE,
    K_AUTO,
    K_CF,
    K_KAKAO, /* message */
    K_PF_ID,
    K_TEMPLATE_ID /* kakaoOptions */
} req_key;

typedef struct key_name {
    frame in;
    req_key k;
    const char *name;
} key_name;

static const key_name KEYS[] = {
    {F_TOP, K_MESSAGES, "messages"},
    {F_TOP, K_ALLOW_DUP, "allowDuplicates"},
    {F_TOP, K_SHOW_LIST, "showMessageList"},
    {F_TOP, K_SCHEDULED, "scheduledDate"},
    {F_MSG, K_TO, "to"},
    {F_MSG, K_FROM, "from"},
    {F_MSG, K_TEXT, "text"},
    {F_MSG, K_SUBJECT, "subject"},
    {F_MSG, K_TYPE, "type"},
    {F_MSG, K_IMAGE, "imageId"},
    {F_MSG, K_AUTO, "autoTypeDetect"},
    {F_MSG, K_CF, "customFields"},
    {F_MSG, K_KAKAO, "kakaoOptions"},
    {F_KAKAO, K_PF_ID, "pfId"},
    {F_KAKAO, K_TEMPLATE_ID, "templateId"},
};

enum { MAX_DEPTH = 64 };

struct sim_req {
    arena_block *arena;
    sim_req_msg *msgs;
    size_t n, cap;
    sim_req_kv *cf;
    size_t ncf, cfcap;
    sim_jfield messages, allow_dup, show_list, scheduled;
    /* parser state */
    frame stack[MAX_DEPTH];
    int depth;
    req_key pending;  /* the key whose value comes next (containers with named keys) */
    long cf_pending;  /* index in cf of the customFields entry whose value comes next, -1 */
    int not_object;   /* the top level is not an object */
    const char *fail; /* a reason the callbacks stopped the parse */
};

static int push(sim_req *r, frame f)
{
    if (r->depth == MAX_DEPTH) {
        r->fail = "nested too deeply";
        return 0;
    }
    r->stack[r->depth++] = f;
    return 1;
}

static sim_req_msg *cur_msg(sim_req *r)
{
    return &r->msgs[r->n - 1];
}

/* arr (n used of *cap elements of `size` bytes) with room for one more: arr itself, or a
 * reallocation doubling from `first`; NULL with r->fail set (arr is then still valid). */
static void *grow(sim_req *r, void *arr, size_t n, size_t *cap, size_t size, size_t first)
{
    void *p;
    size_t c;

    if (n < *cap)
        return arr;
    c = *cap ? *cap * 2 : first;
    p = realloc(arr, c * size);
    if (p == NULL) {
        r->fail = "out of memory";
        return NULL;
    }
    *cap = c;
    return p;
}

static int new_msg(sim_req *r)
{
    sim_req_msg *m = grow(r, r->msgs, r->n, &r->cap, sizeof(r->msgs[0]), 64);

    if (m == NULL)
        return 0;
    r->msgs = m;
    memset(&r->msgs[r->n++], 0, sizeof(r->msgs[0]));
    return 1;
}

/* The field a scalar or container value of the current position goes to (NULL: not kept). */
static sim_jfield *target(sim_req *r)
{
    frame f = r->stack[r->depth - 1];

    if (f == F_CF)
        return r->cf_pending >= 0 ? &r->cf[r->cf_pending].val : NULL;
    if (f == F_TOP) {
        switch (r->pending) {
        case K_MESSAGES: return &r->messages;
        case K_ALLOW_DUP: return &r->allow_dup;
        case K_SHOW_LIST: return &r->show_list;
        case K_SCHEDULED: return &r->scheduled;
        default: return NULL;
        }
    }
    if (f == F_MSG) {
        sim_req_msg *m = cur_msg(r);

        switch (r->pending) {
        case K_TO: return &m->to;
        case K_FROM: return &m->from;
        case K_TEXT: return &m->text;
        case K_SUBJECT: return &m->subject;
        case K_TYPE: return &m->type;
        case K_IMAGE: return &m->image_id;
        case K_AUTO: return &m->auto_type_detect;
        case K_CF: return &m->custom_fields;
        case K_KAKAO: return &m->kakao;
        default: return NULL;
        }
    }
    if (f == F_KAKAO) {
        sim_req_msg *m = cur_msg(r);

        return r->pending == K_PF_ID         ? &m->pf_id
               : r->pending == K_TEMPLATE_ID ? &m->template_id
                                             : NULL;
    }
    return NULL;
}

/* A scalar value (s: the string of a SIM_J_STRING, else NULL). */
static int on_scalar(sim_req *r, sim_jkind kind, const unsigned char *s, size_t len)
{
    sim_jfield *t;

    if (r->depth == 0) {
        r->not_object = 1;
        return 0;
    }
    if (r->stack[r->depth - 1] == F_MSGS) {
        if (!new_msg(r))
            return 0;
        return 1; /* not an object: is_object stays 0 */
    }
    t = target(r);
    if (t == NULL)
        return 1;
    t->kind = kind;
    t->s = NULL;
    t->len = 0;
    if (kind == SIM_J_STRING) {
        if (memchr(s, '\0', len) != NULL) {
            r->fail = "\\u0000 is not allowed in a string";
            return 0;
        }
        t->s = arena_dup(&r->arena, s, len);
        t->len = len;
        if (t->s == NULL) {
            r->fail = "out of memory";
            return 0;
        }
    }
    return 1;
}

/* A container opens: which frame it becomes. */
static int on_open(sim_req *r, int is_map)
{
    frame f, next = F_SKIP;
    sim_jfield *t;

    if (r->depth == 0) {
        if (!is_map) {
            r->not_object = 1;
            return 0;
        }
        return push(r, F_TOP);
    }
    f = r->stack[r->depth - 1];
    if (f == F_MSGS) {
        if (!new_msg(r))
            return 0;
        cur_msg(r)->is_object = is_map;
        return push(r, is_map ? F_MSG : F_SKIP);
    }
    t = target(r);
    if (t != NULL) {
        t->kind = is_map ? SIM_J_OBJECT : SIM_J_ARRAY;
        t->s = NULL;
        if (f == F_TOP && r->pending == K_MESSAGES && !is_map) {
            r->n = 0; /* a repeated "messages": the last one counts */
            r->ncf = 0;
            next = F_MSGS;
        } else if (f == F_MSG && r->pending == K_CF && is_map) {
            sim_req_msg *m = cur_msg(r);

            m->cf_first = r->ncf;
            m->ncf = 0;
            m->cf_distinct = 0;
            next = F_CF;
        } else if (f == F_MSG && r->pending == K_KAKAO && is_map) {
            sim_req_msg *m = cur_msg(r);

            memset(&m->pf_id, 0, sizeof(m->pf_id));
            memset(&m->template_id, 0, sizeof(m->template_id));
            next = F_KAKAO;
        }
    }
    return push(r, next);
}

static int on_close(void *ctx)
{
    sim_req *r = ctx;

    r->depth--;
    return 1;
}

static int cb_null(void *ctx)
{
    return on_scalar(ctx, SIM_J_NULL, NULL, 0);
}

static int cb_boolean(void *ctx, int v)
{
    return on_scalar(ctx, v ? SIM_J_TRUE : SIM_J_FALSE, NULL, 0);
}

static int cb_number(void *ctx, const char *s, size_t len)
{
    (void)s;
    (void)len;
    return on_scalar(ctx, SIM_J_NUMBER, NULL, 0);
}

static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
    return on_scalar(ctx, SIM_J_STRING, s, len);
}

static int cb_start_map(void *ctx)
{
    return on_open(ctx, 1);
}

static int cb_start_array(void *ctx)
{
    return on_open(ctx, 0);
}

/* A customFields key: a new entry, or the entry of a key seen before (its value is replaced,
 * its position kept). */
static int cf_key(sim_req *r, const unsigned char *k, size_t len)
{
    sim_req_msg *m = cur_msg(r);
    sim_req_kv *cf;

    for (size_t i = m->cf_first; i < m->cf_first + m->ncf; i++) {
        if (strlen(r->cf[i].key) == len && memcmp(r->cf[i].key, k, len) == 0) {
            r->cf_pending = (long)i;
            return 1;
        }
    }
    m->cf_distinct++;
    r->cf_pending = -1;
    if (m->ncf == SIM_REQ_CF_KEEP)
        return 1;
    cf = grow(r, r->cf, r->ncf, &r->cfcap, sizeof(r->cf[0]), 128);
    if (cf == NULL)
        return 0;
    r->cf = cf;
    r->cf[r->ncf].key = arena_dup(&r->arena, k, len);
    memset(&r->cf[r->ncf].val, 0, sizeof(r->cf[r->ncf].val));
    if (r->cf[r->ncf].key == NULL) {
        r->fail = "out of memory";
        return 0;
    }
    r->cf_pending = (long)r->ncf++;
    m->ncf++;
    return 1;
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t len)
{
    sim_req *r = ctx;
    frame f = r->stack[r->depth - 1];

    if (memchr(k, '\0', len) != NULL) {
        r->fail = "\\u0000 is not allowed in a key";
        return 0;
    }
    if (f == F_CF)
        return cf_key(r, k, len);
    r->pending = K_OTHER;
    for (size_t i = 0; i < sizeof(KEYS) / sizeof(KEYS[0]); i++) {
        if (KEYS[i].in == f && strlen(KEYS[i].name) == len && memcmp(KEYS[i].name, k, len) == 0) {
            r->pending = KEYS[i].k;
            break;
        }
    }
    return 1;
}

static const yajl_callbacks CALLBACKS = {
    cb_null,      cb_boolean, NULL,     NULL,           cb_number, cb_string,
    cb_start_map, cb_map_key, on_close, cb_start_array, on_close,
};

sim_req *sim_req_parse(const char *body, size_t len, char *errbuf, size_t errcap)
{
    sim_req *r = calloc(1, sizeof(*r));
    yajl_handle h;
    yajl_status st;

    if (r == NULL || (h = yajl_alloc(&CALLBACKS, NULL, r)) == NULL) {
        snprintf(errbuf, errcap, "out of memory");
        free(r);
        return NULL;
    }
    st = yajl_parse(h, (const unsigned char *)body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (st != yajl_status_ok) {
        if (r->not_object) {
            snprintf(errbuf, errcap, "not an object");
        } else if (st == yajl_status_client_canceled && r->fail != NULL) {
            snprintf(errbuf, errcap, "%s", r->fail);
        } else {
            unsigned char *e = yajl_get_error(h, 0, (const unsigned char *)body, len);

            size_t n;

            snprintf(errbuf, errcap, "%s", e != NULL ? (const char *)e : "invalid JSON");
            yajl_free_error(h, e);
            n = strlen(errbuf);
            while (n > 0 && (errbuf[n - 1] == '\n' || errbuf[n - 1] == ' '))
                errbuf[--n] = '\0'; /* yajl ends its messages with a newline */
        }
        yajl_free(h);
        sim_req_free(r);
        return NULL;
    }
    yajl_free(h);
    return r;
}

void sim_req_free(sim_req *r)
{
    if (r == NULL)
        return;
    arena_free(r->arena);
    free(r->msgs);
    free(r->cf);
    free(r);
}

sim_jkind sim_req_messages_kind(const sim_req *r)
{
    return r->messages.kind;
}

size_t sim_req_count(const sim_req *r)
{
    return r->n;
}

const sim_req_msg *sim_req_at(const sim_req *r, size_t i)
{
    return &r->msgs[i];
}

const sim_req_kv *sim_req_cf(const sim_req *r, const sim_req_msg *m)
{
    return r->cf != NULL ? r->cf + m->cf_first : NULL; /* NULL + 0 is undefined */
}

const sim_jfield *sim_req_allow_duplicates(const sim_req *r)
{
    return &r->allow_dup;
}

const sim_jfield *sim_req_show_message_list(const sim_req *r)
{
    return &r->show_list;
}

const sim_jfield *sim_req_scheduled_date(const sim_req *r)
{
    return &r->scheduled;
}

const char *sim_req_cf_get(const sim_req *r, const sim_req_msg *m, const char *key)
{
    const sim_req_kv *kv = sim_req_cf(r, m);

    if (m->custom_fields.kind != SIM_J_OBJECT)
        return NULL;
    for (size_t i = 0; i < m->ncf; i++)
        if (strcmp(kv[i].key, key) == 0)
            return sim_jstr(&kv[i].val);
    return NULL;
}
