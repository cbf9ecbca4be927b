/* rep_report: a single-report webhook body (a JSON array of delivery reports) read as a stream. */
#include "rep_report.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* The members read from a report object (the element, or its `data`). */
enum {
    F_OTHER,
    F_MESSAGE_ID,
    F_TO,
    F_GROUP_ID,
    F_TYPE,
    F_STATUS_MESSAGE,
    F_DATE_RECEIVED,
    F_DATE_REPORTED,
    F_DATE_PROCESSED,
    F_DATE_CREATED,
    F_STATUS_CODE, /* the members from here on are not plain strings */
    F_REPLACEMENT,
    F_CUSTOM_FIELDS,
    F_DATA,
    F_N
};
#define F_NSTR F_STATUS_CODE

/* The member names with their lengths: key_index runs for every member of every report, and
 * measuring the names there (strlen) took a tenth of the webhook receiver's CPU. */
#define FIELD_KEY(s)                                                                               \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
static const struct {
    const char *name;
    size_t len;
} FIELD_KEYS[F_N] = {{NULL, 0},
                     FIELD_KEY("messageId"),
                     FIELD_KEY("to"),
                     FIELD_KEY("groupId"),
                     FIELD_KEY("type"),
                     FIELD_KEY("statusMessage"),
                     FIELD_KEY("dateReceived"),
                     FIELD_KEY("dateReported"),
                     FIELD_KEY("dateProcessed"),
                     FIELD_KEY("dateCreated"),
                     FIELD_KEY("statusCode"),
                     FIELD_KEY("replacement"),
                     FIELD_KEY("customFields"),
                     FIELD_KEY("data")};

/* customFields members */
enum { CF_OTHER, CF_JOB_ID, CF_RUN_ID };

/* What an open container is. The element's own members and those of its `data` are kept
 * apart: which set counts is known only when the element closes. */
enum { C_OTHER, C_ROOT, C_ELEMENT, C_DATA, C_CF_ELEMENT, C_CF_DATA };

/* The containers whose members matter are at most 4 deep (root, element, data, customFields). */
#define DEPTH_KEPT 5

typedef struct field_set {
    const char *s[F_NSTR];
    const char *job, *run;
    char code[REP_REPORT_CODE_MAX];
    int replacement;
} field_set;

struct rep_report {
    rep_report_fields *v;
    size_t n, cap;
    char *arena; /* the copied strings: never more bytes than the body (see copy_str) */
    size_t arena_used, arena_cap;
};

typedef struct decoder {
    rep_report *r;
    int depth;            /* containers open */
    int kind[DEPTH_KEPT]; /* C_* of the container at each depth (1-based) */
    int key[DEPTH_KEPT];  /* F_* or CF_* of the current member at each depth */
    int root_array;       /* the body is an array */
    int has_data;         /* the current element's last `data` is an object */
    field_set el, data;   /* the current element's members, its data's members */
    int oom;
} decoder;

static int key_index(const unsigned char *k, size_t n, int in_cf)
{
    int i;

    if (in_cf) {
        if (n == 5 && memcmp(k, "jobId", 5) == 0)
            return CF_JOB_ID;
        if (n == 5 && memcmp(k, "runId", 5) == 0)
            return CF_RUN_ID;
        return CF_OTHER;
    }
    for (i = 1; i < F_N; i++)
        if (FIELD_KEYS[i].len == n && memcmp(k, FIELD_KEYS[i].name, n) == 0)
            return i;
    return F_OTHER;
}

/* A copy of a string value in the arena. A JSON string takes at least its unescaped length
 * plus two quotes in the body, so the arena (the body's length plus one) never overflows;
 * the check only guards that reasoning. */
static const char *copy_str(decoder *d, const char *s, size_t n)
{
    rep_report *r = d->r;
    char *p;

    if (n + 1 > r->arena_cap - r->arena_used) {
        d->oom = 1;
        return NULL;
    }
    p = r->arena + r->arena_used;
    memcpy(p, s, n);
    p[n] = '\0';
    r->arena_used += n + 1;
    return p;
}

/* An integer's text: digits with an optional leading minus, nothing else. */
static int is_integer_text(const char *s, size_t n)
{
    size_t i = (n > 0 && s[0] == '-') ? 1 : 0;

    if (i == n)
        return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

enum { V_STRING, V_NUMBER, V_TRUE, V_OTHER };

/* A scalar value of member f of a report object. */
static void set_field(decoder *d, field_set *fs, int f, int vk, const char *s, size_t n)
{
    if (f > F_OTHER && f < F_NSTR) {
        fs->s[f] = vk == V_STRING ? copy_str(d, s, n) : NULL;
    } else if (f == F_STATUS_CODE) {
        fs->code[0] = '\0';
        if ((vk == V_STRING || (vk == V_NUMBER && is_integer_text(s, n))) && n < sizeof(fs->code)) {
            memcpy(fs->code, s, n);
            fs->code[n] = '\0';
        }
    } else if (f == F_REPLACEMENT) {
        fs->replacement = vk == V_TRUE || (vk == V_NUMBER && n == 1 && s[0] == '1');
    } else if (f == F_CUSTOM_FIELDS) {
        fs->job = fs->run = NULL; /* customFields that is not an object */
    }
}

static void set_cf(decoder *d, field_set *fs, int k, int vk, const char *s, size_t n)
{
    const char *v = vk == V_STRING ? copy_str(d, s, n) : NULL;

    if (k == CF_JOB_ID)
        fs->job = v;
    else if (k == CF_RUN_ID)
        fs->run = v;
}

static int new_element(decoder *d, int is_object)
{
    rep_report *r = d->r;
    rep_report_fields *e;

    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 128;
        rep_report_fields *v = realloc(r->v, cap * sizeof(*v));

        if (v == NULL) {
            d->oom = 1;
            return 0;
        }
        r->v = v;
        r->cap = cap;
    }
    e = &r->v[r->n++];
    memset(e, 0, sizeof(*e));
    e->is_object = is_object;
    memset(&d->el, 0, sizeof(d->el));
    memset(&d->data, 0, sizeof(d->data));
    d->has_data = 0;
    return 1;
}

/* The element just closed takes the members of its data object if it had one. */
static void close_element(decoder *d)
{
    rep_report_fields *e = &d->r->v[d->r->n - 1];
    const field_set *fs = d->has_data ? &d->data : &d->el;

    e->message_id = fs->s[F_MESSAGE_ID];
    e->to = fs->s[F_TO];
    e->group_id = fs->s[F_GROUP_ID];
    e->type = fs->s[F_TYPE];
    e->status_message = fs->s[F_STATUS_MESSAGE];
    e->date_received = fs->s[F_DATE_RECEIVED];
    e->date_reported = fs->s[F_DATE_REPORTED];
    e->date_processed = fs->s[F_DATE_PROCESSED];
    e->date_created = fs->s[F_DATE_CREATED];
    e->job_id = fs->job;
    e->run_id = fs->run;
    memcpy(e->status_code, fs->code, sizeof(e->status_code));
    e->replacement = fs->replacement;
}

/* The container kind at the current depth, C_OTHER past the kept depths. */
static int cur_kind(const decoder *d)
{
    return d->depth >= 1 && d->depth < DEPTH_KEPT ? d->kind[d->depth] : C_OTHER;
}

static int cur_key(const decoder *d)
{
    return d->depth >= 1 && d->depth < DEPTH_KEPT ? d->key[d->depth] : 0;
}

/* A scalar (vk: V_*) where the parser stands. */
static int on_scalar(decoder *d, int vk, const char *s, size_t n)
{
    switch (cur_kind(d)) {
    case C_ROOT: return new_element(d, 0);
    case C_ELEMENT:
        if (cur_key(d) == F_DATA)
            d->has_data = 0; /* a `data` that is not an object */
        set_field(d, &d->el, cur_key(d), vk, s, n);
        break;
    case C_DATA: set_field(d, &d->data, cur_key(d), vk, s, n); break;
    case C_CF_ELEMENT: set_cf(d, &d->el, cur_key(d), vk, s, n); break;
    case C_CF_DATA: set_cf(d, &d->data, cur_key(d), vk, s, n); break;
    default: break;
    }
    return !d->oom;
}

/* The kind of a container opening where the parser stands (is_map: an object). A member of a
 * report object whose value is a container loses any earlier scalar value of the same name. */
static int opening(decoder *d, int is_map)
{
    int k = cur_key(d);

    switch (cur_kind(d)) {
    case C_ROOT: return new_element(d, is_map) && is_map ? C_ELEMENT : C_OTHER;
    case C_ELEMENT:
        if (k == F_DATA) {
            d->has_data = is_map;
            memset(&d->data, 0, sizeof(d->data));
            return is_map ? C_DATA : C_OTHER;
        }
        set_field(d, &d->el, k, V_OTHER, NULL, 0);
        return k == F_CUSTOM_FIELDS && is_map ? C_CF_ELEMENT : C_OTHER;
    case C_DATA:
        set_field(d, &d->data, k, V_OTHER, NULL, 0);
        return k == F_CUSTOM_FIELDS && is_map ? C_CF_DATA : C_OTHER;
    case C_CF_ELEMENT: set_cf(d, &d->el, k, V_OTHER, NULL, 0); return C_OTHER;
    case C_CF_DATA: set_cf(d, &d->data, k, V_OTHER, NULL, 0); return C_OTHER;
    default: return C_OTHER;
    }
}

static int open_container(decoder *d, int is_map)
{
    int kind;

    if (d->depth == 0) {
        d->root_array = !is_map;
        kind = C_ROOT;
    } else {
        kind = opening(d, is_map);
    }
    d->depth++;
    if (d->depth < DEPTH_KEPT) {
        d->kind[d->depth] = kind;
        d->key[d->depth] = 0;
    }
    return !d->oom;
}

static int close_container(decoder *d)
{
    if (cur_kind(d) == C_ELEMENT)
        close_element(d);
    d->depth--;
    return 1;
}

static int cb_null(void *ctx)
{
    return on_scalar(ctx, V_OTHER, NULL, 0);
}

static int cb_bool(void *ctx, int v)
{
    return on_scalar(ctx, v ? V_TRUE : V_OTHER, NULL, 0);
}

static int cb_number(void *ctx, const char *s, size_t n)
{
    return on_scalar(ctx, V_NUMBER, s, n);
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    return on_scalar(ctx, V_STRING, (const char *)s, n);
}

static int cb_key(void *ctx, const unsigned char *k, size_t n)
{
    decoder *d = ctx;
    int kind = cur_kind(d);

    if (kind == C_ELEMENT || kind == C_DATA)
        d->key[d->depth] = key_index(k, n, 0);
    else if (kind == C_CF_ELEMENT || kind == C_CF_DATA)
        d->key[d->depth] = key_index(k, n, 1);
    return 1;
}

static int cb_start_map(void *ctx)
{
    return open_container(ctx, 1);
}

static int cb_start_array(void *ctx)
{
    return open_container(ctx, 0);
}

static int cb_end(void *ctx)
{
    return close_container(ctx);
}

static const yajl_callbacks CALLBACKS = {
    cb_null,      cb_bool, NULL,   NULL,           cb_number, cb_string,
    cb_start_map, cb_key,  cb_end, cb_start_array, cb_end,
};

rep_report *rep_report_parse(const char *body, size_t len, int *bad_body, mf_err *err)
{
    rep_report *r = calloc(1, sizeof(*r));
    decoder d;
    yajl_handle h = NULL;
    yajl_status st;

    memset(&d, 0, sizeof(d));
    *bad_body = 0;
    if (r == NULL || (r->arena = malloc(len + 1)) == NULL ||
        (h = yajl_alloc(&CALLBACKS, NULL, &d)) == NULL) {
        mf_err_set(err, "out of memory");
        goto fail;
    }
    r->arena_cap = len + 1;
    d.r = r;
    st = yajl_parse(h, (const unsigned char *)body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (d.oom) {
        mf_err_set(err, "out of memory");
        goto fail;
    }
    if (st != yajl_status_ok) {
        unsigned char *why = yajl_get_error(h, 0, (const unsigned char *)body, len);

        size_t wn = why != NULL ? strcspn((const char *)why, "\n") : 0;

        mf_err_set(err, "not JSON: %.*s", (int)wn, why != NULL ? (const char *)why : "");
        if (why != NULL)
            yajl_free_error(h, why);
        *bad_body = 1;
        goto fail;
    }
    if (!d.root_array) {
        mf_err_set(err, "not a JSON array");
        *bad_body = 1;
        goto fail;
    }
    yajl_free(h);
    return r;
fail:
    if (h != NULL)
        yajl_free(h);
    rep_report_free(r);
    return NULL;
}

size_t rep_report_count(const rep_report *r)
{
    return r->n;
}

const rep_report_fields *rep_report_at(const rep_report *r, size_t i)
{
    return &r->v[i];
}

void rep_report_free(rep_report *r)
{
    if (r == NULL)
        return;
    free(r->v);
    free(r->arena);
    free(r);
}
