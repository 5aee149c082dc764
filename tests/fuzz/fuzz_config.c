/* tests/fuzz/fuzz_config.c - libFuzzer target for the config parser.
 *
 * Any bytes go to eddy_config_parse(); whatever they are, it must not
 * crash, read or write out of bounds, hit undefined behaviour or leak
 * (ASan+UBSan+LeakSanitizer), and its answer must be consistent:
 *   - failure: -EINVAL, *out untouched, a message naming the file and,
 *     unless it is about the whole file, a line that is in the input;
 *   - success: at least one listener, each with a transport, an address
 *     and a handler, low_water never above high_water, and the first
 *     listener's address accepted again by eddy_config_override("listen"),
 *     and its dump (eddyd -T) parsed again dumps to the same text.
 * The input is parsed a second time into an error buffer of 2 to 65 bytes
 * (heap, exact size: ASan sees any write past it), with the same result.
 * Any break of these aborts, so libFuzzer saves the input.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "eddy/eddy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ok(eddy_config *c)
{
    if (!c || c->nlisteners == 0 || !c->listeners || !c->name)
        abort();
    for (size_t i = 0; i < c->nlisteners; i++) {
        const eddy__cfg_listener *l = &c->listeners[i];
        if (!l->transport || !l->address || !l->handler || !*l->handler || !l->params ||
            l->line < 1)
            abort();
        if (l->low_water > l->high_water)
            abort();
    }
    char *text = eddy_config_dump(c), *again = NULL;
    eddy_config *d = NULL;
    if (!text || eddy_config_parse(&d, "dump.conf", text, strlen(text), NULL, 0) != 0 ||
        !(again = eddy_config_dump(d)) || strcmp(text, again) != 0)
        abort();
    free(again);
    free(text);
    eddy_config_free(d);
    char *address = strdup(c->listeners[0].address);
    if (!address)
        abort();
    char err[256];
    if (eddy_config_override(c, "listen", address, err, sizeof(err)) != 0)
        abort();
    free(address);
}

/* "fuzz.conf:LINE: ..." with LINE in the input, or "fuzz.conf: ..." for
 * what concerns the whole file. */
static void check_error(const char *err, const char *name, const uint8_t *data, size_t size)
{
    size_t n = strlen(name);
    if (strncmp(err, name, n) != 0 || err[n] != ':')
        abort();
    if (err[n + 1] == ' ')
        return;
    long lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    char *end;
    long line = strtol(err + n + 1, &end, 10);
    if (line < 1 || line > lines || end[0] != ':' || end[1] != ' ')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char name[] = "fuzz.conf";
    eddy_config *c = NULL;
    char err[512];
    err[0] = '\x7f';
    int rc = eddy_config_parse(&c, name, (const char *)data, size, err, sizeof(err));
    if (rc == 0) {
        check_ok(c);
        eddy_config_free(c);
    } else {
        if (rc != -EINVAL || c)
            abort();
        check_error(err, name, data, size);
    }

    size_t small = 2 + (size ? data[size - 1] % 64 : 0);
    char *e = malloc(small);
    if (!e)
        abort();
    c = NULL;
    if (eddy_config_parse(&c, name, (const char *)data, size, e, small) != rc)
        abort();
    if (rc == 0 ? e[0] != '\0' : strlen(e) != small - 1 && strcmp(e, err) != 0)
        abort();
    eddy_config_free(c);
    free(e);
    return 0;
}
