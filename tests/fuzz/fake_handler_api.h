/* tests/fuzz/fake_handler_api.h - the core's side of the handler API
 * (eddy/handler.h, and eddy_log), stood in for so that a fuzz target links
 * a handler's own sources and nothing of libeddy, and a driver that runs
 * a handler on one connection as the core would.  Shared by fuzz_http.c
 * and fuzz_resp.c; fake_handler_api.c holds the calls.
 *
 * What the stand-ins check (abort, so libFuzzer keeps the input): nothing
 * is sent after eddy_close(), no send is empty (nor any piece of an
 * eddy_sendv(), which has 1 to 1024 pieces), data() never consumes more
 * than it was given, and the stand-in parameters are never rejected.
 */
#ifndef EDDY_FAKE_HANDLER_API_H
#define EDDY_FAKE_HANDLER_API_H

#include <stddef.h>

#include "eddy/handler.h"

/* One parameter: its text for eddy_params_str(), its value for
 * eddy_params_size(); a name not in the list gets the caller's default. */
typedef struct fake_param {
    const char *name;
    const char *text; /* NULL: eddy_params_str() gives the default */
    size_t size;
} fake_param;

struct eddy_params {
    const fake_param *v;
    size_t n;
};

/* Run h on one connection as the core does: init(params), open(), then
 * data() on in[0..len) delivered in reads whose sizes come from `cut`, the
 * bytes it left unconsumed handed back in front of the next read, until
 * the input ends or the handler calls eddy_close(); then close(), fini().
 * Aborts when init() or open() fails, or when an open connection is left
 * holding max_left bytes or more (SIZE_MAX: no bound).  Returns everything
 * the handler sent, concatenated, *out_len bytes (free() it). */
char *fake_run(const eddy_handler *h, eddy_params *params, const char *in, size_t len,
               unsigned cut, size_t max_left, size_t *out_len);

#endif
