/* mf_template: renders #{variable} placeholders of message templates in one pass. */
#include "mf_template.h"

#include <string.h>

typedef struct placeholder {
    const char *start; /* at "#{" */
    const char *end;   /* just past "}" */
    const char *name;
    size_t name_len;
} placeholder;

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A name is any run of characters except braces, '#' and line breaks: Korean variable
 * names (#{이름}) are common in Korean templates. */
static int is_name_char(unsigned char c)
{
    return c != '{' && c != '}' && c != '#' && c != '\n' && c != '\r' && c != '\0';
}

/* Finds the next well-formed placeholder at or after p. Returns 0 when there is none. */
static int next_placeholder(const char *p, placeholder *ph)
{
    for (const char *s = strstr(p, "#{"); s != NULL; s = strstr(s + 1, "#{")) {
        const char *n = s + 2;
        const char *e = n;

        while (is_name_char((unsigned char)*e) && (size_t)(e - n) <= MF_TEMPLATE_NAME_MAX)
            e++;
        if (*e != '}' || (size_t)(e - n) > MF_TEMPLATE_NAME_MAX)
            continue;
        ph->start = s;
        ph->end = e + 1;
        while (n < e && is_blank(*n))
            n++;
        while (e > n && is_blank(e[-1]))
            e--;
        if (e == n)
            continue; /* "#{}" or "#{  }" is literal text */
        ph->name = n;
        ph->name_len = (size_t)(e - n);
        return 1;
    }
    return 0;
}

static int append(char *out, size_t outsz, size_t *len, const char *s, size_t n, mf_err *err)
{
    if (*len + n + 1 > outsz)
        return mf_err_set(err, "rendered text longer than %zu bytes", outsz - 1);
    memcpy(out + *len, s, n);
    *len += n;
    return 0;
}

int mf_template_render(const char *tpl, mf_template_lookup_fn lookup, void *arg, char *out,
                       size_t outsz, size_t *out_len, mf_err *err)
{
    const char *p = tpl;
    size_t len = 0;
    placeholder ph;

    if (outsz == 0)
        return mf_err_set(err, "rendered text longer than 0 bytes");
    while (next_placeholder(p, &ph)) {
        size_t vlen = 0;
        const char *val = lookup(arg, ph.name, ph.name_len, &vlen);

        if (val == NULL)
            return mf_err_set(err, "missing value for variable \"%.*s\"", (int)ph.name_len,
                              ph.name);
        if (append(out, outsz, &len, p, (size_t)(ph.start - p), err) != 0 ||
            append(out, outsz, &len, val, vlen, err) != 0)
            return -1;
        p = ph.end;
    }
    if (append(out, outsz, &len, p, strlen(p), err) != 0)
        return -1;
    out[len] = '\0';
    if (out_len != NULL)
        *out_len = len;
    return 0;
}

int mf_template_each_variable(const char *tpl, mf_template_name_fn fn, void *arg)
{
    placeholder ph;
    const char *p = tpl;

    while (next_placeholder(p, &ph)) {
        int rc = fn(arg, ph.name, ph.name_len);

        if (rc != 0)
            return rc;
        p = ph.end;
    }
    return 0;
}
