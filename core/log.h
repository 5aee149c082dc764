/* core/log.h - one-line log messages to stderr, and a rate limiter so that
 * no client can flood the log. */
#ifndef EDDY_CORE_LOG_H
#define EDDY_CORE_LOG_H

#include <time.h>

enum { EDDY__LOG_ERROR, EDDY__LOG_WARN, EDDY__LOG_INFO, EDDY__LOG_DEBUG };

/* Write "eddy: LEVEL: message\n" to stderr with a single write(), so lines
 * from different threads never interleave. */
void eddy__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* At most one line a second per limiter; the next line that gets through
 * says how many were suppressed.  A limiter belongs to one thread. */
typedef struct eddy__ratelimit {
    time_t last;
    unsigned long suppressed;
} eddy__ratelimit;

void eddy__log_limited(eddy__ratelimit *rl, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
