/* handlers/builtin.h - the handlers built into eddyd (and into
 * eddy-fuzz-handler and the tests), compiled from handlers/echo.c and
 * handlers/stats.c.  libeddy has none: a program registers these on its
 * server, so that a config's `handler echo` finds them before any plugin.
 */
#ifndef EDDY_HANDLERS_BUILTIN_H
#define EDDY_HANDLERS_BUILTIN_H

#include "eddy/eddy.h"

/* The echo: replies prefix + each chunk read.  Parameters: prefix
 * (default "Received: "), close_after_reply (default off: one read of at
 * most 1024 bytes, one reply, close, as the seed's server does). */
const eddy_handler *eddy_echo_handler(void);
/* The stats: counters per worker and in total, as "name value" lines for
 * any line received, or Prometheus text for an HTTP GET. */
const eddy_handler *eddy_stats_handler(void);

/* Register echo and stats on s, as eddyd does: 0, or the first error of
 * eddy_server_register_handler() (eddy_server_error() says which). */
static inline int eddy_builtin_register(eddy_server *s)
{
    int rc = eddy_server_register_handler(s, eddy_echo_handler());
    return rc < 0 ? rc : eddy_server_register_handler(s, eddy_stats_handler());
}

#endif
