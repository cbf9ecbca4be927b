/* fuzz_report: libFuzzer target for the reporter's single-report body reader (rep_report). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rep_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A field's string is NUL-terminated and no longer than the body it came from. */
static void check_str(const char *s, size_t size)
{
    if (s != NULL && strnlen(s, size + 1) > size)
        abort();
}

/*
 * Input: the body (allocated at its exact size). Oracle: a refusal is the body's fault
 * (bad_body set: memory does not run out here) and says why; an accepted body has no more
 * elements than bytes, every string of every element fits in the body, status codes fit
 * their buffer, and an element that is not an object has no field set.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size > 0 ? size : 1);
    rep_report *r;
    size_t i, n;
    int bad = -1;
    mf_err err;

    if (body == NULL)
        abort();
    memcpy(body, data, size);
    err.msg[0] = '\0';
    r = rep_report_parse(body, size, &bad, &err);
    if (r == NULL) {
        if (bad != 1 || err.msg[0] == '\0')
            abort();
        free(body);
        return 0;
    }
    n = rep_report_count(r);
    if (n > size)
        abort();
    for (i = 0; i < n; i++) {
        const rep_report_fields *f = rep_report_at(r, i);
        const char *const s[] = {f->message_id,     f->to,
                                 f->group_id,       f->type,
                                 f->status_message, f->date_received,
                                 f->date_reported,  f->date_processed,
                                 f->job_id,         f->run_id};

        for (size_t k = 0; k < sizeof(s) / sizeof(s[0]); k++) {
            check_str(s[k], size);
            if (!f->is_object && s[k] != NULL)
                abort();
        }
        if (strnlen(f->status_code, REP_REPORT_CODE_MAX) >= REP_REPORT_CODE_MAX ||
            (!f->is_object && (f->status_code[0] != '\0' || f->replacement)))
            abort();
    }
    rep_report_free(r);
    free(body);
    return 0;
}
