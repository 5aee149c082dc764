/* eddy/error.h - error reporting.
 *
 * Every eddy function that can fail returns a negative errno value
 * (-EINVAL, -ENOMEM, -EADDRINUSE, ...) and 0 or a count on success, as libuv
 * does.  eddy_strerror() turns one into text; it never returns NULL.
 */
#ifndef EDDY_ERROR_H
#define EDDY_ERROR_H

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(EDDY_BUILDING)
#define EDDY_API __attribute__((visibility("default")))
#else
#define EDDY_API
#endif

/* Text for a negative errno value returned by eddy; thread-safe, static. */
EDDY_API const char *eddy_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
