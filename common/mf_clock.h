/* mf_clock: milliseconds from the monotonic clock (intervals) and the wall clock (timestamps). */
#ifndef MF_CLOCK_H
#define MF_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds (CLOCK_MONOTONIC): for deadlines, intervals and rates; never jumps
 * with clock adjustments, and means nothing across processes. */
int64_t mf_clock_mono_ms(void);

/* Unix time in milliseconds (CLOCK_REALTIME): for what is stored or sent (timestamps). */
int64_t mf_clock_wall_ms(void);

#endif
