/* core/log.c - see log.h.
 *
 * Lines go to stderr or to a log file.  Under systemd (JOURNAL_STREAM set)
 * a line starts with its syslog priority, "<4>", for journald, and carries
 * no timestamp (the journal has one); elsewhere it starts with an ISO 8601
 * UTC timestamp.  The file is opened O_APPEND and reopened by
 * eddy_log_reopen() (SIGUSR1 in eddyd) after logrotate moves it.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "eddy/eddy.h"

static atomic_int log_level = EDDY__LOG_INFO;
/* The log's fd, swapped by eddy_set_log_file() while workers may be
 * writing: the lock makes a line go wholly to the old file or wholly to
 * the new one, and the old fd is never closed under a write.  Logging is
 * rate-limited and off the hot path, so a lock costs nothing measurable. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO;
static char log_path[4096];
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char level_priority[] = {'3', '4', '6', '7'}; /* syslog: err, warning, info, debug */

/* Open path for appending and make it the log; "" or NULL: stderr. */
int eddy_set_log_file(const char *path)
{
    int fd = STDERR_FILENO;
    if (path && *path) {
        if (strlen(path) >= sizeof(log_path))
            return -ENAMETOOLONG;
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0)
            return -errno;
        snprintf(log_path, sizeof(log_path), "%s", path);
    } else {
        log_path[0] = '\0';
    }
    pthread_mutex_lock(&log_lock);
    int old = log_fd;
    log_fd = fd;
    pthread_mutex_unlock(&log_lock);
    if (old != STDERR_FILENO)
        close(old);
    return 0;
}

int eddy_log_reopen(void)
{
    if (!log_path[0])
        return 0;
    char path[sizeof(log_path)];
    memcpy(path, log_path, sizeof(path));
    return eddy_set_log_file(path);
}

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
    int n;
    if (getenv("JOURNAL_STREAM")) {
        n = snprintf(line, sizeof(line), "<%c>eddy: %s: ", level_priority[level],
                     level_names[level]);
    } else {
        struct timeval tv;
        struct tm tm;
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ eddy: %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level]);
    }
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
    pthread_mutex_lock(&log_lock);
    ssize_t w = write(log_fd, line, len);
    pthread_mutex_unlock(&log_lock);
    (void)w; /* nowhere to report a failing log */
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
