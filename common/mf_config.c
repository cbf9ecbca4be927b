/* mf_config: table-driven configuration from environment variables, with types and bounds. */
#include "mf_config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *type_name(mf_config_type t)
{
    switch (t) {
    case MF_CFG_STR: return "string";
    case MF_CFG_SECRET: return "secret";
    case MF_CFG_INT: return "integer";
    case MF_CFG_DOUBLE: return "number";
    case MF_CFG_BOOL: return "boolean";
    }
    return "?";
}

static int parse_bool(const char *s, int *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int set_text(const mf_config_key *k, const char *val, char *dst, mf_err *err)
{
    size_t len = strlen(val);

    if (len + 1 > k->size)
        return mf_err_set(err, "invalid value for %s: longer than %zu bytes", k->name, k->size - 1);
    memcpy(dst, val, len + 1);
    return 0;
}

/* Reads a secret from the file named by <NAME>_FILE, trimming one trailing newline. */
static int read_secret_file(const mf_config_key *k, const char *path, char *dst, mf_err *err)
{
    FILE *f = fopen(path, "r");
    size_t len;
    int rc = -1;
    char ebuf[128];

    if (f == NULL)
        return mf_err_set(err, "could not open %s_FILE \"%s\": %s", k->name, path,
                          mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
    len = fread(dst, 1, k->size - 1, f);
    if (!feof(f)) {
        mf_err_set(err, "invalid value for %s_FILE: secret longer than %zu bytes", k->name,
                   k->size - 1);
        goto out;
    }
    while (len > 0 && (dst[len - 1] == '\n' || dst[len - 1] == '\r'))
        len--;
    dst[len] = '\0';
    rc = 0;
out:
    fclose(f);
    return rc;
}

static int set_int(const mf_config_key *k, const char *val, void *dst, mf_err *err)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = strtoll(val, &end, 10);
    if (errno != 0 || end == val || *end != '\0')
        return mf_err_set(err, "invalid value for %s: \"%s\" is not an integer", k->name, val);
    if (v < k->min || v > k->max)
        return mf_err_set(err, "invalid value for %s: %lld is outside [%lld, %lld]", k->name, v,
                          k->min, k->max);
    memcpy(dst, &v, sizeof(v));
    return 0;
}

static int set_double(const mf_config_key *k, const char *val, void *dst, mf_err *err)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(val, &end);
    if (errno != 0 || end == val || *end != '\0' || !isfinite(v))
        return mf_err_set(err, "invalid value for %s: \"%s\" is not a number", k->name, val);
    if (v < k->dmin || v > k->dmax)
        return mf_err_set(err, "invalid value for %s: %g is outside [%g, %g]", k->name, v, k->dmin,
                          k->dmax);
    memcpy(dst, &v, sizeof(v));
    return 0;
}

static int set_value(const mf_config_key *k, const char *val, char *base, mf_err *err)
{
    void *dst = base + k->offset;
    int b;

    switch (k->type) {
    case MF_CFG_STR:
    case MF_CFG_SECRET: return set_text(k, val, dst, err);
    case MF_CFG_INT: return set_int(k, val, dst, err);
    case MF_CFG_DOUBLE: return set_double(k, val, dst, err);
    case MF_CFG_BOOL:
        if (parse_bool(val, &b) != 0)
            return mf_err_set(err, "invalid value for %s: \"%s\" is not a boolean", k->name, val);
        memcpy(dst, &b, sizeof(b));
        return 0;
    }
    return mf_err_set(err, "invalid type for %s", k->name);
}

static int load_key(const mf_config_key *k, char *base, mf_config_getenv_fn get, mf_err *err)
{
    const char *val = get(k->name);

    if (k->type == MF_CFG_SECRET && (val == NULL || *val == '\0')) {
        char fname[128];
        const char *path;

        snprintf(fname, sizeof(fname), "%s_FILE", k->name);
        path = get(fname);
        if (path != NULL && *path != '\0')
            return read_secret_file(k, path, base + k->offset, err);
    }
    if (val == NULL || *val == '\0')
        val = k->def;
    if (val == NULL)
        return mf_err_set(err, "missing required configuration %s (%s)", k->name, k->desc);
    return set_value(k, val, base, err);
}

static const char *getenv_default(const char *name)
{
    return getenv(name);
}

int mf_config_load(const mf_config_key *table, size_t n, unsigned program, void *out,
                   mf_config_getenv_fn get, mf_err *err)
{
    if (get == NULL)
        get = getenv_default;
    for (size_t i = 0; i < n; i++) {
        if ((table[i].used_by & program) == 0)
            continue;
        if (load_key(&table[i], out, get, err) != 0)
            return -1;
    }
    return 0;
}

int mf_config_has_key(const mf_config_key *table, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0)
            return 1;
    return 0;
}

static void write_programs(unsigned used_by, FILE *out)
{
    static const struct {
        unsigned bit;
        const char *name;
    } progs[] = {{MF_CFG_PLANNER, "planner"},
                 {MF_CFG_SENDER, "sender"},
                 {MF_CFG_REPORTER, "reporter"},
                 {MF_CFG_CLI, "cli"}};
    const char *sep = "";

    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        if (used_by & progs[i].bit) {
            fprintf(out, "%s%s", sep, progs[i].name);
            sep = ", ";
        }
    }
}

void mf_config_write_markdown(const mf_config_key *table, size_t n, FILE *out)
{
    fprintf(out, "| variable | type | default | bounds | used by | meaning |\n");
    fprintf(out, "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const mf_config_key *k = &table[i];

        fprintf(out, "| `%s` | %s | %s%s%s | ", k->name, type_name(k->type), k->def ? "`" : "",
                k->def ? (*k->def ? k->def : "(empty)") : "**required**", k->def ? "`" : "");
        if (k->type == MF_CFG_INT)
            fprintf(out, "%lld..%lld", k->min, k->max);
        else if (k->type == MF_CFG_DOUBLE)
            fprintf(out, "%g..%g", k->dmin, k->dmax);
        else if (k->type == MF_CFG_STR || k->type == MF_CFG_SECRET)
            fprintf(out, "<= %zu bytes", k->size - 1);
        fprintf(out, " | ");
        write_programs(k->used_by, out);
        if (k->type == MF_CFG_SECRET)
            fprintf(out, " | %s (or the file named by `%s_FILE`) |\n", k->desc, k->name);
        else
            fprintf(out, " | %s |\n", k->desc);
    }
}

void mf_config_write_effective(const mf_config_key *table, size_t n, unsigned program,
                               const void *cfg, FILE *out)
{
    const char *base = cfg;

    for (size_t i = 0; i < n; i++) {
        const mf_config_key *k = &table[i];
        const void *p = base + k->offset;
        long long iv;
        double dv;
        int bv;

        if ((k->used_by & program) == 0)
            continue;
        switch (k->type) {
        case MF_CFG_SECRET:
            fprintf(out, "%s=%s\n", k->name, *(const char *)p ? "(set)" : "(empty)");
            break;
        case MF_CFG_STR: fprintf(out, "%s=%s\n", k->name, (const char *)p); break;
        case MF_CFG_INT:
            memcpy(&iv, p, sizeof(iv));
            fprintf(out, "%s=%lld\n", k->name, iv);
            break;
        case MF_CFG_DOUBLE:
            memcpy(&dv, p, sizeof(dv));
            fprintf(out, "%s=%g\n", k->name, dv);
            break;
        case MF_CFG_BOOL:
            memcpy(&bv, p, sizeof(bv));
            fprintf(out, "%s=%s\n", k->name, bv ? "true" : "false");
            break;
        }
    }
}

int mf_config_check_secret_files(const mf_config_key *table, size_t n, unsigned program,
                                 mf_config_getenv_fn get, mf_config_warn_fn warn, void *arg)
{
    int nwarn = 0;

    if (get == NULL)
        get = getenv_default;
    for (size_t i = 0; i < n; i++) {
        const mf_config_key *k = &table[i];
        const char *val, *path;
        char fname[128], msg[MF_ERR_MAX];
        struct stat st;

        if (k->type != MF_CFG_SECRET || (k->used_by & program) == 0)
            continue;
        val = get(k->name);
        snprintf(fname, sizeof(fname), "%s_FILE", k->name);
        path = get(fname);
        if ((val != NULL && *val != '\0') || path == NULL || *path == '\0')
            continue; /* the file is not read */
        if (stat(path, &st) != 0 || (st.st_mode & (S_IRGRP | S_IROTH)) == 0)
            continue;
        snprintf(msg, sizeof(msg),
                 "secret file %s \"%s\" is readable by %s (mode %04o): "
                 "make it readable by its owner only (chmod 600)",
                 fname, path, (st.st_mode & S_IROTH) ? "every user" : "its group",
                 (unsigned)(st.st_mode & 07777));
        if (warn != NULL)
            warn(arg, k->name, msg);
        nwarn++;
    }
    return nwarn;
}
