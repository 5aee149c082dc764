/* core/error.c - eddy_strerror: the one table of error texts.
 *
 * eddy returns negative errno values; this table names the ones it uses
 * with eddy's own wording, so messages read the same on every libc. */
#include "eddy/error.h"

#include <errno.h>
#include <stddef.h>

#define EDDY_ERRORS(X)                                                     \
    X(EINVAL, "invalid argument")                                         \
    X(ENOMEM, "out of memory")                                            \
    X(ENOBUFS, "buffer limit reached")                                    \
    X(EADDRINUSE, "address already in use")                               \
    X(EADDRNOTAVAIL, "address not available")                             \
    X(EACCES, "permission denied")                                        \
    X(EPERM, "operation not permitted")                                   \
    X(EMFILE, "too many open files in this process")                      \
    X(ENFILE, "too many open files in the system")                        \
    X(ENOENT, "no such file or directory")                                \
    X(EPIPE, "connection closed")                                         \
    X(ECONNRESET, "connection reset by peer")                             \
    X(ECONNREFUSED, "connection refused")                                 \
    X(ETIMEDOUT, "connection timed out")                                  \
    X(ENETUNREACH, "network unreachable")                                 \
    X(EHOSTUNREACH, "host unreachable")                                   \
    X(ECANCELED, "cancelled")                                             \
    X(EAGAIN, "resource temporarily unavailable")                         \
    X(EINTR, "interrupted system call")                                   \
    X(EBUSY, "already running")                                           \
    X(EAFNOSUPPORT, "address family not supported")                       \
    X(ENOSYS, "not supported by this kernel")                             \
    X(ERANGE, "value out of range")                                       \
    X(EEXIST, "already exists")                                           \
    X(EISDIR, "is a directory")                                           \
    X(ENOTDIR, "not a directory")                                         \
    X(ELOOP, "too many symbolic links")                                   \
    X(ENAMETOOLONG, "file name too long")                                 \
    X(EFBIG, "file too large")                                            \
    X(EIO, "input/output error")                                          \
    X(ENOTSOCK, "not a socket")                                           \
    X(EBADF, "not an open file descriptor")

const char *eddy_strerror(int err)
{
    switch (-err) {
    case 0:
        return "success";
#define EDDY_ERROR_CASE(code, text) \
    case code:                      \
        return text;
        EDDY_ERRORS(EDDY_ERROR_CASE)
#undef EDDY_ERROR_CASE
    default:
        return "unknown error";
    }
}
