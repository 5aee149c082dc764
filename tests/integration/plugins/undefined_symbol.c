/* undefined_symbol.so - a plugin that cannot be loaded with RTLD_NOW: it
 * calls a function that exists nowhere (not in eddyd, libeddy or libc).
 * It links (the module is built with -z undefs, as plugins are), but
 * dlopen(RTLD_NOW) must fail, and eddyd -t must report "cannot load
 * FILE: <dlerror naming the symbol>" at the handler's line
 * (tests/integration/test_plugins.py). */
#include <stddef.h>

#include "eddy/handler.h"

/* Defined nowhere. */
extern void eddy_test_function_that_does_not_exist(eddy_conn *c);

static size_t undefined_data(eddy_conn *c, const char *buf, size_t len)
{
    (void)buf;
    eddy_test_function_that_does_not_exist(c);
    return len;
}

static const eddy_handler undefined_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "undefined_symbol",
    .data = undefined_data,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &undefined_handler;
}
