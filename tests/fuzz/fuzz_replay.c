/* fuzz_replay: runs a fuzz target once per corpus file, for builds without libFuzzer. */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mf_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest input replayed; the fuzz runs use -max_len far below it. */
#define REPLAY_MAX_BYTES ((size_t)16 * 1024 * 1024)

/* Feed one file, read into a buffer of exactly its size (so that a read past the input is
 * caught under AddressSanitizer, as libFuzzer would). Returns 0 or -1. */
static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    struct stat st;
    size_t n = 0;
    int rc = -1;
    char ebuf[128];

    if (fp == NULL) {
        fprintf(stderr, "fuzz_replay: could not open \"%s\": %s\n", path,
                mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
        return -1;
    }
    if (fstat(fileno(fp), &st) != 0 || st.st_size < 0 || (size_t)st.st_size > REPLAY_MAX_BYTES) {
        fprintf(stderr, "fuzz_replay: \"%s\" is not a file of at most %zu bytes\n", path,
                REPLAY_MAX_BYTES);
        goto out;
    }
    buf = malloc((size_t)st.st_size > 0 ? (size_t)st.st_size : 1);
    if (buf == NULL) {
        fprintf(stderr, "fuzz_replay: out of memory for \"%s\"\n", path);
        goto out;
    }
    n = fread(buf, 1, (size_t)st.st_size, fp);
    if (n != (size_t)st.st_size) {
        fprintf(stderr, "fuzz_replay: could not read \"%s\"\n", path);
        goto out;
    }
    fprintf(stderr, "fuzz_replay: %s\n", path); /* the last one named is the one that crashed */
    LLVMFuzzerTestOneInput(buf, n);
    rc = 0;
out:
    free(buf);
    fclose(fp);
    return rc;
}

/* Every regular file of dir, in name order. Returns the number replayed or -1. */
static long replay_dir(const char *dir)
{
    struct dirent **names = NULL;
    char path[4096];
    long count = 0;
    int n, i;
    char ebuf[128];

    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "fuzz_replay: could not read directory \"%s\": %s\n", dir,
                mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
        return -1;
    }
    for (i = 0; i < n; i++) {
        struct stat st;

        if (count >= 0 && names[i]->d_name[0] != '.' &&
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) < (int)sizeof(path) &&
            stat(path, &st) == 0 && S_ISREG(st.st_mode))
            count = replay_file(path) == 0 ? count + 1 : -1;
        free(names[i]);
    }
    free(names);
    return count;
}

/* Usage: fuzz_<target> PATH...: each PATH a corpus directory or one input file. Fails when
 * a path cannot be read or no input was found; a crashing input aborts the program. */
int main(int argc, char **argv)
{
    struct stat st;
    long total = 0, n;
    int i;
    char ebuf[128];

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS-DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "fuzz_replay: \"%s\": %s\n", argv[i],
                    mf_err_errno_str(errno, ebuf, sizeof(ebuf)));
            return 1;
        }
        n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0)
            return 1;
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "fuzz_replay: no input found in the given paths\n");
        return 1;
    }
    printf("fuzz_replay: %ld inputs replayed without a crash\n", total);
    return 0;
}
