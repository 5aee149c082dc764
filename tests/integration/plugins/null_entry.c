/* null_entry.so - a plugin whose eddy_handler_entry() returns NULL (say,
 * a plugin that refuses to run on this machine).  The loader must report
 * it as a config error, not dereference it
 * (tests/integration/test_plugins.py). */
#include <stddef.h>

#include "eddy/handler.h"

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return NULL;
}
