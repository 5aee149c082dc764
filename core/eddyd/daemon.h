/* core/eddyd/daemon.h - what eddyd does with its process, beyond serving: the
 * pidfile, dropping privileges, telling systemd how it is doing, and
 * taking the sockets systemd opened for it. */
#ifndef EDDY_CORE_DAEMON_H
#define EDDY_CORE_DAEMON_H

#include <stddef.h>

#include "eddy/eddy.h"

/* Take path as our pidfile: open it (created 0644), lock it with flock and
 * write our pid.  Returns the fd, which holds the lock for as long as it
 * is open, or -errno: -EWOULDBLOCK when another process holds the lock,
 * with its pid (as the file says) in *holder. */
int eddyd_pidfile_write(const char *path, long *holder);
/* Remove the pidfile taken as fd, only if the path still names that file
 * and it still holds our pid, then release the lock.  fd < 0: nothing. */
void eddyd_pidfile_remove(const char *path, int fd);

/* Become user (and group, or the user's primary group) when running as
 * root: setgroups, setgid, setuid, in that order.  A no-op when neither is
 * set.  0, or -errno with why filled in. */
int eddyd_drop_privileges(const char *user, const char *group, char *why, size_t whylen);

/* sd_notify(3) without libsystemd: one datagram with msg to $NOTIFY_SOCKET
 * (a path, or an abstract name after '@').  0 when there is no socket. */
int eddyd_notify(const char *msg);

/* systemd's watchdog (sd_watchdog_enabled(3)): how often to check the
 * workers and ping, half of WATCHDOG_USEC, in ms; 0 when no watchdog is
 * asked of this process (WATCHDOG_PID, when set, names another one).  The
 * variables are then unset so children do not see them. */
long eddyd_watchdog_ms(void);

/* eddyd's malloc policy, set before any thread starts: one arena for all
 * threads.  glibc otherwise gives each worker its own arena and keeps what
 * a thread frees in it: under steady mixed traffic each arena reached new
 * high-water marks of small objects and RSS crept (two 10-minute soaks
 * side by side: 300 kB more RSS and a fitted drift of 21.7 %/h with an
 * arena per thread, -2.8 %/h with one).  The serving path does not
 * allocate (I/O buffers come from the worker's pool, and are mapped outside
 * malloc: core/buf.c), so the shared arena's lock is not on it.  A no-op
 * on other C libraries. */
void eddyd_malloc_init(void);

/* Socket activation: the fds systemd passed (LISTEN_FDS, LISTEN_PID, from
 * fd 3) handed to the server's listeners: by the name LISTEN_FDNAMES gives
 * the fd (a listen block's `systemd_socket NAME`), else by address.  The
 * variables are then unset so children do not see them.  Returns how many
 * were taken, or a negative errno with why filled in (an fd that matches
 * no listener, or a named one of another transport). */
int eddyd_take_systemd_sockets(eddy_server *s, char *why, size_t whylen);

#endif
