/* mf_uuid: 16-byte UUIDs, their 36-char text form, and the deterministic job id. */
#ifndef MF_UUID_H
#define MF_UUID_H

#include <stddef.h>
#include <stdint.h>

#include "mf_err.h"

/* A UUID as its 16 bytes in network (big-endian) order, exactly as PostgreSQL stores it. */
typedef struct mf_uuid {
    uint8_t b[16];
} mf_uuid;

/* Text form: 36 characters "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" plus the NUL. */
#define MF_UUID_STR_LEN 36
#define MF_UUID_STR_SIZE 37

/* Parse exactly 36 characters of 8-4-4-4-12 hex digits (either case) into *out. Anything else
 * (braces, missing dashes, trailing characters, NULL) fails with an mf_err message and leaves
 * *out untouched. */
int mf_uuid_parse(const char *text, mf_uuid *out, mf_err *err);

/* Same, for n bytes that need not be NUL-terminated (n must be 36). */
int mf_uuid_parse_n(const char *text, size_t n, mf_uuid *out, mf_err *err);

/* Write the lower-case text form and a NUL into out (MF_UUID_STR_SIZE bytes). Returns out. */
char *mf_uuid_format(const mf_uuid *u, char out[MF_UUID_STR_SIZE]);

/* 1 when both are equal, else 0. */
int mf_uuid_equal(const mf_uuid *a, const mf_uuid *b);

/* 1 when all 16 bytes are zero (the nil UUID), else 0. */
int mf_uuid_is_nil(const mf_uuid *u);

/* The version nibble (4 random, 7 time-ordered, 8 custom...). */
int mf_uuid_version(const mf_uuid *u);

/* A random UUIDv4 from the OpenSSL CSPRNG. Fails only when the CSPRNG does. */
int mf_uuid_v4(mf_uuid *out, mf_err *err);

/* A time-ordered random UUIDv7 (RFC 9562) for the given unix time in ms. */
int mf_uuid_v7(uint64_t unix_ms, mf_uuid *out, mf_err *err);

/*
 * The deterministic job id (RFC 9562 UUIDv8, layout in schemas/kafka/README.md):
 *   bytes 0-5   run_started_ms, big-endian, low 48 bits (time order: B-tree inserts of one run
 *               land next to each other, and later runs sort after earlier ones)
 *   bytes 6-15  the first 10 bytes of hash, then the version nibble of byte 6 set to 8 and the
 *               top two bits of byte 8 set to 10 (variant): 74 hash bits remain
 * where hash = SHA-256("msgfleet.job.v1" 0x00 || run_id (16 bytes) || be32(len(key)) || key ||
 * be32(attempt)); a key over 200 bytes enters as its own SHA-256 (32 bytes).
 * The same (run_id, run_started_ms, key, attempt) always gives the same id; run_started_ms
 * must therefore come from durable state (the run's started_at truncated to milliseconds),
 * never from the clock of the expanding process. recipient_key is the normalised phone number
 * (any C string; NULL is treated as ""). Never fails, never allocates.
 */
void mf_uuid_job_id(const mf_uuid *run_id, uint64_t run_started_ms, const char *recipient_key,
                    uint32_t attempt, mf_uuid *out);

/* The 48-bit millisecond prefix of a v7 or job id (as written above). */
uint64_t mf_uuid_time_ms(const mf_uuid *u);

#endif
