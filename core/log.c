/* core/log.c - see log.h.
 *
 * Lines go to stderr or to a log file.  On stderr under systemd
 * (JOURNAL_STREAM set) a line starts with its syslog priority, "<6>",
 * for journald, and carries no timestamp (the journal has one); elsewhere,
 * a file included, it starts with an ISO 8601 UTC timestamp.  The file is
 * opened O_APPEND and reopened by eddy_log_reopen() (SIGUSR1 in eddyd)
 * after logrotate moves it.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

atomic_int eddy__log_level = EDDY__LOG_INFO;
/* The log's fd, swapped by eddy_set_log_file() while workers may be
 * writing: the lock makes a line go wholly to the old file or wholly to
 * the new one, and the old fd is never closed under a write.  Logging is
 * rate-limited and off the hot path, so a lock costs nothing measurable. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDERR_FILENO;
static char log_path[4096];
static _Thread_local char thread_name[16];
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
    atomic_store_explicit(&eddy__log_level, level, memory_order_relaxed);
}

int eddy_log_to_file(void)
{
    pthread_mutex_lock(&log_lock);
    int to_file = log_fd != STDERR_FILENO;
    pthread_mutex_unlock(&log_lock);
    return to_file;
}

void eddy__log_thread(const char *name, int id)
{
    if (id < 0)
        snprintf(thread_name, sizeof(thread_name), "%s", name);
    else
        snprintf(thread_name, sizeof(thread_name), "%s%d", name, id);
}

int eddy__log_pass(eddy__ratelimit *rl, int level)
{
    if (!eddy__log_on(level))
        return 0;
    if (!rl)
        return 1;
    time_t now = time(NULL);
    if (rl->last == now) {
        rl->suppressed++;
        return 0;
    }
    rl->last = now;
    return 1;
}

/* Append what vsnprintf would to line[*len], keeping room for '\n'. */
static void append(char *line, size_t cap, size_t *len, const char *fmt, va_list ap)
{
    int m = vsnprintf(line + *len, cap - *len, fmt, ap);
    *len += m < 0 ? 0 : (size_t)m;
    if (*len > cap - 2)
        *len = cap - 2;
}

static void appendf(char *line, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void appendf(char *line, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append(line, cap, len, fmt, ap);
    va_end(ap);
}

void eddy__log_vline(eddy__ratelimit *rl, int level, const char *who, const char *fmt, va_list ap)
{
    char line[1024];
    size_t len = 0;
    if (level < EDDY__LOG_ERROR || level > EDDY__LOG_DEBUG)
        level = EDDY__LOG_ERROR;
    const char *name = thread_name[0] ? thread_name : "main";
    pthread_mutex_lock(&log_lock); /* held while formatting: the fd decides the form */
    if (log_fd == STDERR_FILENO && getenv("JOURNAL_STREAM")) {
        appendf(line, sizeof(line), &len, "<%c>", level_priority[level]);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        appendf(line, sizeof(line), &len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                (int)(ts.tv_nsec / 1000000));
    }
    appendf(line, sizeof(line), &len, "%s [%s] ", level_names[level], name);
    if (who)
        appendf(line, sizeof(line), &len, "%s: ", who);
    append(line, sizeof(line), &len, fmt, ap);
    if (rl && rl->suppressed) {
        appendf(line, sizeof(line), &len, " (%lu similar suppressed)", rl->suppressed);
        rl->suppressed = 0;
    }
    line[len++] = '\n';
    ssize_t w = write(log_fd, line, len);
    pthread_mutex_unlock(&log_lock);
    (void)w; /* nowhere to report a failing log */
}

void eddy__log_line(eddy__ratelimit *rl, int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    eddy__log_vline(rl, level, who, fmt, ap);
    va_end(ap);
}

void eddy_log(int level, const char *fmt, ...)
{
    if (!eddy__log_on(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    eddy__log_vline(NULL, level, NULL, fmt, ap);
    va_end(ap);
}
