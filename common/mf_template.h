/* mf_template: renders #{variable} placeholders of message templates in one pass. */
#ifndef MF_TEMPLATE_H
#define MF_TEMPLATE_H

#include <stddef.h>

#include "mf_err.h"

/* Longest variable name accepted inside #{...}; longer runs are left as literal text. */
#define MF_TEMPLATE_NAME_MAX 64

/* Looks a variable up. Returns its value (not copied; must stay valid during the render call)
 * and its length through value_len, or NULL when the variable has no value. The name is the
 * text between "#{" and "}" with surrounding blanks trimmed, not NUL-terminated. */
typedef const char *(*mf_template_lookup_fn)(void *arg, const char *name, size_t name_len,
                                             size_t *value_len);

/* Renders `tpl` into `out` (outsz bytes including the terminator). Rules:
 * - "#{name}" is replaced by lookup(name); values are inserted verbatim and never scanned
 *   again, so a value that itself contains "#{...}" stays as it is;
 * - a variable without a value fails with `missing value for variable "name"`;
 * - "#{" without a closing "}" on a valid name is literal text;
 * - output that would not fit fails with `rendered text longer than N bytes` (no truncation).
 * On success *out_len (if not NULL) is the rendered length. Returns 0 or -1. */
int mf_template_render(const char *tpl, mf_template_lookup_fn lookup, void *arg, char *out,
                       size_t outsz, size_t *out_len, mf_err *err);

/* Calls `fn` once per placeholder occurrence, in order, with the trimmed name. Stops and
 * returns the callback's value when it is not 0; returns 0 after the last placeholder. */
typedef int (*mf_template_name_fn)(void *arg, const char *name, size_t name_len);
int mf_template_each_variable(const char *tpl, mf_template_name_fn fn, void *arg);

#endif
