/* rep_report: a single-report webhook body (a JSON array of delivery reports) read as a stream. */
#ifndef REP_REPORT_H
#define REP_REPORT_H

#include <stddef.h>

#include "mf_err.h"

#define REP_REPORT_CODE_MAX 16

/* One element of the array. SOLAPI documents {eventDataId, data: {message}, retryCount}; its
 * SDK's example handles the message object itself: the fields come from `data` when that is
 * an object, else from the element. Strings are NULL when the member is absent or not a
 * string, and point into the rep_report that returned them (valid until rep_report_free). */
typedef struct rep_report_fields {
    int is_object; /* 0: the element is not a JSON object (nothing else is set) */
    const char *message_id;
    const char *to;
    const char *group_id;
    const char *type;
    const char *status_message;
    const char *date_received;
    const char *date_reported;
    const char *date_processed;
    const char *date_created; /* when the provider took the message in (its send, nearly) */
    const char *job_id;       /* customFields.jobId */
    const char *run_id;       /* customFields.runId */
    /* statusCode: a string shorter than REP_REPORT_CODE_MAX, or an integer as its digits;
     * "" for anything else */
    char status_code[REP_REPORT_CODE_MAX];
    int replacement; /* `replacement` is true or the integer 1 */
} rep_report_fields;

typedef struct rep_report rep_report;

/* The reports of body[0..len). NULL with err set when the body is not JSON or not an array
 * (*bad_body = 1), or when memory ran out (*bad_body = 0). A member named twice counts with
 * its last value, like a JSON object's. Only the fields above are copied: a report costs no
 * allocation of its own (a document tree of the same body, an allocation per value and a
 * hash table per object, was most of the receiver's CPU). The caller frees the result with
 * rep_report_free. */
rep_report *rep_report_parse(const char *body, size_t len, int *bad_body, mf_err *err);

size_t rep_report_count(const rep_report *r);

/* Element i (< rep_report_count). */
const rep_report_fields *rep_report_at(const rep_report *r, size_t i);

/* NULL is fine. */
void rep_report_free(rep_report *r);

#endif
