/* schema_dir: find the repository's schemas/pg for `msgfleet migrate` without --dir. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msgfleet.h"

#ifndef MF_SOURCE_DIR
#define MF_SOURCE_DIR ""
#endif

/* 1 when dir/schemas/pg/0001_seed.sql exists; fills buf with dir/schemas/pg. */
static int has_schemas(const char *dir, const char *sub, char *buf, size_t cap)
{
    char probe[PATH_MAX + 64];

    if (snprintf(probe, sizeof(probe), "%s/%s/0001_seed.sql", dir, sub) >= (int)sizeof(probe))
        return 0;
    if (access(probe, R_OK) != 0)
        return 0;
    return snprintf(buf, cap, "%s/%s", dir, sub) < (int)cap;
}

/* Search start and each of its parents for schemas/pg. */
static int search_up(const char *start, char *buf, size_t cap)
{
    char dir[PATH_MAX];
    char *slash;

    if (snprintf(dir, sizeof(dir), "%s", start) >= (int)sizeof(dir))
        return 0;
    for (;;) {
        if (has_schemas(dir[0] != '\0' ? dir : "/", "schemas/pg", buf, cap))
            return 1;
        slash = strrchr(dir, '/');
        if (slash == NULL || dir[0] == '\0')
            return 0;
        *slash = '\0';
    }
}

int msgfleet_schema_dir(char *buf, size_t cap)
{
    const char *env = getenv("MF_SCHEMA_DIR");
    char exe[PATH_MAX];
    char cwd[PATH_MAX];
    ssize_t n;

    if (env != NULL && env[0] != '\0')
        return snprintf(buf, cap, "%s", env) < (int)cap ? 0 : -1;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        char *slash;

        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL)
            *slash = '\0';
        if (search_up(exe, buf, cap))
            return 0;
        if (has_schemas(exe, "../share/msgfleet/schemas/pg", buf, cap))
            return 0;
    }
    if (getcwd(cwd, sizeof(cwd)) != NULL && search_up(cwd, buf, cap))
        return 0;
    if (MF_SOURCE_DIR[0] != '\0' && has_schemas(MF_SOURCE_DIR, "schemas/pg", buf, cap))
        return 0;
    return -1;
}
