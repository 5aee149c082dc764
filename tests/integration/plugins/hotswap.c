/* hotswap.so - one source built twice, as hotswap_v1.so (-DVERSION=1) and
 * hotswap_v2.so (-DVERSION=2), for test_hotswap.py: it answers each read
 * with "vVERSION " + the bytes, and its fini() appends "vVERSION fini\n" to
 * the file named by its parameter marker, so the test can tell which build
 * served a connection and that the old one's fini ran. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/handler.h"

#define STR2(x) #x
#define STR(x) STR2(x)
#define TAG "v" STR(VERSION)

static int hotswap_init(void **state, eddy_params *params)
{
    const char *marker = eddy_params_str(params, "marker", "");
    char *copy = malloc(strlen(marker) + 1);
    if (!copy)
        return -ENOMEM;
    strcpy(copy, marker);
    *state = copy;
    return 0;
}

static void hotswap_fini(void *state)
{
    const char *marker = state;
    FILE *f = *marker ? fopen(marker, "a") : NULL;
    if (f) {
        fputs(TAG " fini\n", f);
        fclose(f);
    }
    free(state);
}

static size_t hotswap_data(eddy_conn *c, const char *buf, size_t len)
{
    eddy_send(c, TAG " ", sizeof(TAG));
    eddy_send(c, buf, len);
    return len;
}

static const eddy_param hotswap_params[] = {{"marker", 0}, {NULL, 0}};

static const eddy_handler hotswap_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "hotswap",
    .params = hotswap_params,
    .init = hotswap_init,
    .fini = hotswap_fini,
    .data = hotswap_data,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &hotswap_handler;
}
