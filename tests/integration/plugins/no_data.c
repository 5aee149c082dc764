/* no_data.so - a plugin whose table has the right ABI version and a name
 * but no data() callback, the one callback every handler needs.  The loader
 * must refuse it (tests/integration/test_plugins.py). */
#include <stddef.h>

#include "eddy/handler.h"

static const eddy_handler no_data_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "no_data",
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &no_data_handler;
}
