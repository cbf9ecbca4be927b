/* mf_clock: milliseconds from the monotonic clock (intervals) and the wall clock (timestamps). */
#include "mf_clock.h"

#include <string.h>
#include <time.h>

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mf_clock_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

double mf_clock_mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t mf_clock_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Exactly n digits at *p: their value in *out, *p moved past them. */
static int digits(const char **p, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* The zone at p, which must end the string: "", "Z", "z", "+hh", "+hh:mm", "+hhmm", '-'. */
static int parse_zone(const char *p, int64_t *off_ms)
{
    int sign, hh, mm = 0;

    if (*p == 'Z' || *p == 'z') {
        *off_ms = 0;
        return p[1] == '\0' ? 0 : -1;
    }
    if (*p == '\0') {
        *off_ms = 0;
        return 0;
    }
    if (*p != '+' && *p != '-')
        return -1;
    sign = *p == '-' ? -1 : 1;
    p++;
    if (digits(&p, 2, &hh) != 0)
        return -1;
    if (*p == ':')
        p++;
    if (*p != '\0' && digits(&p, 2, &mm) != 0)
        return -1;
    if (*p != '\0' || hh > 23 || mm > 59)
        return -1;
    *off_ms = sign * ((int64_t)hh * 3600 + mm * 60) * 1000;
    return 0;
}

/* "hh:mm[:ss[.f+]]" at *p into tm and *ms. */
static int parse_time(const char **p, struct tm *tm, int *ms)
{
    int scale = 100;

    if (digits(p, 2, &tm->tm_hour) != 0 || *(*p)++ != ':' || digits(p, 2, &tm->tm_min) != 0)
        return -1;
    if (**p != ':')
        return 0;
    (*p)++;
    if (digits(p, 2, &tm->tm_sec) != 0)
        return -1;
    if (**p != '.')
        return 0;
    (*p)++;
    if (!is_digit(**p))
        return -1;
    for (; is_digit(**p); (*p)++) {
        *ms += (**p - '0') * scale;
        scale /= 10;
    }
    return 0;
}

int mf_clock_parse_iso8601(const char *s, int64_t *out_ms)
{
    struct tm tm;
    const char *p = s;
    int y, mo, ms = 0;
    int64_t off = 0;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (s == NULL || digits(&p, 4, &y) != 0 || *p++ != '-' || digits(&p, 2, &mo) != 0 ||
        *p++ != '-' || digits(&p, 2, &tm.tm_mday) != 0)
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (parse_time(&p, &tm, &ms) != 0)
            return -1;
    }
    if (parse_zone(p, &off) != 0)
        return -1;
    if (mo < 1 || mo > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    t = timegm(&tm);
    *out_ms = (int64_t)t * 1000 + ms - off;
    return 0;
}
