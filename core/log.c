/* core/log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "eddy/eddy.h"

static atomic_int log_level = EDDY__LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void eddy_set_log_level(int level)
{
    if (level < EDDY__LOG_ERROR)
        level = EDDY__LOG_ERROR;
    if (level > EDDY__LOG_DEBUG)
        level = EDDY__LOG_DEBUG;
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

static void log_va(int level, const char *suffix, const char *fmt, va_list ap)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "eddy: %s: ", level_names[level]);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    if (suffix) {
        int k = snprintf(line + len, sizeof(line) - len, "%s", suffix);
        len += (size_t)k;
        if (len > sizeof(line) - 2)
            len = sizeof(line) - 2;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere to report a failing stderr */
}

void eddy__log(int level, const char *fmt, ...)
{
    if (level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_va(level, NULL, fmt, ap);
    va_end(ap);
}

void eddy__log_limited(eddy__ratelimit *rl, int level, const char *fmt, ...)
{
    if (level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    time_t now = time(NULL);
    if (rl->last == now) {
        rl->suppressed++;
        return;
    }
    rl->last = now;
    char suffix[64] = "";
    if (rl->suppressed)
        snprintf(suffix, sizeof(suffix), " (%lu similar suppressed)", rl->suppressed);
    rl->suppressed = 0;
    va_list ap;
    va_start(ap, fmt);
    log_va(level, suffix[0] ? suffix : NULL, fmt, ap);
    va_end(ap);
}
