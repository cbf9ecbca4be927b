/* mf_log: structured JSON-lines logging with levels; phone numbers masked, one write per line. */
#ifndef MF_LOG_H
#define MF_LOG_H

#include <stddef.h>

typedef enum mf_log_level { MF_LOG_DEBUG = 0, MF_LOG_INFO, MF_LOG_WARN, MF_LOG_ERROR } mf_log_level;

/* Opaque logger: component name, minimum level, output descriptor. */
typedef struct mf_log mf_log;

/* One field of a log line. Use the MF_KV_* constructors. */
typedef struct mf_log_kv {
    const char *key;
    const char *str;
    long long num;
    char kind; /* 's' string, 'i' integer, 'p' phone (mf_phone_mask), 'd' num/1000 */
} mf_log_kv;

#define MF_KV_S(k, v) ((mf_log_kv){(k), (v), 0, 's'})
#define MF_KV_I(k, v) ((mf_log_kv){(k), NULL, (long long)(v), 'i'})
#define MF_KV_PHONE(k, v) ((mf_log_kv){(k), (v), 0, 'p'})

/* Creates a logger writing to `fd` (not closed by mf_log_free). `component` is copied.
 * Returns NULL only when out of memory. */
mf_log *mf_log_new(const char *component, mf_log_level min_level, int fd);
void mf_log_free(mf_log *log);

/* Parses "debug", "info", "warn", "error". Returns 0 or -1. */
int mf_log_parse_level(const char *text, mf_log_level *out);

/* Writes one JSON object per line: {"ts":..., "level":..., "comp":..., "msg":..., fields...}.
 * Lines longer than the internal 8 KiB buffer are cut (the JSON stays valid). */
void mf_log_write(mf_log *log, mf_log_level level, const char *msg, const mf_log_kv *kv,
                  size_t nkv);

/* printf-style message without fields. */
void mf_log_msgf(mf_log *log, mf_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Field list helper: MF_LOG(log, MF_LOG_INFO, "run started", MF_KV_S("run_id", id)). */
#define MF_LOG(lg, lvl, msg, ...)                                                                  \
    mf_log_write((lg), (lvl), (msg), (const mf_log_kv[]){__VA_ARGS__},                             \
                 sizeof((const mf_log_kv[]){__VA_ARGS__}) / sizeof(mf_log_kv))

#endif
