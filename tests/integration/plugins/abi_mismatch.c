/* abi_mismatch.so - a plugin built for the NEXT handler ABI.
 *
 * Everything is right but abi_version, which says EDDY_ABI_VERSION + 1: the
 * loader must refuse it at `eddyd -t`, naming the file and both versions
 * (tests/integration/test_plugins.py).  Its callbacks are never called. */
#include <stddef.h>

#include "eddy/handler.h"

static size_t mismatch_data(eddy_conn *c, const char *buf, size_t len)
{
    (void)buf;
    eddy_close(c); /* never reached: the loader refuses the table */
    return len;
}

static const eddy_handler mismatch_handler = {
    .abi_version = EDDY_ABI_VERSION + 1,
    .name = "abi_mismatch",
    .data = mismatch_data,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &mismatch_handler;
}
