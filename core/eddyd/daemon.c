/* core/eddyd/daemon.c - see daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* The pid written in an open pidfile, 0 when it holds none. */
static long pid_in(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return strtol(buf, NULL, 10);
}

int eddyd_pidfile_write(const char *path, long *holder)
{
    *holder = 0;
    for (;;) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int err = errno;
            if (err == EWOULDBLOCK)
                *holder = pid_in(fd);
            close(fd);
            return -err;
        }
        /* Locked; but if its owner unlinked the file meanwhile, the lock is
         * on a file no one will look at: take the new one. */
        struct stat mine, named;
        if (fstat(fd, &mine) == 0 && stat(path, &named) == 0 && mine.st_dev == named.st_dev &&
            mine.st_ino == named.st_ino) {
            char pid[32];
            int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
            ssize_t w = ftruncate(fd, 0) < 0 ? -1 : pwrite(fd, pid, (size_t)n, 0);
            if (w != n) {
                int err = w < 0 ? errno : EIO;
                close(fd);
                return -err;
            }
            return fd;
        }
        close(fd);
    }
}

void eddyd_pidfile_remove(const char *path, int fd)
{
    if (fd < 0)
        return;
    struct stat mine, named;
    if (path && fstat(fd, &mine) == 0 && stat(path, &named) == 0 && mine.st_dev == named.st_dev &&
        mine.st_ino == named.st_ino && pid_in(fd) == (long)getpid())
        unlink(path); /* before the lock goes: no one else holds this file */
    close(fd);
}

int eddyd_drop_privileges(const char *user, const char *group, char *why, size_t whylen)
{
    if (!user && !group)
        return 0;
    if (geteuid() != 0) {
        snprintf(why, whylen, "user/group set but eddyd is not running as root: running as uid %d",
                 (int)geteuid());
        return -EPERM;
    }
    uid_t uid = 0;
    gid_t gid = 0;
    if (user) {
        struct passwd *pw = getpwnam(user);
        if (!pw) {
            snprintf(why, whylen, "user '%s' does not exist", user);
            return -ENOENT;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    if (group) {
        struct group *gr = getgrnam(group);
        if (!gr) {
            snprintf(why, whylen, "group '%s' does not exist", group);
            return -ENOENT;
        }
        gid = gr->gr_gid;
    }
    /* glibc applies these to every thread of the process. */
    if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || (user && setuid(uid) < 0)) {
        int err = errno;
        snprintf(why, whylen, "cannot become %s/%s: %s", user ? user : "-", group ? group : "-",
                 strerror(err));
        return -err;
    }
    if (user && setuid(0) == 0) { /* must not be able to get root back */
        snprintf(why, whylen, "privileges could be regained after dropping them");
        return -EPERM;
    }
    return 0;
}

int eddyd_notify(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sun.sun_path))
        return -ENAMETOOLONG;
    memcpy(sun.sun_path, path, len);
    if (sun.sun_path[0] == '@')
        sun.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int rc = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, sl) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

long eddyd_watchdog_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    long long us = usec ? atoll(usec) : 0;
    int ours = !pid || atol(pid) == (long)getpid();
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    if (!ours || us <= 0)
        return 0;
    long long ms = us / 2000;
    return ms < 1 ? 1 : ms > 86400000 ? 86400000 : (long)ms;
}

void eddyd_malloc_init(void)
{
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, 1);
#endif
}

int eddyd_take_systemd_sockets(eddy_server *s, char *why, size_t whylen)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || atol(pid) != (long)getpid())
        return 0;
    long n = atol(fds);
    const char *names = getenv("LISTEN_FDNAMES");
    char *copy = names ? strdup(names) : NULL, *next = copy;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    if (n <= 0 || n > 1024)
        n = 0;
    for (int fd = 3; fd < 3 + n; fd++) {
        /* LISTEN_FDNAMES: one name per fd, in order, separated by ':'. */
        const char *name = next ? strsep(&next, ":") : NULL;
        int rc = eddy_server_adopt_named_socket(s, fd, name);
        if (rc < 0) {
            snprintf(why, whylen, "socket activation: fd %d%s%s%s: %s", fd, name ? " (" : "",
                     name ? name : "", name ? ")" : "", eddy_server_error(s));
            free(copy);
            unsetenv("LISTEN_FDNAMES");
            return rc;
        }
    }
    free(copy);
    unsetenv("LISTEN_FDNAMES");
    return (int)n;
}
