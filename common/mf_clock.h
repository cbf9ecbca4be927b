/* mf_clock: milliseconds from the monotonic clock (intervals) and the wall clock (timestamps). */
#ifndef MF_CLOCK_H
#define MF_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds (CLOCK_MONOTONIC): for deadlines, intervals and rates; never jumps
 * with clock adjustments, and means nothing across processes. */
int64_t mf_clock_mono_ms(void);

/* Monotonic seconds with sub-millisecond resolution: for latencies measured into metrics. */
double mf_clock_mono_s(void);

/* Unix time in milliseconds (CLOCK_REALTIME): for what is stored or sent (timestamps). */
int64_t mf_clock_wall_ms(void);

/*
 * An ISO 8601 time as the provider, its SDK and the fleet write them, to unix milliseconds:
 * "2026-12-06T15:40:20Z", "2026-12-06T15:40:20.678+09:00", "2026-12-06 15:40:20+0900",
 * "2026-12-06T15:40" (no seconds) or "2026-12-06" (midnight). Between date and time 'T', 't'
 * or ' '; fractional seconds of one or more digits, cut to milliseconds; the zone "Z", "z",
 * "+hh", "+hh:mm", "+hhmm" (or '-'), none meaning UTC. Every field has exactly its digits and
 * is in range (month 1-12, day 1-31, hour 0-23, minute 0-59, second 0-60, zone hours 0-23);
 * nothing may follow. 0 with *out_ms, or -1 (out_ms untouched) when s is NULL or not such a
 * time.
 */
int mf_clock_parse_iso8601(const char *s, int64_t *out_ms);

#endif
