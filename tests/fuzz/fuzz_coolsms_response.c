/* fuzz_coolsms_response: libFuzzer target for the CoolSMS response decoders (mf_coolsms). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf_coolsms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NMSG 6

static const char *const JOB_IDS[NMSG] = {"j0", "j1", "j2", "j3", "j4", "j5"};
static const char *const TOS[NMSG] = {"01000000000", "01000000001", "01000000002",
                                      "01000000003", "01000000004", "01000000005"};
static const long STATUSES[8] = {200, 201, 400, 403, 404, 429, 500, 503};

static void check_str(const char *s, size_t cap)
{
    if (memchr(s, '\0', cap) == NULL)
        abort();
}

/*
 * Input: a selector byte (bits 0-1: operation, bit 2: also match by recipient, bits 3-5:
 * HTTP status, bit 6: list decoder instead), a count byte (messages submitted, 0..6), then
 * the body (allocated at its exact size: the decoders get no terminator to lean on).
 * Oracle: every message ends in exactly one state, counts add up, every string is terminated
 * inside its field; the list decoder's items fit what it allocated.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf_coolsms_outcome outcomes[NMSG];
    mf_coolsms_result res;
    mf_coolsms_list_result list;
    mf_err err;
    char *body;
    size_t n, len, i;
    unsigned sel;

    if (size < 2)
        return 0;
    sel = data[0];
    n = data[1] % (NMSG + 1);
    len = size - 2;
    body = malloc(len > 0 ? len : 1);
    if (body == NULL)
        abort();
    memcpy(body, data + 2, len);

    if (sel & 0x40) {
        memset(&list, 0, sizeof(list));
        if (mf_coolsms_decode_list(body, len, &list, &err) == 0) {
            for (i = 0; i < list.n_items; i++) {
                check_str(list.items[i].message_id, sizeof(list.items[i].message_id));
                check_str(list.items[i].job_id, sizeof(list.items[i].job_id));
                check_str(list.items[i].date_received, sizeof(list.items[i].date_received));
            }
            check_str(list.next_key, sizeof(list.next_key));
        }
        mf_coolsms_list_result_free(&list);
        free(body);
        return 0;
    }
    mf_coolsms_decode_op((mf_coolsms_op)(sel & 3), NULL, STATUSES[(sel >> 3) & 7], -1, body, len,
                         JOB_IDS, (sel & 4) ? TOS : NULL, n, outcomes, &res);
    if (res.n_accepted + res.n_failed + res.n_unknown != n || res.n_messages != n)
        abort();
    if (res.cls != MF_COOLSMS_OK && res.n_unknown != n)
        abort(); /* only a 2xx answer says anything about the messages */
    check_str(res.error_code, sizeof(res.error_code));
    check_str(res.error_message, sizeof(res.error_message));
    check_str(res.group_id, sizeof(res.group_id));
    check_str(res.group_status, sizeof(res.group_status));
    for (i = 0; i < n; i++) {
        check_str(outcomes[i].message_id, sizeof(outcomes[i].message_id));
        check_str(outcomes[i].status_code, sizeof(outcomes[i].status_code));
        check_str(outcomes[i].status_message, sizeof(outcomes[i].status_message));
    }
    free(body);
    return 0;
}
