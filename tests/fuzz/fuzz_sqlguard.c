/* fuzz_sqlguard: libFuzzer target for the MySQL read-only guard and the grant checker. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf_sqlguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: one flags byte (bit 0: NO_BACKSLASH_ESCAPES), then the text (up to the first NUL),
 * checked as a target query and as one SHOW GRANTS line. Oracle: an accepted query's body is
 * a non-empty prefix that is itself accepted with the same body; role names fit the buffer.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql, *body;
    char roles[256];
    size_t body_len = 0, again = 0, nroles = 0, i, used = 0;
    unsigned flags;
    mf_err err;
    int rc;

    if (size < 1)
        return 0;
    flags = data[0] & MF_SQLGUARD_NO_BACKSLASH_ESCAPES;
    sql = malloc(size);
    if (sql == NULL)
        abort();
    memcpy(sql, data + 1, size - 1);
    sql[size - 1] = '\0';

    if (mf_sqlguard_check(sql, flags, &body_len, &err) == 0) {
        if (body_len == 0 || body_len > strlen(sql))
            abort();
        body = malloc(body_len + 1);
        if (body == NULL)
            abort();
        memcpy(body, sql, body_len);
        body[body_len] = '\0';
        if (mf_sqlguard_check(body, flags, &again, &err) != 0 || again != body_len)
            abort();
        free(body);
    }

    rc = mf_sqlguard_grant_line(sql, roles, sizeof(roles), &nroles, &err);
    if (rc == 1) {
        for (i = 0; i < nroles; i++) {
            const char *end = memchr(roles + used, '\0', sizeof(roles) - used);

            if (end == NULL)
                abort();
            used = (size_t)(end - roles) + 1;
        }
    }
    free(sql);
    return 0;
}
