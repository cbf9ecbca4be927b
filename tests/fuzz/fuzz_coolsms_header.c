/* fuzz_coolsms_header: libFuzzer target for the CoolSMS client's Retry-After header parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf_coolsms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: four bytes of clock (seconds after 2023-11-14), then one header line as curl hands
 * it over (allocated at its exact size, not terminated). Oracle: the line leaves the value
 * as it was or sets it within [0, MF_COOLSMS_RETRY_AFTER_MAX_S]; the value parser, given the
 * same bytes after the colon as a string, stays in range as well.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    time_t now;
    long v = -7, w;
    char *line, *str;
    size_t len;

    if (size < 4)
        return 0;
    now = (time_t)1700000000 + (time_t)((uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
                                        (uint32_t)data[2] << 8 | data[3]);
    len = size - 4;
    line = malloc(len > 0 ? len : 1);
    str = malloc(len + 1);
    if (line == NULL || str == NULL)
        abort();
    memcpy(line, data + 4, len);
    mf_coolsms_header_line(line, len, now, &v);
    if (v != -7 && (v < 0 || v > MF_COOLSMS_RETRY_AFTER_MAX_S))
        abort();
    memcpy(str, data + 4, len);
    str[len] = '\0';
    w = mf_coolsms_retry_after_parse(str, now);
    if (w < -1 || w > MF_COOLSMS_RETRY_AFTER_MAX_S)
        abort();
    free(line);
    free(str);
    return 0;
}
