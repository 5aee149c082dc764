/* core/log.h - eddy's one logger: every line, the library's and eddyd's,
 * goes through it, to stderr or to the log file.  A line is
 *
 *     2026-12-07T18:00:00.123Z info [w1] #42 127.0.0.1:5555: closed (idle timeout)
 *
 * timestamp (ISO 8601 UTC, ms) or, under journald, a "<N>" syslog
 * priority instead; the level; the thread ("w0" for worker 0, "pool",
 * "main"); for a connection its id and client address; the message.
 * Each line is one write(), so lines from threads never interleave.
 *
 * Every entry point checks the level before formatting anything, and the
 * macros below check it inline, so a debug line on the hot path costs one
 * relaxed load and a compare while the level is higher. */
#ifndef EDDY_CORE_LOG_H
#define EDDY_CORE_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>

#include "eddy/eddy.h"

enum {
    EDDY__LOG_ERROR = EDDY_LOG_ERROR,
    EDDY__LOG_WARN = EDDY_LOG_WARN,
    EDDY__LOG_INFO = EDDY_LOG_INFO,
    EDDY__LOG_DEBUG = EDDY_LOG_DEBUG,
};

/* The most verbose level written (eddy_set_log_level). */
extern atomic_int eddy__log_level;

static inline int eddy__log_on(int level)
{
    return level <= atomic_load_explicit(&eddy__log_level, memory_order_relaxed);
}

/* At most one line a second per limiter; the next line that gets through
 * says how many were suppressed.  A limiter belongs to one thread. */
typedef struct eddy__ratelimit {
    time_t last;
    unsigned long suppressed;
} eddy__ratelimit;

/* Name the calling thread in its lines: name alone (id < 0), or name
 * followed by id ("w", 3: "w3").  Threads never named say "main". */
void eddy__log_thread(const char *name, int id);

/* May a line at level go out now?  Checks the level, then rl (NULL: no
 * limit), counting a line it holds back.  A caller that must format
 * something costly for the line (a client address) asks this first. */
int eddy__log_pass(eddy__ratelimit *rl, int level);

/* Write one line without asking: who ("#42 127.0.0.1:5555", or NULL) goes
 * before the message; rl's count of suppressed lines, if any, after it. */
void eddy__log_vline(eddy__ratelimit *rl, int level, const char *who, const char *fmt,
                     va_list ap);
void eddy__log_line(eddy__ratelimit *rl, int level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define eddy__log(level, ...)                                 \
    do {                                                      \
        if (eddy__log_on(level))                              \
            eddy__log_line(NULL, level, NULL, __VA_ARGS__);   \
    } while (0)

#define eddy__log_limited(rl, level, ...)                         \
    do {                                                          \
        if (eddy__log_on(level) && eddy__log_pass(rl, level))     \
            eddy__log_line(rl, level, NULL, __VA_ARGS__);         \
    } while (0)

#endif
