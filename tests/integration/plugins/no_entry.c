/* no_entry.so - a shared object that is not an eddy plugin: a complete,
 * valid handler table, but exported under another name than
 * eddy_handler_entry, so the loader finds no entry symbol and must say so
 * (tests/integration/test_plugins.py). */
#include <stddef.h>

#include "eddy/handler.h"

static size_t no_entry_data(eddy_conn *c, const char *buf, size_t len)
{
    (void)buf;
    eddy_close(c);
    return len;
}

static const eddy_handler no_entry_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "no_entry",
    .data = no_entry_data,
};

/* Almost the right name: a typo is the usual way to get here. */
EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry_v2(void);
EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry_v2(void)
{
    return &no_entry_handler;
}
