/* mf_config: table-driven configuration from environment variables, with types and bounds. */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "mf_err.h"

typedef enum mf_config_type {
    MF_CFG_STR,    /* text, copied into a char array of the key's size */
    MF_CFG_SECRET, /* text never printed; also read from the file named by <NAME>_FILE */
    MF_CFG_INT,    /* long long within [min, max] */
    MF_CFG_DOUBLE, /* double within [dmin, dmax] */
    MF_CFG_BOOL    /* true/false/1/0/yes/no/on/off, stored as int */
} mf_config_type;

/* Which programs read a key (a bit set): keeps one table for the whole fleet, so that the
 * documentation and the drift check see every key in one place. */
enum {
    MF_CFG_PLANNER = 1 << 0,
    MF_CFG_SENDER = 1 << 1,
    MF_CFG_REPORTER = 1 << 2,
    MF_CFG_CLI = 1 << 3,
    MF_CFG_ALL = 0xff
};

/* One configuration key. `def` is the default as text (NULL: the key is required for the
 * programs in `used_by`). `offset`/`size` locate the value in the caller's struct. */
typedef struct mf_config_key {
    const char *name;
    mf_config_type type;
    const char *def;
    long long min, max; /* MF_CFG_INT bounds */
    double dmin, dmax;  /* MF_CFG_DOUBLE bounds */
    size_t offset;
    size_t size; /* MF_CFG_STR/SECRET: size of the char array, terminator included */
    unsigned used_by;
    const char *desc;
} mf_config_key;

/* Reads the environment through `get` (NULL means getenv) into `out` for every key whose
 * used_by intersects `program`. Missing required keys, unparsable values and values out of
 * bounds fail with a message naming the key. Returns 0 or -1. */
typedef const char *(*mf_config_getenv_fn)(const char *name);
int mf_config_load(const mf_config_key *table, size_t n, unsigned program, void *out,
                   mf_config_getenv_fn get, mf_err *err);

/* Called once per secret file that is too open: key name and a message naming the file. */
typedef void (*mf_config_warn_fn)(void *arg, const char *key, const char *msg);

/* For every secret key of `program` whose value comes from the file named by <NAME>_FILE (the
 * variable itself empty): when group or others may read that file, call warn (may be NULL)
 * with `secret file <NAME>_FILE "<path>" is readable by every user (mode 0644): ...`. A file
 * that cannot be stat()ed is left to mf_config_load to report. Returns the number of warnings.
 * Daemons log them at warn level once their logger exists (mf_daemon_warn_secret_files). */
int mf_config_check_secret_files(const mf_config_key *table, size_t n, unsigned program,
                                 mf_config_getenv_fn get, mf_config_warn_fn warn, void *arg);

/* True when `name` is a key of the table (for the drift check of deployment files). */
int mf_config_has_key(const mf_config_key *table, size_t n, const char *name);

/* Writes the reference table as Markdown (name, type, default, bounds, programs, meaning). */
void mf_config_write_markdown(const mf_config_key *table, size_t n, FILE *out);

/* Writes the effective values for `program` as JSON-ish "key=value" lines, secrets masked. */
void mf_config_write_effective(const mf_config_key *table, size_t n, unsigned program,
                               const void *cfg, FILE *out);

#endif
