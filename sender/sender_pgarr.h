/* sender_pgarr: build PostgreSQL array literals ("{...}") for unnest()-batched statements. */
#ifndef SENDER_PGARR_H
#define SENDER_PGARR_H

#include <stddef.h>

#include "mf_buf.h"
#include "mf_err.h"
#include "mf_uuid.h"

/* An array literal under construction; the text stays in `buf` (owned). Usage:
 *   sender_pgarr_begin(&a); sender_pgarr_text(&a, "x", &err) ...; sender_pgarr_end(&a, &err);
 *   then pass a.buf.data as a text parameter cast to the array type ($1::text[]). */
typedef struct sender_pgarr {
    mf_buf buf;
    size_t n;
} sender_pgarr;

void sender_pgarr_init(sender_pgarr *a);
void sender_pgarr_free(sender_pgarr *a);
/* Forget the content (keeps memory) and write the opening brace. */
int sender_pgarr_begin(sender_pgarr *a, mf_err *err);
/* Elements. text NULL is SQL NULL; otherwise double-quoted with " and \ escaped. */
int sender_pgarr_text(sender_pgarr *a, const char *text, mf_err *err);
int sender_pgarr_uuid(sender_pgarr *a, const mf_uuid *u, mf_err *err);
int sender_pgarr_int(sender_pgarr *a, long long v, mf_err *err);
/* Closing brace; a.buf.data is then the NUL-terminated literal. */
int sender_pgarr_end(sender_pgarr *a, mf_err *err);

#endif
