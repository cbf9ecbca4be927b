/* fuzz_template: libFuzzer target for the message template renderer (mf_template). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Values by the name's first byte: a name starting with '!' has none, '+' gives a value
 * that looks like a placeholder itself (it must stay as it is), '*' a long value, any other
 * name is its own value. */
static const char *lookup(void *arg, const char *name, size_t name_len, size_t *value_len)
{
    static const char nested[] = "#{name}";
    static char longval[4096];
    size_t *calls = arg;

    (*calls)++;
    if (name_len == 0)
        abort(); /* the renderer never looks up an empty name */
    switch (name[0]) {
    case '!': return NULL;
    case '+': *value_len = sizeof(nested) - 1; return nested;
    case '*':
        if (longval[0] == '\0')
            memset(longval, 'v', sizeof(longval));
        *value_len = sizeof(longval);
        return longval;
    default: *value_len = name_len; return name;
    }
}

static int count_name(void *arg, const char *name, size_t name_len)
{
    size_t *n = arg;

    if (name_len == 0 || name_len > MF_TEMPLATE_NAME_MAX || name[0] == ' ' ||
        name[name_len - 1] == ' ')
        abort(); /* names come trimmed and bounded */
    (*n)++;
    return 0;
}

/*
 * Input: two bytes of output size (0..65535), then the template (up to the first NUL).
 * Oracle: the template renders into a 1 MiB buffer or fails with a missing value; rendering
 * into the small buffer (allocated at its exact size, so that a write past it is caught)
 * gives the same text or fails; a successful render looked up each placeholder once.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char big[1 << 20];
    char *tpl = NULL, *small = NULL;
    size_t outsz, big_len = 0, small_len = 0, calls = 0, names = 0;
    mf_err err;
    int big_rc, small_rc;

    if (size < 2)
        return 0;
    outsz = (size_t)data[0] << 8 | data[1];
    tpl = malloc(size - 2 + 1);
    small = malloc(outsz > 0 ? outsz : 1);
    if (tpl == NULL || small == NULL)
        abort();
    memcpy(tpl, data + 2, size - 2);
    tpl[size - 2] = '\0';

    (void)mf_template_each_variable(tpl, count_name, &names);
    big_rc = mf_template_render(tpl, lookup, &calls, big, sizeof(big), &big_len, &err);
    if (big_rc == 0 && (calls != names || big_len != strlen(big)))
        abort();
    small_rc = mf_template_render(tpl, lookup, &calls, small, outsz, &small_len, &err);
    if (small_rc == 0 && (big_rc != 0 || small_len != big_len || memcmp(small, big, big_len)))
        abort();
    free(tpl);
    free(small);
    return 0;
}
