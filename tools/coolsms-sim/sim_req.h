/* sim_req: streaming parse of a send-many request body into flat message records (yajl). */
#ifndef SIM_REQ_H
#define SIM_REQ_H

#include <stddef.h>

/*
 * The simulator parsed each request into a jansson tree and looked fields up by name: with the
 * allocations and the frees, 45 % of its CPU in a 300k benchmark, on the cores the fleet runs
 * on. This parser keeps only what the send handler reads, as flat records, with one string
 * arena per request.
 *
 * A field records what JSON kind it had, so that validation can tell "absent" from "null" from
 * "not a string", as the tree lookups did.
 */
typedef enum sim_jkind {
    SIM_J_ABSENT = 0,
    SIM_J_NULL,
    SIM_J_FALSE,
    SIM_J_TRUE,
    SIM_J_NUMBER,
    SIM_J_STRING,
    SIM_J_OBJECT,
    SIM_J_ARRAY
} sim_jkind;

typedef struct sim_jfield {
    sim_jkind kind;
    const char *s; /* SIM_J_STRING: NUL-terminated copy in the request's arena; else NULL */
    size_t len;
} sim_jfield;

typedef struct sim_req_kv {
    const char *key;
    sim_jfield val;
} sim_req_kv;

/* Up to this many distinct customFields keys are kept per message; more only count. */
#define SIM_REQ_CF_KEEP 33

typedef struct sim_req_msg {
    int is_object; /* the array element was an object (else nothing below is set) */
    sim_jfield to, from, text, subject, type, image_id, auto_type_detect;
    sim_jfield custom_fields; /* its kind; entries below when an object */
    size_t cf_first, ncf;     /* entries [cf_first, cf_first + ncf) of sim_req.cf (unique keys,
                                 first position kept, last value wins, as a JSON object does) */
    size_t cf_distinct;       /* distinct keys seen, including those not kept */
    sim_jfield kakao;         /* kakaoOptions: its kind; pfId / templateId when an object */
    sim_jfield pf_id, template_id;
} sim_req_msg;

typedef struct sim_req sim_req;

/*
 * Parse body. Returns the request (free with sim_req_free) or NULL with errbuf set to why the
 * body is not JSON (a yajl message, or "not an object" when the top level is another value).
 */
sim_req *sim_req_parse(const char *body, size_t len, char *errbuf, size_t errcap);
void sim_req_free(sim_req *r);

/* Top level. messages_kind is SIM_J_ARRAY when "messages" was an array. */
sim_jkind sim_req_messages_kind(const sim_req *r);
size_t sim_req_count(const sim_req *r);
const sim_req_msg *sim_req_at(const sim_req *r, size_t i);
/* m->ncf entries; NULL when the request has no customFields entry at all */
const sim_req_kv *sim_req_cf(const sim_req *r, const sim_req_msg *m);
const sim_jfield *sim_req_allow_duplicates(const sim_req *r);
const sim_jfield *sim_req_show_message_list(const sim_req *r);
const sim_jfield *sim_req_scheduled_date(const sim_req *r);

/* The string value of f, or NULL when it is not a string (the tree lookups' jstr()). */
static inline const char *sim_jstr(const sim_jfield *f)
{
    return f->kind == SIM_J_STRING ? f->s : NULL;
}

/* Value of customFields[key] when it is a string, else NULL. */
const char *sim_req_cf_get(const sim_req *r, const sim_req_msg *m, const char *key);

#endif
