/* tests/unit/test_config.c - the configuration file (core/config.c).
 *
 * Every error the parser reports, each with its exact "NAME:LINE: message";
 * the good syntax (escapes, ';', one-line blocks, comments, CRLF); every
 * file in config/ and config/examples/ loaded and read back; overrides as
 * the command line applies them; eddy_server_configure() on parsed configs
 * (handler lookup, parameters the handler rejects or does not know); and
 * eddy_config_load() on files that cannot be a config.  No test opens a
 * socket: eddy_server_configure() only runs the handlers' init().
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builtin.h"
#include "config.h"
#include "eddy/eddy.h"
#include "listener.h"
#include "params.h"
#include "suites.h"

#ifndef EDDY_SOURCE_DIR
#error "tests/CMakeLists.txt defines EDDY_SOURCE_DIR (the source tree, for config/)"
#endif

/* A string literal and its length (it may hold NUL bytes). */
#define T(s) s, sizeof(s) - 1

/* A listen block whose body starts on line 3. */
#define LISTEN "listen tcp 127.0.0.1:1 {\n"
#define BLOCK(body) LISTEN "    handler echo\n" body "\n}\n"
#define ESCAPES "(use \\\\ \\\" \\n \\r \\t \\xHH)"
#define ADDRESS_HELP "(IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:7777)"
/* A Unix socket path one byte too long for sun_path (108 bytes). */
/* 64 values: as many as a line holds after its directive's name. */
#define EIGHT_WORDS "a b c d e f g h"
#define SIXTY_FOUR_WORDS                                                                           \
    EIGHT_WORDS " " EIGHT_WORDS " " EIGHT_WORDS " " EIGHT_WORDS " " EIGHT_WORDS " " EIGHT_WORDS   \
                " " EIGHT_WORDS " " EIGHT_WORDS
#define PATH108 \
    "/tmp/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxx"

static eddy_config *parse_ok_n(const char *text, size_t len)
{
    eddy_config *c = NULL;
    char err[512] = "";
    int rc = eddy_config_parse(&c, "t.conf", text, len, err, sizeof(err));
    ck_assert_msg(rc == 0, "rc %d, '%s' for:\n%s", rc, err, text);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(err, "");
    return c;
}

static eddy_config *parse_ok(const char *text)
{
    return parse_ok_n(text, strlen(text));
}

static const eddy__param *param(const eddy__cfg_listener *l, const char *name)
{
    for (size_t i = 0; i < l->params->n; i++)
        if (strcmp(l->params->items[i].name, name) == 0)
            return &l->params->items[i];
    return NULL;
}

/* The first value of name's first statement, or NULL. */
static const char *param_value(const eddy__cfg_listener *l, const char *name)
{
    const eddy__param *p = param(l, name);
    return p && p->nvalues ? p->values[0] : NULL;
}

/* ---- every parse error, with its exact message --------------------- */

static const struct {
    const char *text;
    size_t len;
    const char *err;
} bad[] = {
    /* unknown directives, with and without a suggestion */
    {T("wrokers 4\n"), "t.conf:1: unknown directive 'wrokers' (did you mean 'workers'?)"},
    {T("\n# a comment\nmax_conections 5\n"),
     "t.conf:3: unknown directive 'max_conections' (did you mean 'max_connections'?)"},
    {T("lisen tcp 127.0.0.1:1 {\n"), "t.conf:1: unknown directive 'lisen' (did you mean 'listen'?)"},
    {T("pool_thread 2\n"), "t.conf:1: unknown directive 'pool_thread' (did you mean 'pool_threads'?)"},
    {T("frobnicate 1\n"), "t.conf:1: unknown directive 'frobnicate'"},
    {T("x 1\n"), "t.conf:1: unknown directive 'x'"},
    {T("prefix \"> \"\n"), "t.conf:1: unknown directive 'prefix'"},
    /* a global directive in a listen block */
    {T(BLOCK("    workers 2")),
     "t.conf:3: 'workers' is a global directive: move it out of the listen block"},
    {T(BLOCK("    max_connections 2")),
     "t.conf:3: 'max_connections' is a global directive: move it out of the listen block"},
    {T(BLOCK("    pool_threads 2")),
     "t.conf:3: 'pool_threads' is a global directive: move it out of the listen block"},
    {T(BLOCK("    log_level info")),
     "t.conf:3: 'log_level' is a global directive: move it out of the listen block"},
    {T(BLOCK("    plugin_dir /tmp")),
     "t.conf:3: 'plugin_dir' is a global directive: move it out of the listen block"},
    /* a listener directive at the top */
    {T("handler echo\n"), "t.conf:1: 'handler' belongs in a listen block"},
    {T("workers 1\ndispatch pool\n"), "t.conf:2: 'dispatch' belongs in a listen block"},
    {T("high_water 1m\n"), "t.conf:1: 'high_water' belongs in a listen block"},
    {T("low_water 1k\n"), "t.conf:1: 'low_water' belongs in a listen block"},
    {T("max_message 1k\n"), "t.conf:1: 'max_message' belongs in a listen block"},
    /* missing and extra values */
    {T("workers\n"), "t.conf:1: 'workers' takes one value, got 0"},
    {T("workers 1 2\n"), "t.conf:1: 'workers' takes one value, got 2"},
    {T("workers 1 2 3\n"), "t.conf:1: 'workers' takes one value, got 3"},
    {T("workers 1 2 3 4\n"), "t.conf:1: 'workers' takes one value, got 4"},
    {T("workers " SIXTY_FOUR_WORDS " x\n"), "t.conf:1: too many values for 'workers'"},
    {T(BLOCK("    upstream " SIXTY_FOUR_WORDS " x")), "t.conf:3: too many values for 'upstream'"},
    {T("log_level;\n"), "t.conf:1: 'log_level' takes one value, got 0"},
    {T(BLOCK("    dispatch")), "t.conf:3: 'dispatch' takes one value, got 0"},
    {T(LISTEN "    handler\n}\n"), "t.conf:2: 'handler' takes one value, got 0"},
    {T(LISTEN "    handler echo echo\n}\n"), "t.conf:2: 'handler' takes one value, got 2"},
    {T(BLOCK("    max_message 1k 2k")), "t.conf:3: 'max_message' takes one value, got 2"},
    /* numbers */
    {T("workers -1\n"), "t.conf:1: workers: must be a number from 0 to 1024, not '-1'"},
    {T("workers 1025\n"), "t.conf:1: workers: must be a number from 0 to 1024, not '1025'"},
    {T("workers abc\n"), "t.conf:1: workers: must be a number from 0 to 1024, not 'abc'"},
    {T("workers 1x\n"), "t.conf:1: workers: must be a number from 0 to 1024, not '1x'"},
    {T("workers \"\"\n"), "t.conf:1: workers: must be a number from 0 to 1024, not ''"},
    {T("workers +1\n"), "t.conf:1: workers: must be a number from 0 to 1024, not '+1'"},
    {T("workers 99999999999999999999\n"),
     "t.conf:1: workers: must be a number from 0 to 1024, not '99999999999999999999'"},
    {T("max_connections 0\n"),
     "t.conf:1: max_connections: must be a number from 1 to 16777216, not '0'"},
    {T("max_connections 16777217\n"),
     "t.conf:1: max_connections: must be a number from 1 to 16777216, not '16777217'"},
    {T("max_connections 1k\n"),
     "t.conf:1: max_connections: must be a number from 1 to 16777216, not '1k'"},
    {T("pool_threads 0\n"), "t.conf:1: pool_threads: must be a number from 1 to 256, not '0'"},
    {T("pool_threads 257\n"), "t.conf:1: pool_threads: must be a number from 1 to 256, not '257'"},
    {T("log_level loud\n"), "t.conf:1: log_level: must be error, warn, info or debug, not 'loud'"},
    {T("log_level INFO\n"), "t.conf:1: log_level: must be error, warn, info or debug, not 'INFO'"},
    {T("log_level \"\"\n"), "t.conf:1: log_level: must be error, warn, info or debug, not ''"},
    {T("plugin_dir \"\"\n"), "t.conf:1: plugin_dir: must not be empty"},
    {T(LISTEN "    handler \"\"\n}\n"), "t.conf:2: handler: must not be empty"},
    /* sizes */
    {T(BLOCK("    high_water 0")),
     "t.conf:3: high_water: must be a size from 1 to 1g (e.g. 64k, 1m), not '0'"},
    {T(BLOCK("    high_water 2g")),
     "t.conf:3: high_water: must be a size from 1 to 1g (e.g. 64k, 1m), not '2g'"},
    {T(BLOCK("    high_water 12q")),
     "t.conf:3: high_water: must be a size from 1 to 1g (e.g. 64k, 1m), not '12q'"},
    {T(BLOCK("    low_water 0")),
     "t.conf:3: low_water: must be a size from 1 to 1g (e.g. 64k, 1m), not '0'"},
    {T(BLOCK("    low_water 2g")),
     "t.conf:3: low_water: must be a size from 1 to 1g (e.g. 64k, 1m), not '2g'"},
    {T(BLOCK("    low_water 12q")),
     "t.conf:3: low_water: must be a size from 1 to 1g (e.g. 64k, 1m), not '12q'"},
    {T(BLOCK("    max_message 0")),
     "t.conf:3: max_message: must be a size from 1 to 1g (e.g. 64k, 1m), not '0'"},
    {T(BLOCK("    max_message 2g")),
     "t.conf:3: max_message: must be a size from 1 to 1g (e.g. 64k, 1m), not '2g'"},
    {T(BLOCK("    max_message 12q")),
     "t.conf:3: max_message: must be a size from 1 to 1g (e.g. 64k, 1m), not '12q'"},
    {T(BLOCK("    max_message -1")),
     "t.conf:3: max_message: must be a size from 1 to 1g (e.g. 64k, 1m), not '-1'"},
    {T(BLOCK("    max_output 0")),
     "t.conf:3: max_output: must be a size from 1 to 1g (e.g. 64k, 1m), not '0'"},
    {T(BLOCK("    max_output 2g")),
     "t.conf:3: max_output: must be a size from 1 to 1g (e.g. 64k, 1m), not '2g'"},
    {T(BLOCK("    max_output 512k")),
     "t.conf:3: max_output (524288) is below high_water (1048576): the connection would be "
     "closed before reading stops"},
    {T(BLOCK("    max_output 4m\n    high_water 8m")),
     "t.conf:4: max_output (4194304) is below high_water (8388608): the connection would be "
     "closed before reading stops"},
    {T(BLOCK("    max_message 1kb")),
     "t.conf:3: max_message: must be a size from 1 to 1g (e.g. 64k, 1m), not '1kb'"},
    {T(BLOCK("    max_message 1025m")),
     "t.conf:3: max_message: must be a size from 1 to 1g (e.g. 64k, 1m), not '1025m'"},
    /* the socket options */
    {T(BLOCK("    ipv6only maybe")), "t.conf:3: ipv6only: must be on or off, not 'maybe'"},
    {T(BLOCK("    ipv6only \"\"")), "t.conf:3: ipv6only: must be on or off, not ''"},
    {T(BLOCK("    mode 0800")),
     "t.conf:3: mode: must be octal permission bits such as 0660, not '0800'"},
    {T(BLOCK("    mode 1777")),
     "t.conf:3: mode: must be octal permission bits such as 0660, not '1777'"},
    {T(BLOCK("    mode -1")), "t.conf:3: mode: must be octal permission bits such as 0660, not '-1'"},
    {T(BLOCK("    mode rw")), "t.conf:3: mode: must be octal permission bits such as 0660, not 'rw'"},
    {T(BLOCK("    mode 066x")),
     "t.conf:3: mode: must be octal permission bits such as 0660, not '066x'"},
    {T(BLOCK("    max_amplification 1001")),
     "t.conf:3: max_amplification: must be a number from 0 to 1000, not '1001'"},
    {T(BLOCK("    max_amplification -1")),
     "t.conf:3: max_amplification: must be a number from 0 to 1000, not '-1'"},
    {T("mode 0660\n"), "t.conf:1: 'mode' belongs in a listen block"},
    {T("ipv6only on\n"), "t.conf:1: 'ipv6only' belongs in a listen block"},
    {T("max_amplification 1\n"), "t.conf:1: 'max_amplification' belongs in a listen block"},
    {T(BLOCK("    systemd_socket a:b")),
     "t.conf:3: systemd_socket: must be a FileDescriptorName: 1 to 255 printable characters, no "
     "spaces and no ':', not 'a:b'"},
    {T(BLOCK("    systemd_socket \"a b\"")),
     "t.conf:3: systemd_socket: must be a FileDescriptorName: 1 to 255 printable characters, no "
     "spaces and no ':', not 'a b'"},
    {T(BLOCK("    mode 0600\n    mode 0600")), "t.conf:4: 'mode' given twice (first at line 3)"},
    {T(BLOCK("    ipv6only on\n    ipv6only off")),
     "t.conf:4: 'ipv6only' given twice (first at line 3)"},
    {T(BLOCK("    max_amplification 1\n    max_amplification 1")),
     "t.conf:4: 'max_amplification' given twice (first at line 3)"},
    /* timeouts */
    {T(BLOCK("    shutdown_timeout 5s")),
     "t.conf:3: 'shutdown_timeout' is a global directive: move it out of the listen block"},
    {T("shutdown_timeout 1s\nshutdown_timeout 2s\n"),
     "t.conf:2: 'shutdown_timeout' given twice (first at line 1)"},
    {T("\nshutdown_timeout 10\n"), "t.conf:2: shutdown_timeout: add a unit: 10s or 10ms"},
    {T("shutdown_timeout 1d\n"),
     "t.conf:1: shutdown_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '1d'"},
    {T("shutdown_timeout 25h\n"),
     "t.conf:1: shutdown_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '25h'"},
    {T("shutdown_timeout -1\n"),
     "t.conf:1: shutdown_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '-1'"},
    {T("shutdown_timeout abc\n"),
     "t.conf:1: shutdown_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not 'abc'"},
    {T(BLOCK("    idle_timeout 1d")),
     "t.conf:3: idle_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '1d'"},
    {T(BLOCK("    idle_timeout 24h1")),
     "t.conf:3: idle_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '24h1'"},
    {T(BLOCK("    idle_timeout 86400001")), "t.conf:3: idle_timeout: add a unit: 86400001s or 86400001ms"},
    {T(BLOCK("    idle_timeout 30")), "t.conf:3: idle_timeout: add a unit: 30s or 30ms"},
    {T(BLOCK("    idle_timeout 86400001ms")),
     "t.conf:3: idle_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '86400001ms'"},
    {T(BLOCK("    idle_timeout 25h")),
     "t.conf:3: idle_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '25h'"},
    {T(BLOCK("    idle_timeout -1")),
     "t.conf:3: idle_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '-1'"},
    {T(BLOCK("    idle_timeout abc")),
     "t.conf:3: idle_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not 'abc'"},
    {T(BLOCK("    idle_timeout 1.5s")),
     "t.conf:3: idle_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '1.5s'"},
    {T(BLOCK("    idle_timeout \"\"")),
     "t.conf:3: idle_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not ''"},
    {T("idle_timeout 1s\n"), "t.conf:1: 'idle_timeout' belongs in a listen block"},
    {T(BLOCK("    idle_timeout 1s\n    idle_timeout 1s")), "t.conf:4: 'idle_timeout' given twice (first at line 3)"},
    {T(BLOCK("    first_byte_timeout 1d")),
     "t.conf:3: first_byte_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '1d'"},
    {T(BLOCK("    first_byte_timeout 24h1")),
     "t.conf:3: first_byte_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '24h1'"},
    {T(BLOCK("    first_byte_timeout 86400001")), "t.conf:3: first_byte_timeout: add a unit: 86400001s or 86400001ms"},
    {T(BLOCK("    first_byte_timeout 30")), "t.conf:3: first_byte_timeout: add a unit: 30s or 30ms"},
    {T(BLOCK("    first_byte_timeout 86400001ms")),
     "t.conf:3: first_byte_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '86400001ms'"},
    {T(BLOCK("    first_byte_timeout 25h")),
     "t.conf:3: first_byte_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '25h'"},
    {T(BLOCK("    first_byte_timeout -1")),
     "t.conf:3: first_byte_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '-1'"},
    {T(BLOCK("    first_byte_timeout abc")),
     "t.conf:3: first_byte_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not 'abc'"},
    {T(BLOCK("    first_byte_timeout 1.5s")),
     "t.conf:3: first_byte_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '1.5s'"},
    {T(BLOCK("    first_byte_timeout \"\"")),
     "t.conf:3: first_byte_timeout: must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not ''"},
    {T("first_byte_timeout 1s\n"), "t.conf:1: 'first_byte_timeout' belongs in a listen block"},
    {T(BLOCK("    first_byte_timeout 1s\n    first_byte_timeout 1s")), "t.conf:4: 'first_byte_timeout' given twice (first at line 3)"},
    /* low_water above high_water: at the line of the later of the two */
    {T(BLOCK("    high_water 64k\n    low_water 128k")),
     "t.conf:4: low_water (131072) is above high_water (65536)"},
    {T(BLOCK("    low_water 128k\n    high_water 64k")),
     "t.conf:4: low_water (131072) is above high_water (65536)"},
    {T(BLOCK("    low_water 128k\n    prefix x\n    high_water 64k")),
     "t.conf:5: low_water (131072) is above high_water (65536)"},
    {T(BLOCK("    low_water 2m")), /* above the default high_water, 1m */
     "t.conf:3: low_water (2097152) is above high_water (1048576)"},
    /* dispatch */
    {T(BLOCK("    dispatch threads")), "t.conf:3: dispatch: must be inline or pool, not 'threads'"},
    {T(BLOCK("    dispatch Pool")), "t.conf:3: dispatch: must be inline or pool, not 'Pool'"},
    /* strings */
    {T("workers \"1\n"), "t.conf:1: unterminated string (a string ends on its own line)"},
    {T(BLOCK("    prefix \"abc")), "t.conf:3: unterminated string (a string ends on its own line)"},
    {T(LISTEN "    handler echo\n    prefix \"abc"), /* the file ends inside it */
     "t.conf:3: unterminated string (a string ends on its own line)"},
    {T(LISTEN "    handler echo\n    prefix \"abc\\\""), /* \" does not end it */
     "t.conf:3: unterminated string (a string ends on its own line)"},
    {T(LISTEN "    handler echo\n    prefix \"abc\r\n    x\"\n}\n"),
     "t.conf:3: unterminated string (a string ends on its own line)"},
    {T(BLOCK("    prefix \"a\\qb\"")), "t.conf:3: unknown escape '\\q' " ESCAPES},
    {T(BLOCK("    prefix \"a\\'\"")), "t.conf:3: unknown escape '\\'' " ESCAPES},
    {T(BLOCK("    prefix \"a\\ \"")), "t.conf:3: unknown escape " ESCAPES},
    {T(BLOCK("    prefix \"a\\\x01\"")), "t.conf:3: unknown escape " ESCAPES},
    {T(BLOCK("    prefix \"a\\\n\"")), "t.conf:3: unknown escape " ESCAPES},
    {T(LISTEN "    handler echo\n    prefix \"a\\"), "t.conf:3: unknown escape " ESCAPES},
    {T(BLOCK("    prefix \"\\xg1\"")), "t.conf:3: \\x needs two hex digits"},
    {T(BLOCK("    prefix \"\\x1g\"")), "t.conf:3: \\x needs two hex digits"},
    {T(BLOCK("    prefix \"\\x4\"")), "t.conf:3: \\x needs two hex digits"},
    {T(BLOCK("    prefix \"\\x\"")), "t.conf:3: \\x needs two hex digits"},
    {T(LISTEN "    handler echo\n    prefix \"\\x4"), "t.conf:3: \\x needs two hex digits"},
    {T(BLOCK("    prefix \"a\\x00b\"")), "t.conf:3: NUL byte in a string"},
    {T(BLOCK("    prefix \"a\0b\"")), "t.conf:3: NUL byte in a string"},
    /* bytes that are no part of any token */
    {T("workers 1\x01" "\n"), "t.conf:1: unexpected byte 0x01"},
    {T("\nworkers\x7f 1\n"), "t.conf:2: unexpected byte 0x7f"},
    {T("workers 1\n\0\n"), "t.conf:2: unexpected byte 0x00"},
    {T(BLOCK("    prefix a\x1b" "b")), "t.conf:3: unexpected byte 0x1b"},
    {T("\f\n"), "t.conf:1: unexpected byte 0x0c"},
    /* blocks */
    {T("workers 1\n\n" LISTEN "    handler echo\n"),
     "t.conf:3: listen block is not closed (missing '}')"},
    {T(LISTEN), "t.conf:1: listen block is not closed (missing '}')"},
    {T(LISTEN "    handler echo\n}\n" "listen tcp 127.0.0.1:2 {\n    handler echo\n# }\n"),
     "t.conf:4: listen block is not closed (missing '}')"},
    {T("workers 1\n}\n"), "t.conf:2: unexpected '}'"},
    {T(BLOCK("") "}\n"), "t.conf:5: unexpected '}'"},
    {T("workers 1 }\n"), "t.conf:1: unexpected '}'"},
    {T("{\n"), "t.conf:1: '{' without a directive"},
    {T("workers 1\n  { handler echo }\n"), "t.conf:2: '{' without a directive"},
    {T(BLOCK("    {")), "t.conf:3: '{' without a directive"},
    {T("workers 1 {\n"), "t.conf:1: 'workers' takes no block"},
    {T(BLOCK("    handler2 x {")), "t.conf:3: 'handler2' takes no block"},
    {T(LISTEN "    handler echo {\n}\n}\n"), "t.conf:2: 'handler' takes no block"},
    {T(BLOCK("    listen tcp 127.0.0.1:2 {\n    handler echo\n    }")),
     "t.conf:3: listen blocks do not nest (missing '}' before this line?)"},
    {T(LISTEN "    handler echo\nlisten tcp 127.0.0.1:2 {\n    handler echo\n}\n"),
     "t.conf:3: listen blocks do not nest (missing '}' before this line?)"},
    /* listen */
    {T("listen {\n"), "t.conf:1: 'listen' takes a transport and an address, e.g. "
                      "'listen tcp 127.0.0.1:7777 {'"},
    {T("listen tcp {\n"), "t.conf:1: 'listen' takes a transport and an address, e.g. "
                          "'listen tcp 127.0.0.1:7777 {'"},
    {T("listen 127.0.0.1:1 {\n"), "t.conf:1: 'listen' takes a transport and an address, e.g. "
                                  "'listen tcp 127.0.0.1:7777 {'"},
    {T("listen tcp 127.0.0.1:1 x {\n"), "t.conf:1: 'listen' takes a transport and an address, "
                                        "e.g. 'listen tcp 127.0.0.1:7777 {'"},
    {T("listen tcp 127.0.0.1:1 x y {\n"), "t.conf:1: 'listen' takes a transport and an address, "
                                          "e.g. 'listen tcp 127.0.0.1:7777 {'"},
    {T("listen tcp " SIXTY_FOUR_WORDS " {\n"), "t.conf:1: too many values for 'listen'"},
    {T("listen sctp 127.0.0.1:1 {\n    handler echo\n}\n"),
     "t.conf:1: transport 'sctp' is not supported (tcp, udp or unix)"},
    {T("listen TCP 127.0.0.1:1 {\n    handler echo\n}\n"),
     "t.conf:1: transport 'TCP' is not supported (tcp, udp or unix)"},
    {T("listen tcp localhost:80 {\n"),
     "t.conf:1: listen: 'localhost:80' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp 127.0.0.1 {\n"),
     "t.conf:1: listen: '127.0.0.1' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp 127.0.0.1:65536 {\n"),
     "t.conf:1: listen: '127.0.0.1:65536' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp 127.0.0.1: {\n"),
     "t.conf:1: listen: '127.0.0.1:' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp 127.0.0.1:1x {\n"),
     "t.conf:1: listen: '127.0.0.1:1x' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp :80 {\n"),
     "t.conf:1: listen: ':80' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp 1.2.3.4.5:80 {\n"),
     "t.conf:1: listen: '1.2.3.4.5:80' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp [::1]80 {\n"),
     "t.conf:1: listen: '[::1]80' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp [::1]: {\n"),
     "t.conf:1: listen: '[::1]:' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp []:80 {\n"),
     "t.conf:1: listen: '[]:80' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp [::g]:80 {\n"),
     "t.conf:1: listen: '[::g]:80' is not a tcp address " ADDRESS_HELP},
    {T("listen tcp ::1:80 {\n"),
     "t.conf:1: listen: '::1:80' is not a tcp address " ADDRESS_HELP},
    {T("listen udp 127.0.0.1 {\n"),
     "t.conf:1: listen: '127.0.0.1' is not a udp address " ADDRESS_HELP},
    {T("listen udp unix:/tmp/x {\n"),
     "t.conf:1: listen: 'unix:/tmp/x' is not a udp address " ADDRESS_HELP},
    {T("listen unix \"\" {\n"),
     "t.conf:1: listen: '' is not a unix address (a socket path of at most 107 bytes)"},
    {T("listen unix " PATH108 " {\n"),
     "t.conf:1: listen: '" PATH108 "' is not a unix address (a socket path of at most 107 bytes)"},
    {T("listen tcp 127.0.0.1:1\n"), "t.conf:1: 'listen' needs a block: 'listen tcp 127.0.0.1:1 {'"},
    {T("listen tcp 127.0.0.1:1"), "t.conf:1: 'listen' needs a block: 'listen tcp 127.0.0.1:1 {'"},
    {T("listen tcp 127.0.0.1:1; {\n    handler echo\n}\n"),
     "t.conf:1: 'listen' needs a block: 'listen tcp 127.0.0.1:1 {'"},
    {T("listen tcp 127.0.0.1:1\n{\n    handler echo\n}\n"),
     "t.conf:1: 'listen' needs a block: 'listen tcp 127.0.0.1:1 {'"},
    {T("listen tcp 127.0.0.1:1 }\n"),
     "t.conf:1: 'listen' needs a block: 'listen tcp 127.0.0.1:1 {'"},
    /* duplicates */
    {T(LISTEN "    handler echo\n}\n" LISTEN "    handler echo\n}\n"),
     "t.conf:4: listen tcp 127.0.0.1:1 given twice (first at line 1)"},
    {T("listen udp [::1]:53 { handler echo }\nlisten udp [::1]:53 { handler echo }\n"),
     "t.conf:2: listen udp [::1]:53 given twice (first at line 1)"},
    {T("listen unix /tmp/e.sock { handler echo }\n\nlisten unix /tmp/e.sock { handler echo }\n"),
     "t.conf:3: listen unix /tmp/e.sock given twice (first at line 1)"},
    {T("workers 1\nworkers 2\n"), "t.conf:2: 'workers' given twice (first at line 1)"},
    {T("workers 1\r\nmax_connections 5\r\nworkers 2\r\n"),
     "t.conf:3: 'workers' given twice (first at line 1)"},
    {T("log_level info; log_level info\n"), "t.conf:1: 'log_level' given twice (first at line 1)"},
    {T("plugin_dir /a\n\n\nplugin_dir /a\n"),
     "t.conf:4: 'plugin_dir' given twice (first at line 1)"},
    {T("max_connections 5\npool_threads 2\nmax_connections 5\n"),
     "t.conf:3: 'max_connections' given twice (first at line 1)"},
    {T("pool_threads 5\npool_threads 2\n"), "t.conf:2: 'pool_threads' given twice (first at line 1)"},
    {T(BLOCK("    handler echo")), "t.conf:3: 'handler' given twice (first at line 2)"},
    {T(BLOCK("    dispatch pool\n    dispatch pool")),
     "t.conf:4: 'dispatch' given twice (first at line 3)"},
    {T(BLOCK("    high_water 1m\n    high_water 2m")),
     "t.conf:4: 'high_water' given twice (first at line 3)"},
    {T(BLOCK("    low_water 1k\n    low_water 2k")),
     "t.conf:4: 'low_water' given twice (first at line 3)"},
    {T(BLOCK("    max_message 1k\n\n    max_message 2k")),
     "t.conf:5: 'max_message' given twice (first at line 3)"},
    /* a block without a handler */
    {T(LISTEN "}\n"), "t.conf:1: listen block has no 'handler'"},
    {T("\n" LISTEN "    prefix x\n}\n"), "t.conf:2: listen block has no 'handler'"},
    {T(LISTEN "    handler echo\n}\nlisten tcp 127.0.0.1:2 { prefix x }\n"),
     "t.conf:4: listen block has no 'handler'"},
    /* nothing to serve */
    {T(""), "t.conf: no listen block: nothing to serve"},
    {T("\n\n\n"), "t.conf: no listen block: nothing to serve"},
    {T("# only\n   # comments\n\t#\n"), "t.conf: no listen block: nothing to serve"},
    {T("# no newline at the end"), "t.conf: no listen block: nothing to serve"},
    {T(";;;\n"), "t.conf: no listen block: nothing to serve"},
    {T("workers 2\nlog_level debug\n"), "t.conf: no listen block: nothing to serve"},
    /* TLS: certificates and keys in pairs, and what needs what */
#define CERT "    tls_certificate a.crt\n    tls_certificate_key a.key\n"
    {T(LISTEN "    handler echo\n    tls_certificate a.crt\n}\n"),
     "t.conf:3: tls_certificate has no tls_certificate_key after it"},
    {T(LISTEN "    handler echo\n    tls_certificate a.crt\n    tls_certificate b.crt\n}\n"),
     "t.conf:4: tls_certificate at line 3 has no tls_certificate_key yet"},
    {T(LISTEN "    handler echo\n    tls_certificate_key a.key\n}\n"),
     "t.conf:3: tls_certificate_key: each follows its tls_certificate"},
    {T(LISTEN "    handler echo\n    tls_session_tickets off\n}\n"),
     "t.conf:3: TLS needs a certificate: tls_certificate and tls_certificate_key"},
    {T(LISTEN "    handler echo\n" CERT "    tls_protocols TLSv1.3 TLSv1.1\n}\n"),
     "t.conf:5: tls_protocols: 'TLSv1.1' is not TLSv1.2 or TLSv1.3"},
    {T(LISTEN "    handler echo\n" CERT "    tls_verify_client on\n}\n"),
     "t.conf:5: tls_verify_client needs tls_client_certificate (the CAs that client "
     "certificates chain to)"},
    {T(LISTEN "    handler echo\n" CERT "    tls_verify_client always\n}\n"),
     "t.conf:5: tls_verify_client: must be off, on or optional, not 'always'"},
    {T("listen udp 127.0.0.1:1 {\n    handler echo\n" CERT "}\n"),
     "t.conf:3: TLS does not apply to udp (DTLS is not supported)"},
    {T(LISTEN "    handler echo\n    proxy_protocol on\n" CERT "}\n"),
     "t.conf:4: proxy_protocol with TLS is not supported yet"},
    {T(LISTEN "    handler echo\n" CERT "    tls_handshake_timeout 5\n}\n"),
     "t.conf:5: tls_handshake_timeout: add a unit: 5s or 5ms"},
};

START_TEST(parse_errors)
{
    eddy_config *c = NULL;
    char err[512];
    memset(err, 'x', sizeof(err));
    int rc = eddy_config_parse(&c, "t.conf", bad[_i].text, bad[_i].len, err, sizeof(err));
    ck_assert_msg(rc == -EINVAL, "#%d accepted (rc %d):\n%s", _i, rc, bad[_i].text);
    ck_assert_ptr_null(c); /* untouched on failure */
    ck_assert_msg(strcmp(err, bad[_i].err) == 0, "#%d:\n%s\nwant '%s'\ngot  '%s'", _i, bad[_i].text,
                  bad[_i].err, err);
}
END_TEST

/* Messages are cut to the buffer, never overrun it; a NULL buffer is allowed. */
START_TEST(error_buffer_is_bounded)
{
    static const char text[] = "wrokers 4\n";
    char err[16];
    memset(err, 'x', sizeof(err));
    eddy_config *c = NULL;
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", T(text), err, 12), -EINVAL);
    ck_assert_str_eq(err, "t.conf:1: u");
    ck_assert_int_eq(err[12], 'x');
    memset(err, 'x', sizeof(err));
    ck_assert_int_eq(eddy_config_parse(&c, "a-very-long-file-name.conf", T(text), err, 8), -EINVAL);
    ck_assert_str_eq(err, "a-very-");
    ck_assert_int_eq(err[8], 'x');
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", T(text), NULL, 0), -EINVAL);
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", T(""), NULL, 0), -EINVAL);
    ck_assert_ptr_null(c);
}
END_TEST

/* The name given is the one in messages, whatever it is. */
START_TEST(error_names_the_file)
{
    eddy_config *c = NULL;
    char err[256];
    ck_assert_int_eq(eddy_config_parse(&c, "/etc/eddy/eddyd.conf", T("\n\nworkers x\n"), err,
                                       sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "/etc/eddy/eddyd.conf:3: workers: must be a number from 0 to 1024, not 'x'");
    ck_assert_int_eq(eddy_config_parse(&c, "command line", T(""), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "command line: no listen block: nothing to serve");
}
END_TEST

/* Only the text given is read: a block closed past len is not closed. */
START_TEST(parse_stops_at_len)
{
    static const char text[] = LISTEN "    handler echo\n}\n";
    eddy_config *c = NULL;
    char err[256];
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", text, sizeof(text) - 3, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:1: listen block is not closed (missing '}')");
    c = parse_ok_n(text, sizeof(text) - 2); /* up to the '}' */
    eddy_config_free(c);
}
END_TEST

/* ---- good input ----------------------------------------------------- */

START_TEST(defaults)
{
    eddy_config *c = parse_ok(LISTEN "    handler echo\n}\n");
    ck_assert_str_eq(c->name, "t.conf");
    ck_assert_int_eq(c->workers, 0);
    ck_assert_uint_eq(c->max_connections, 10000);
    ck_assert_int_eq(c->pool_threads, 4);
    ck_assert_int_eq(c->log_level, 2);
    ck_assert_int_eq(c->shutdown_timeout, 10000);
    ck_assert_ptr_null(c->plugin_dir);
    ck_assert_uint_eq(c->nlisteners, 1);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_str_eq(l->transport, "tcp");
    ck_assert_str_eq(l->address, "127.0.0.1:1");
    ck_assert_int_eq(l->line, 1);
    ck_assert_str_eq(l->handler, "echo");
    ck_assert_int_eq(l->seen[EDDY__L_handler], 2);
    ck_assert_int_eq(l->seen[EDDY__L_dispatch], 0); /* not given */
    ck_assert_int_eq(l->dispatch, -1);              /* the handler's choice */
    ck_assert_int_eq(l->high_water, 1 << 20);
    ck_assert_int_eq(l->low_water, 0); /* derived from high_water */
    ck_assert_int_eq(l->max_message, 1 << 20);
    ck_assert_int_eq(l->ipv6only, 1);
    ck_assert_int_eq(l->mode, 0660);
    ck_assert_int_eq(l->max_amplification, 3);
    ck_assert_int_eq(l->proxy_protocol, 0);
    ck_assert_ptr_null(l->systemd_socket);
    ck_assert_uint_eq(l->params->n, 0);
    eddy_config_free(c);
}
END_TEST

START_TEST(every_directive)
{
    eddy_config *c = parse_ok("workers 1024\n"
                              "max_connections 16777216\n"
                              "pool_threads 256\n"
                              "log_level debug\n"
                              "plugin_dir /opt/eddy/plugins\n"
                              "shutdown_timeout 0\n"
                              "listen tcp 0.0.0.0:65535 {\n"
                              "    handler /opt/x.so\n"
                              "    dispatch pool\n"
                              "    high_water 1g\n"
                              "    low_water 1G\n"
                              "    max_message 512\n"
                              "    delay 100ms\n"
                              "}\n"
                              "listen tcp 10.0.0.1:0 {\n"
                              "    handler echo\n"
                              "    dispatch inline\n"
                              "    high_water 64K\n"
                              "    low_water 16k\n"
                              "}\n");
    ck_assert_int_eq(c->workers, 1024);
    ck_assert_uint_eq(c->max_connections, 16777216);
    ck_assert_int_eq(c->pool_threads, 256);
    ck_assert_int_eq(c->log_level, 3);
    ck_assert_str_eq(c->plugin_dir, "/opt/eddy/plugins");
    ck_assert_int_eq(c->shutdown_timeout, 0);
    ck_assert_uint_eq(c->nlisteners, 2);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_str_eq(l->address, "0.0.0.0:65535");
    ck_assert_int_eq(l->line, 7);
    ck_assert_str_eq(l->handler, "/opt/x.so");
    ck_assert_int_eq(l->seen[EDDY__L_handler], 8);
    ck_assert_int_eq(l->dispatch, EDDY_DISPATCH_POOL);
    ck_assert_uint_eq(l->high_water, (size_t)1 << 30);
    ck_assert_uint_eq(l->low_water, (size_t)1 << 30); /* equal is allowed */
    ck_assert_uint_eq(l->max_message, 512);
    ck_assert_uint_eq(l->params->n, 1);
    ck_assert_str_eq(param_value(l, "delay"), "100ms");
    ck_assert_int_eq(param(l, "delay")->line, 13);
    l = &c->listeners[1];
    ck_assert_str_eq(l->address, "10.0.0.1:0");
    ck_assert_int_eq(l->line, 15);
    ck_assert_int_eq(l->dispatch, EDDY_DISPATCH_INLINE);
    ck_assert_uint_eq(l->high_water, 65536);
    ck_assert_uint_eq(l->low_water, 16384);
    ck_assert_uint_eq(l->max_message, 1 << 20);
    eddy_config_free(c);
}
END_TEST

START_TEST(timeouts)
{
    static const struct {
        const char *text;
        long ms;
    } good[] = {{"0", 0},        {"250ms", 250},        {"500ms", 500},     {"30s", 30000},
                {"2m", 120000},  {"1h", 3600000},       {"24h", 86400000},  {"86400000ms", 86400000},
                {"1S", 1000},    {"1440m", 86400000},   {"0s", 0},          {"0ms", 0}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), BLOCK("    idle_timeout %s\n    first_byte_timeout %s"),
                 good[i].text, good[i].text);
        eddy_config *c = parse_ok(text);
        ck_assert_int_eq(c->listeners[0].idle_timeout, good[i].ms);
        ck_assert_int_eq(c->listeners[0].first_byte_timeout, good[i].ms);
        eddy_config_free(c);
    }
    eddy_config *c = parse_ok(BLOCK(""));
    ck_assert_int_eq(c->listeners[0].idle_timeout, 0); /* never */
    ck_assert_int_eq(c->listeners[0].first_byte_timeout, 0);
    eddy_config_free(c);
}
END_TEST

/* Every transport, the same address under two transports, and the
 * socket options. */
START_TEST(transports)
{
    eddy_config *c = parse_ok("listen tcp [::1]:0 { handler echo; ipv6only off }\n"
                              "listen udp 127.0.0.1:0 { handler echo; max_amplification 0 }\n"
                              "listen udp [::]:9 { handler echo; max_amplification 1000 }\n"
                              "listen unix /tmp/eddy-test.sock { handler echo; mode 0600 }\n"
                              "listen tcp 127.0.0.1:0 { handler echo; mode 0 }\n"
                              "listen unix \"/tmp/with space.sock\" { handler echo }\n"
                              "listen tcp [::ffff:127.0.0.1]:80 { handler echo; ipv6only yes }\n");
    ck_assert_uint_eq(c->nlisteners, 7);
    const eddy__cfg_listener *l = c->listeners;
    ck_assert_str_eq(l[0].transport, "tcp");
    ck_assert_str_eq(l[0].address, "[::1]:0");
    ck_assert_int_eq(l[0].ipv6only, 0);
    ck_assert_int_eq(l[0].mode, 0660);
    ck_assert_int_eq(l[0].max_amplification, 3);
    ck_assert_str_eq(l[1].transport, "udp");
    ck_assert_str_eq(l[1].address, "127.0.0.1:0");
    ck_assert_int_eq(l[1].max_amplification, 0);
    ck_assert_int_eq(l[1].ipv6only, 1);
    ck_assert_int_eq(l[2].max_amplification, 1000);
    ck_assert_str_eq(l[3].transport, "unix");
    ck_assert_str_eq(l[3].address, "/tmp/eddy-test.sock");
    ck_assert_int_eq(l[3].mode, 0600);
    ck_assert_int_eq(l[4].mode, 0);
    ck_assert_str_eq(l[5].address, "/tmp/with space.sock");
    ck_assert_int_eq(l[5].mode, 0660);
    ck_assert_int_eq(l[6].ipv6only, 1);
    eddy_config_free(c);

    /* the longest Unix socket path that fits: 107 bytes */
    char text[256];
    snprintf(text, sizeof(text), "listen unix %.107s { handler echo }\n", PATH108);
    c = parse_ok(text);
    ck_assert_uint_eq(strlen(c->listeners[0].address), 107);
    eddy_config_free(c);
}
END_TEST

START_TEST(bounds_and_levels)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "workers 0\nmax_connections 1\npool_threads 1\nlog_level %s\n" BLOCK(""),
                 levels[i]);
        eddy_config *c = parse_ok(text);
        ck_assert_int_eq(c->log_level, i);
        ck_assert_int_eq(c->workers, 0);
        ck_assert_uint_eq(c->max_connections, 1);
        ck_assert_int_eq(c->pool_threads, 1);
        eddy_config_free(c);
    }
}
END_TEST

START_TEST(quoted_strings_and_escapes)
{
    eddy_config *c = parse_ok(BLOCK("    prefix \"q\\\" b\\\\ n\\n r\\r t\\t x\\x41\\x7e\\xfF\\x0a "
                                    "# not a comment; {not a block}\"\n"
                                    "    empty \"\"\n"
                                    "    spaces \"  \"\n"
                                    "    raw \"tab\tutf8 \xc3\xa9\""));
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_str_eq(param_value(l, "prefix"),
                     "q\" b\\ n\n r\r t\t xA~\xff\n # not a comment; {not a block}");
    ck_assert_int_eq(param(l, "prefix")->line, 3);
    ck_assert_str_eq(param_value(l, "empty"), "");
    ck_assert_str_eq(param_value(l, "spaces"), "  ");
    ck_assert_str_eq(param_value(l, "raw"), "tab\tutf8 \xc3\xa9");
    ck_assert_int_eq(param(l, "raw")->line, 6);
    eddy_config_free(c);

    /* a long string grows past any first guess */
    char text[8192];
    int n = snprintf(text, sizeof(text), LISTEN "    handler echo\n    prefix \"");
    for (int i = 0; i < 1000; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "ab\\x%02x", 0x20 + i % 90);
    snprintf(text + n, sizeof(text) - (size_t)n, "\"\n}\n");
    c = parse_ok(text);
    const char *v = param_value(&c->listeners[0], "prefix");
    ck_assert_uint_eq(strlen(v), 3000);
    ck_assert_int_eq(v[2], 0x20);
    ck_assert_int_eq(v[2999], 0x20 + 999 % 90);
    eddy_config_free(c);

    /* any word may be quoted, directives and addresses too */
    c = parse_ok("\"workers\" \"3\"\nlisten \"tcp\" \"127.0.0.1:9\" {\n\"handler\" \"echo\"\n}\n");
    ck_assert_int_eq(c->workers, 3);
    ck_assert_str_eq(c->listeners[0].address, "127.0.0.1:9");
    ck_assert_str_eq(c->listeners[0].handler, "echo");
    eddy_config_free(c);
}
END_TEST

START_TEST(separators_and_one_line_blocks)
{
    eddy_config *c = parse_ok("workers 2; max_connections 5;; pool_threads 3\n"
                              "listen tcp 127.0.0.1:1 { handler echo; prefix \">\" }\n"
                              "listen tcp 127.0.0.1:2 {handler echo;prefix \"}\"}listen tcp "
                              "127.0.0.1:3 {\n"
                              "handler echo }\n");
    ck_assert_int_eq(c->workers, 2);
    ck_assert_uint_eq(c->max_connections, 5);
    ck_assert_int_eq(c->pool_threads, 3);
    ck_assert_uint_eq(c->nlisteners, 3);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_int_eq(l->line, 2);
    ck_assert_str_eq(l->handler, "echo");
    ck_assert_int_eq(l->seen[EDDY__L_handler], 2);
    ck_assert_str_eq(param_value(l, "prefix"), ">");
    ck_assert_int_eq(param(l, "prefix")->line, 2);
    ck_assert_str_eq(param_value(&c->listeners[1], "prefix"), "}");
    ck_assert_int_eq(c->listeners[2].line, 3);
    ck_assert_int_eq(c->listeners[2].seen[EDDY__L_handler], 4);
    eddy_config_free(c);

    /* exactly the one-line block of the documentation */
    c = parse_ok("listen tcp 127.0.0.1:1 { handler echo; prefix \">\" }");
    ck_assert_uint_eq(c->nlisteners, 1);
    ck_assert_str_eq(c->listeners[0].handler, "echo");
    ck_assert_str_eq(param_value(&c->listeners[0], "prefix"), ">");
    eddy_config_free(c);
}
END_TEST

START_TEST(comments)
{
    eddy_config *c = parse_ok("# a comment line\n"
                              "workers 3 # three\n"
                              "   # indented comment\n"
                              "log_level warn # a warning\n"
                              "listen tcp 127.0.0.1:1 { # opens\n"
                              "    handler echo # built in\n"
                              "    prefix a#b\n"
                              "    quoted \"x\"# right after a string\n"
                              "} # closes\n"
                              "# the last line, without a newline");
    ck_assert_int_eq(c->workers, 3);
    ck_assert_int_eq(c->log_level, 1);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_int_eq(l->line, 5);
    ck_assert_str_eq(l->handler, "echo");
    ck_assert_str_eq(param_value(l, "prefix"), "a#b"); /* '#' inside a word is kept */
    ck_assert_int_eq(param(l, "prefix")->line, 7);
    ck_assert_str_eq(param_value(l, "quoted"), "x");
    ck_assert_uint_eq(l->params->n, 2);
    eddy_config_free(c);

    /* a comment where a value should be takes the value away (the
     * handler's table says whether that is right: configure_param_values) */
    c = parse_ok(BLOCK("    color #red"));
    ck_assert_uint_eq(param(&c->listeners[0], "color")->nvalues, 0);
    eddy_config_free(c);
}
END_TEST

START_TEST(crlf_line_endings)
{
    eddy_config *c = parse_ok("# crlf\r\n"
                              "workers 2\r\n"
                              "\r\n"
                              "listen tcp 127.0.0.1:1 {\r\n"
                              "    handler echo\r\n"
                              "    prefix \"a b\"\r\n"
                              "    close_after_reply on\r\n"
                              "}\r\n");
    ck_assert_int_eq(c->workers, 2);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_int_eq(l->line, 4);
    ck_assert_str_eq(l->handler, "echo");
    ck_assert_str_eq(param_value(l, "prefix"), "a b");
    ck_assert_int_eq(param(l, "prefix")->line, 6);
    ck_assert_str_eq(param_value(l, "close_after_reply"), "on");
    eddy_config_free(c);
}
END_TEST

/* Bytes above 0x7f are word bytes (UTF-8 in names and values). */
START_TEST(high_bytes_in_words)
{
    eddy_config *c = parse_ok(BLOCK("    pr\xc3\xa9" "fix caf\xc3\xa9\xff"));
    ck_assert_str_eq(param_value(&c->listeners[0], "pr\xc3\xa9" "fix"), "caf\xc3\xa9\xff");
    eddy_config_free(c);
}
END_TEST

/* ---- the files in config/ ------------------------------------------- */

/* The 1-based number of the first line of path that starts with needle. */
static int line_of(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char buf[1024];
    int line = 0, found = 0;
    while (!found && fgets(buf, sizeof(buf), f)) {
        line++;
        found = strncmp(buf, needle, strlen(needle)) == 0;
    }
    fclose(f);
    ck_assert_msg(found, "'%s' not in %s", needle, path);
    return line;
}

static eddy_config *load_ok(const char *path)
{
    eddy_config *c = NULL;
    char err[512] = "";
    int rc = eddy_config_load(&c, path, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: rc %d: %s", path, rc, err);
    ck_assert_str_eq(c->name, path);
    return c;
}

#define CONFIG_DIR EDDY_SOURCE_DIR "/config"

START_TEST(file_eddyd_conf)
{
    const char *path = CONFIG_DIR "/eddyd.conf";
    eddy_config *c = load_ok(path);
    ck_assert_int_eq(c->workers, 0);
    ck_assert_uint_eq(c->max_connections, 10000);
    ck_assert_int_eq(c->pool_threads, 4);
    ck_assert_int_eq(c->log_level, 2);
    ck_assert_ptr_null(c->plugin_dir); /* commented out */
    ck_assert_int_eq(c->seen[EDDY__G_workers], line_of(path, "workers 0"));
    ck_assert_uint_eq(c->nlisteners, 1);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_str_eq(l->transport, "tcp");
    ck_assert_str_eq(l->address, "127.0.0.1:7777");
    ck_assert_int_eq(l->line, line_of(path, "listen tcp 127.0.0.1:7777 {"));
    ck_assert_str_eq(l->handler, "echo");
    ck_assert_int_eq(l->seen[EDDY__L_handler], line_of(path, "    handler echo"));
    ck_assert_int_eq(l->dispatch, EDDY_DISPATCH_INLINE);
    ck_assert_uint_eq(l->high_water, (size_t)1 << 20);
    ck_assert_uint_eq(l->low_water, (size_t)256 << 10);
    ck_assert_uint_eq(l->max_message, (size_t)1 << 20);
    ck_assert_int_eq(l->idle_timeout, 0);
    ck_assert_int_eq(l->first_byte_timeout, 0);
    ck_assert_int_eq(l->ipv6only, 1); /* commented out: the defaults */
    ck_assert_int_eq(l->mode, 0660);
    ck_assert_int_eq(l->max_amplification, 3);
    ck_assert_uint_eq(l->params->n, 2);
    ck_assert_str_eq(param_value(l, "prefix"), "Received: ");
    ck_assert_int_eq(param(l, "prefix")->line, line_of(path, "    prefix \"Received: \""));
    ck_assert_str_eq(param_value(l, "close_after_reply"), "off");
    eddy_config_free(c);
}
END_TEST

START_TEST(file_seed_conf)
{
    const char *path = CONFIG_DIR "/examples/seed.conf";
    eddy_config *c = load_ok(path);
    ck_assert_int_eq(c->workers, 0);
    ck_assert_uint_eq(c->max_connections, 10000);
    ck_assert_uint_eq(c->nlisteners, 1);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_str_eq(l->address, "127.0.0.1:7777");
    ck_assert_int_eq(l->line, line_of(path, "listen tcp 127.0.0.1:7777 {"));
    ck_assert_str_eq(l->handler, "echo");
    ck_assert_int_eq(l->dispatch, -1);
    ck_assert_uint_eq(l->params->n, 1);
    ck_assert_str_eq(param_value(l, "close_after_reply"), "on");
    ck_assert_int_eq(param(l, "close_after_reply")->line, line_of(path, "    close_after_reply on"));
    eddy_config_free(c);
}
END_TEST

START_TEST(file_lines_conf)
{
    const char *path = CONFIG_DIR "/examples/lines.conf";
    eddy_config *c = load_ok(path);
    ck_assert_int_eq(c->workers, 1);
    ck_assert_int_eq(c->pool_threads, 4);
    ck_assert_uint_eq(c->nlisteners, 1);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_str_eq(l->address, "127.0.0.1:7001");
    ck_assert_int_eq(l->line, line_of(path, "listen tcp 127.0.0.1:7001 {"));
    ck_assert_str_eq(l->handler, "lines");
    ck_assert_uint_eq(l->max_message, 16 << 10);
    ck_assert_uint_eq(l->high_water, 1 << 20);
    ck_assert_uint_eq(l->params->n, 2);
    ck_assert_str_eq(param_value(l, "prefix"), "> ");
    ck_assert_str_eq(param_value(l, "max_line"), "4k");
    ck_assert_int_eq(param(l, "max_line")->line, line_of(path, "    max_line 4k"));
    eddy_config_free(c);
}
END_TEST

START_TEST(file_pool_conf)
{
    const char *path = CONFIG_DIR "/examples/pool.conf";
    eddy_config *c = load_ok(path);
    ck_assert_int_eq(c->workers, 1);
    ck_assert_int_eq(c->pool_threads, 8);
    ck_assert_uint_eq(c->nlisteners, 2);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_str_eq(l->address, "127.0.0.1:7002");
    ck_assert_int_eq(l->line, line_of(path, "listen tcp 127.0.0.1:7002 {"));
    ck_assert_str_eq(l->handler, "slow");
    ck_assert_int_eq(l->dispatch, EDDY_DISPATCH_POOL);
    ck_assert_uint_eq(l->params->n, 1);
    ck_assert_str_eq(param_value(l, "delay"), "100ms");
    l = &c->listeners[1];
    ck_assert_str_eq(l->address, "127.0.0.1:7003");
    ck_assert_int_eq(l->line, line_of(path, "listen tcp 127.0.0.1:7003 {"));
    ck_assert_str_eq(l->handler, "echo");
    ck_assert_int_eq(l->dispatch, -1);
    ck_assert_str_eq(param_value(l, "prefix"), "");
    eddy_config_free(c);
}
END_TEST

START_TEST(file_timeouts_conf)
{
    const char *path = CONFIG_DIR "/examples/timeouts.conf";
    eddy_config *c = load_ok(path);
    ck_assert_int_eq(c->workers, 1);
    ck_assert_uint_eq(c->nlisteners, 1);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_str_eq(l->address, "127.0.0.1:7020");
    ck_assert_str_eq(l->handler, "echo");
    ck_assert_int_eq(l->idle_timeout, 30000);
    ck_assert_int_eq(l->first_byte_timeout, 5000);
    ck_assert_uint_eq(l->params->n, 0);
    eddy_config_free(c);
}
END_TEST

START_TEST(file_transports_conf)
{
    const char *path = CONFIG_DIR "/examples/transports.conf";
    eddy_config *c = load_ok(path);
    ck_assert_int_eq(c->workers, 1);
    ck_assert_uint_eq(c->nlisteners, 4);
    const eddy__cfg_listener *l = c->listeners;
    ck_assert_str_eq(l[0].transport, "tcp");
    ck_assert_str_eq(l[0].address, "127.0.0.1:7010");
    ck_assert_int_eq(l[0].line, line_of(path, "listen tcp 127.0.0.1:7010 {"));
    ck_assert_str_eq(l[1].transport, "tcp");
    ck_assert_str_eq(l[1].address, "[::1]:7010");
    ck_assert_int_eq(l[1].line, line_of(path, "listen tcp [::1]:7010 {"));
    ck_assert_str_eq(l[2].transport, "udp");
    ck_assert_str_eq(l[2].address, "127.0.0.1:7011");
    ck_assert_int_eq(l[2].max_amplification, 3);
    ck_assert_str_eq(l[3].transport, "unix");
    ck_assert_str_eq(l[3].address, "/tmp/eddy-example.sock");
    ck_assert_int_eq(l[3].mode, 0660);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(l[i].handler, "echo");
        ck_assert_uint_eq(l[i].params->n, 0);
    }
    eddy_config_free(c);
}
END_TEST

/* Every .conf there loads, whatever is added later; a file's text parsed
 * from memory gives the same config as the file loaded. */
static int check_dir(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".conf") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        eddy_config *c = load_ok(path);
        ck_assert_uint_ge(c->nlisteners, 1);
        static char text[1 << 20];
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        size_t tl = fread(text, 1, sizeof(text), f);
        fclose(f);
        eddy_config *m = parse_ok_n(text, tl);
        ck_assert_int_eq(m->workers, c->workers);
        ck_assert_uint_eq(m->max_connections, c->max_connections);
        ck_assert_int_eq(m->pool_threads, c->pool_threads);
        ck_assert_int_eq(m->log_level, c->log_level);
        ck_assert_uint_eq(m->nlisteners, c->nlisteners);
        for (size_t i = 0; i < c->nlisteners; i++) {
            const eddy__cfg_listener *a = &c->listeners[i], *b = &m->listeners[i];
            ck_assert_str_eq(a->address, b->address);
            ck_assert_str_eq(a->handler, b->handler);
            ck_assert_int_eq(a->line, b->line);
            ck_assert_uint_eq(a->params->n, b->params->n);
            for (size_t j = 0; j < a->params->n; j++) {
                const eddy__param *pa = &a->params->items[j], *pb = &b->params->items[j];
                ck_assert_str_eq(pa->name, pb->name);
                ck_assert_uint_eq(pa->nvalues, pb->nvalues);
                for (size_t k = 0; k < pa->nvalues; k++)
                    ck_assert_str_eq(pa->values[k], pb->values[k]);
                ck_assert_int_eq(pa->line, pb->line);
            }
        }
        eddy_config_free(m);
        eddy_config_free(c);
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(every_file_in_config)
{
    ck_assert_int_ge(check_dir(CONFIG_DIR), 1);
    ck_assert_int_ge(check_dir(CONFIG_DIR "/examples"), 5);
}
END_TEST

/* The files served by the built-in echo apply to a server cleanly. */
START_TEST(files_configure)
{
    static const char *const files[] = {CONFIG_DIR "/eddyd.conf", CONFIG_DIR "/examples/seed.conf",
                                        CONFIG_DIR "/examples/timeouts.conf",
                                        CONFIG_DIR "/examples/transports.conf"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        eddy_config *c = load_ok(files[i]);
        eddy_server *s;
        ck_assert_int_eq(eddy_server_new(&s), 0);
        ck_assert_int_eq(eddy_builtin_register(s), 0); /* as eddyd does */
        int rc = eddy_server_configure(s, c);
        ck_assert_msg(rc == 0, "%s: %s", files[i], eddy_server_error(s));
        for (size_t j = 0; j < c->nlisteners; j++) {
            eddy_listener *l = eddy_server_listener(s, (int)j);
            ck_assert_ptr_nonnull(l);
            ck_assert_str_eq(eddy_listener_handler(l), "echo");
            ck_assert_int_eq(eddy_listener_port(l), 0); /* nothing bound */
        }
        ck_assert_ptr_null(eddy_server_listener(s, (int)c->nlisteners));
        eddy_server_free(s);
        eddy_config_free(c);
    }
}
END_TEST

/* ---- eddy_config_load ----------------------------------------------- */

START_TEST(load_missing_file)
{
    eddy_config *c = NULL;
    char err[256];
    ck_assert_int_eq(eddy_config_load(&c, "/nonexistent/eddyd.conf", err, sizeof(err)), -ENOENT);
    ck_assert_str_eq(err, "/nonexistent/eddyd.conf: no such file or directory");
    ck_assert_ptr_null(c);
    ck_assert_int_eq(eddy_config_load(&c, "/nonexistent/eddyd.conf", NULL, 0), -ENOENT);
    ck_assert_int_eq(eddy_config_load(&c, "/etc/passwd/eddyd.conf", err, sizeof(err)), -ENOTDIR);
    ck_assert_str_eq(err, "/etc/passwd/eddyd.conf: not a directory");
}
END_TEST

START_TEST(load_directory)
{
    char dir[] = "/tmp/eddy-config-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    eddy_config *c = NULL;
    char err[256], want[256];
    int rc = eddy_config_load(&c, dir, err, sizeof(err));
    rmdir(dir);
    ck_assert_int_eq(rc, -EISDIR);
    snprintf(want, sizeof(want), "%s: is a directory", dir);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(c);
}
END_TEST

/* A file of exactly size bytes: a listen block, then a comment filling it. */
static void write_sized(const char *path, size_t size)
{
    static const char head[] = "listen tcp 127.0.0.1:1 { handler echo }\n#";
    char *text = malloc(size);
    ck_assert_ptr_nonnull(text);
    memset(text, 'x', size);
    memcpy(text, head, sizeof(head) - 1);
    text[size - 1] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, size), (ssize_t)size);
    close(fd);
    free(text);
}

START_TEST(load_too_large)
{
    char path[] = "/tmp/eddy-config-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_sized(path, EDDY__CONFIG_MAX_FILE + 1);
    eddy_config *c = NULL;
    char err[256], want[256];
    int rc = eddy_config_load(&c, path, err, sizeof(err));
    ck_assert_int_eq(rc, -EFBIG);
    snprintf(want, sizeof(want), "%s: larger than 1 MiB", path);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(c);
    /* exactly 1 MiB is still read */
    write_sized(path, EDDY__CONFIG_MAX_FILE);
    rc = eddy_config_load(&c, path, err, sizeof(err));
    unlink(path);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(c->nlisteners, 1);
    eddy_config_free(c);
}
END_TEST

START_TEST(load_reports_path_and_line)
{
    char path[] = "/tmp/eddy-config-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    static const char text[] = "workers 1\n" LISTEN "    handler echo\n    dispatch later\n}\n";
    ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    eddy_config *c = NULL;
    char err[256], want[256];
    int rc = eddy_config_load(&c, path, err, sizeof(err));
    ck_assert_int_eq(rc, -EINVAL);
    snprintf(want, sizeof(want), "%s:4: dispatch: must be inline or pool, not 'later'", path);
    ck_assert_str_eq(err, want);
    /* an empty file */
    ck_assert_int_eq(truncate(path, 0), 0);
    rc = eddy_config_load(&c, path, err, sizeof(err));
    unlink(path);
    ck_assert_int_eq(rc, -EINVAL);
    snprintf(want, sizeof(want), "%s: no listen block: nothing to serve", path);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(load_unreadable)
{
    if (geteuid() == 0)
        return; /* root reads anything */
    char path[] = "/tmp/eddy-config-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    chmod(path, 0);
    eddy_config *c = NULL;
    char err[256], want[256];
    int rc = eddy_config_load(&c, path, err, sizeof(err));
    unlink(path);
    ck_assert_int_eq(rc, -EACCES);
    snprintf(want, sizeof(want), "%s: permission denied", path);
    ck_assert_str_eq(err, want);
}
END_TEST

/* A path in a config file (a handler with a '/', plugin_dir) is taken from
 * the file's directory, not the current one; absolute paths and names are
 * kept as written. */
START_TEST(load_relative_paths_from_the_files_directory)
{
    char tmp[] = "/tmp/eddy-config-XXXXXX", dir[256], path[300], want[600];
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    ck_assert_ptr_nonnull(realpath(tmp, dir)); /* what eddy names */
    snprintf(path, sizeof(path), "%s/x.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("plugin_dir lib/p\n"
          "listen tcp 127.0.0.1:1 {\n    handler ./x.so\n}\n"
          "listen tcp 127.0.0.1:2 {\n    handler sub/y.so\n}\n"
          "listen tcp 127.0.0.1:3 {\n    handler /abs/z.so\n}\n"
          "listen tcp 127.0.0.1:4 {\n    handler echo\n}\n",
          f);
    fclose(f);
    ck_assert_int_eq(chdir("/"), 0); /* as under systemd */
    eddy_config *c = NULL;
    char err[256];
    int rc = eddy_config_load(&c, path, err, sizeof(err));
    unlink(path);
    rmdir(dir);
    ck_assert_msg(rc == 0, "%s", err);
    snprintf(want, sizeof(want), "%s/lib/p", dir);
    ck_assert_str_eq(c->plugin_dir, want);
    snprintf(want, sizeof(want), "%s/./x.so", dir);
    ck_assert_str_eq(c->listeners[0].handler, want);
    snprintf(want, sizeof(want), "%s/sub/y.so", dir);
    ck_assert_str_eq(c->listeners[1].handler, want);
    ck_assert_str_eq(c->listeners[2].handler, "/abs/z.so");
    ck_assert_str_eq(c->listeners[3].handler, "echo");
    eddy_config_free(c);
}
END_TEST

/* eddy_config_check: what a start needs from the machine, at its line;
 * workers above the CPUs is a warning (1), not an error. */
START_TEST(check_machine)
{
    static const struct {
        const char *text, *err;
        int rc;
    } cases[] = {
        {BLOCK(""), "", 0},
        {"workers 0\n" BLOCK(""), "", 0},
        {"\nuser no-such-user-eddy\n" BLOCK(""), "t.conf:2: user: 'no-such-user-eddy' does not exist",
         -EINVAL},
        {"group no-such-group-eddy\n" BLOCK(""),
         "t.conf:1: group: 'no-such-group-eddy' does not exist", -EINVAL},
        {"pidfile /nonexistent-eddy/e.pid\n" BLOCK(""),
         "t.conf:1: pidfile /nonexistent-eddy/e.pid: directory /nonexistent-eddy does not exist",
         -EINVAL},
        {"pidfile /etc/passwd/e.pid\n" BLOCK(""),
         "t.conf:1: pidfile /etc/passwd/e.pid: /etc/passwd is not a directory", -EINVAL},
        {BLOCK("") "listen unix /nonexistent-eddy/s {\n handler echo\n}\n",
         "t.conf:5: listen unix /nonexistent-eddy/s: directory /nonexistent-eddy does not exist",
         -EINVAL},
        {"listen unix /etc/passwd {\n handler echo\n}\n",
         "t.conf:1: listen unix /etc/passwd: the file exists and is not a socket", -EINVAL},
        {"workers 1024\n" BLOCK(""), "t.conf:1: workers 1024 is more than the", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        eddy_config *c = parse_ok(cases[i].text);
        char err[512] = "junk";
        int rc = eddy_config_check(c, err, sizeof(err));
        ck_assert_msg(rc == cases[i].rc, "#%zu: rc %d (%s)", i, rc, err);
        ck_assert_msg(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0 &&
                          (rc == 1 || strlen(err) == strlen(cases[i].err)),
                      "#%zu: '%s'", i, err);
        ck_assert_int_eq(eddy_config_check(c, NULL, 0), rc); /* no buffer: still the verdict */
        eddy_config_free(c);
    }
}
END_TEST

/* ---- eddy_config_override ------------------------------------------- */

static const char two_listeners[] = "listen tcp 127.0.0.1:1 {\n"
                                    "    handler echo\n"
                                    "    prefix \"A: \"\n"
                                    "}\n"
                                    "listen tcp 127.0.0.1:2 {\n"
                                    "    handler echo\n"
                                    "    prefix \"B: \"\n"
                                    "}\n";

START_TEST(override_globals)
{
    eddy_config *c = parse_ok(two_listeners);
    char err[256] = "";
    ck_assert_int_eq(eddy_config_override(c, "workers", "3", err, sizeof(err)), 0);
    ck_assert_int_eq(eddy_config_override(c, "max_connections", "7", err, sizeof(err)), 0);
    ck_assert_int_eq(eddy_config_override(c, "pool_threads", "2", err, sizeof(err)), 0);
    ck_assert_int_eq(eddy_config_override(c, "log_level", "error", err, sizeof(err)), 0);
    ck_assert_int_eq(eddy_config_override(c, "plugin_dir", "/x", err, sizeof(err)), 0);
    ck_assert_int_eq(eddy_config_override(c, "plugin_dir", "/y", err, sizeof(err)), 0);
    ck_assert_int_eq(eddy_config_override(c, "workers", "4", err, sizeof(err)), 0); /* again */
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(c->workers, 4);
    ck_assert_uint_eq(c->max_connections, 7);
    ck_assert_int_eq(c->pool_threads, 2);
    ck_assert_int_eq(c->log_level, 0);
    ck_assert_str_eq(c->plugin_dir, "/y");

    /* bad values: the same checks as the file, the value left alone */
    ck_assert_int_eq(eddy_config_override(c, "workers", "x", err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "must be a number from 0 to 1024, not 'x'");
    ck_assert_int_eq(c->workers, 4);
    ck_assert_int_eq(eddy_config_override(c, "max_connections", "0", err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "must be a number from 1 to 16777216, not '0'");
    ck_assert_int_eq(eddy_config_override(c, "pool_threads", "257", err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "must be a number from 1 to 256, not '257'");
    ck_assert_int_eq(eddy_config_override(c, "log_level", "loud", err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "must be error, warn, info or debug, not 'loud'");
    ck_assert_int_eq(eddy_config_override(c, "plugin_dir", "", err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "must not be empty");
    ck_assert_str_eq(c->plugin_dir, "/y");
    ck_assert_int_eq(eddy_config_override(c, "workers", "x", NULL, 0), -EINVAL);
    eddy_config_free(c);
}
END_TEST

START_TEST(override_listen)
{
    eddy_config *c = parse_ok(two_listeners);
    char err[256] = "";
    ck_assert_int_eq(eddy_config_override(c, "listen", "0.0.0.0:9000", err, sizeof(err)), 0);
    ck_assert_str_eq(c->listeners[0].address, "0.0.0.0:9000");
    ck_assert_str_eq(c->listeners[1].address, "127.0.0.1:2"); /* only the first */
    static const char *const bad_addresses[] = {"", "nohost", "127.0.0.1", "127.0.0.1:65536",
                                                "localhost:80", "127.0.0.1:-1", "1.2.3:4"};
    for (size_t i = 0; i < sizeof(bad_addresses) / sizeof(bad_addresses[0]); i++) {
        char want[256];
        ck_assert_int_eq(eddy_config_override(c, "listen", bad_addresses[i], err, sizeof(err)),
                         -EINVAL);
        snprintf(want, sizeof(want),
                 "'%s' is not an address (expected IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:7777)",
                 bad_addresses[i]);
        ck_assert_str_eq(err, want);
        ck_assert_str_eq(c->listeners[0].address, "0.0.0.0:9000");
    }
    eddy_config_free(c);
}
END_TEST

START_TEST(override_listener_directive)
{
    eddy_config *c = parse_ok(two_listeners);
    char err[256] = "";
    ck_assert_int_eq(eddy_config_override(c, "dispatch", "pool", err, sizeof(err)), 0);
    ck_assert_int_eq(c->listeners[0].dispatch, EDDY_DISPATCH_POOL);
    ck_assert_int_eq(c->listeners[1].dispatch, -1);
    ck_assert_int_eq(eddy_config_override(c, "handler", "lines", err, sizeof(err)), 0);
    ck_assert_str_eq(c->listeners[0].handler, "lines");
    ck_assert_int_eq(eddy_config_override(c, "high_water", "64k", err, sizeof(err)), 0);
    ck_assert_uint_eq(c->listeners[0].high_water, 65536);
    ck_assert_int_eq(eddy_config_override(c, "max_message", "1m", err, sizeof(err)), 0);
    ck_assert_uint_eq(c->listeners[0].max_message, (size_t)1 << 20);
    ck_assert_int_eq(eddy_config_override(c, "dispatch", "threads", err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "must be inline or pool, not 'threads'");
    ck_assert_int_eq(c->listeners[0].dispatch, EDDY_DISPATCH_POOL);
    ck_assert_int_eq(eddy_config_override(c, "low_water", "12q", err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "must be a size from 1 to 1g (e.g. 64k, 1m), not '12q'");
    ck_assert_int_eq(eddy_config_override(c, "handler", "", err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "must not be empty");
    ck_assert_str_eq(c->listeners[0].handler, "lines");
    /* a listener directive is not a handler parameter */
    ck_assert_uint_eq(c->listeners[0].params->n, 1);
    eddy_config_free(c);
}
END_TEST

START_TEST(override_handler_parameters)
{
    eddy_config *c = parse_ok(two_listeners);
    char err[256] = "";
    ck_assert_int_eq(eddy_config_override(c, "prefix", "Z: ", err, sizeof(err)), 0);
    const eddy__cfg_listener *l = &c->listeners[0];
    ck_assert_uint_eq(l->params->n, 1);
    ck_assert_str_eq(param_value(l, "prefix"), "Z: ");
    ck_assert_int_eq(param(l, "prefix")->line, 0); /* no longer from the file */
    ck_assert_int_eq(eddy_config_override(c, "close_after_reply", "on", err, sizeof(err)), 0);
    ck_assert_uint_eq(l->params->n, 2);
    ck_assert_str_eq(param_value(l, "close_after_reply"), "on");
    ck_assert_int_eq(eddy_config_override(c, "prefix", "", err, sizeof(err)), 0);
    ck_assert_str_eq(param_value(l, "prefix"), "");
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(param_value(&c->listeners[1], "prefix"), "B: ");
    ck_assert_uint_eq(c->listeners[1].params->n, 1);
    eddy_config_free(c);
    /* a name the file gave on several lines, several values each: one
     * value from now on, where its first line was */
    c = parse_ok(BLOCK("    prefix a b\n    x 1\n    prefix c\n    y 2\n    prefix"));
    l = &c->listeners[0];
    ck_assert_int_eq(eddy_config_override(c, "prefix", "Z", err, sizeof(err)), 0);
    ck_assert_uint_eq(l->params->n, 3);
    ck_assert_str_eq(l->params->items[0].name, "prefix");
    ck_assert_uint_eq(l->params->items[0].nvalues, 1);
    ck_assert_str_eq(l->params->items[0].values[0], "Z");
    ck_assert_str_eq(l->params->items[1].name, "x");
    ck_assert_str_eq(l->params->items[2].name, "y");
    eddy_config_free(c);
    c = parse_ok(BLOCK("    prefix"));
    ck_assert_int_eq(eddy_config_override(c, "prefix", "Q", err, sizeof(err)), 0);
    ck_assert_str_eq(param_value(&c->listeners[0], "prefix"), "Q");
    eddy_config_free(c);
}
END_TEST

/* Without a listener only the globals can be overridden. */
START_TEST(override_without_listener)
{
    eddy_config *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    c->name = strdup("empty");
    char err[256] = "";
    static const char *const listener_names[][2] = {
        {"listen", "127.0.0.1:1"}, {"handler", "echo"}, {"dispatch", "pool"}, {"prefix", "x"}};
    for (size_t i = 0; i < 4; i++) {
        err[0] = '\0';
        ck_assert_int_eq(eddy_config_override(c, listener_names[i][0], listener_names[i][1], err,
                                              sizeof(err)),
                         -EINVAL);
        ck_assert_str_eq(err, "there is no listener to apply it to");
    }
    ck_assert_int_eq(eddy_config_override(c, "workers", "2", err, sizeof(err)), 0);
    ck_assert_int_eq(c->workers, 2);
    ck_assert_uint_eq(c->nlisteners, 0);
    eddy_config_free(c);
}
END_TEST

/* ---- eddy_server_configure ------------------------------------------ */

/* Parse text, apply it to a new server with the built-ins and `extra`
 * (may be NULL) registered; returns the rc, the message in err (empty on
 * success). */
static int configure_with(const char *text, const eddy_handler *extra, char *err, size_t n)
{
    eddy_config *c = parse_ok(text);
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_builtin_register(s), 0); /* as eddyd does */
    if (extra)
        ck_assert_int_eq(eddy_server_register_handler(s, extra), 0);
    int rc = eddy_server_configure(s, c);
    snprintf(err, n, "%s", rc < 0 ? eddy_server_error(s) : "");
    eddy_server_free(s);
    eddy_config_free(c);
    return rc;
}

static int configure(const char *text, char *err, size_t n)
{
    return configure_with(text, NULL, err, n);
}

/* A handler with a list parameter (`item`) and a one-value one (`one`):
 * init() writes what it read into list_seen, "one=V item=A,B,C". */
static char list_seen[256];

static int list_init(void **state, eddy_params *p)
{
    size_t n = eddy_params_count(p, "item");
    int len = snprintf(list_seen, sizeof(list_seen), "one=%s item=",
                       eddy_params_str(p, "one", "-"));
    for (size_t i = 0; i < n && len >= 0 && (size_t)len < sizeof(list_seen); i++)
        len += snprintf(list_seen + len, sizeof(list_seen) - (size_t)len, "%s%s", i ? "," : "",
                        eddy_params_value(p, "item", i));
    ck_assert_ptr_null(eddy_params_value(p, "item", n));
    *state = NULL;
    return 0;
}

static size_t list_data(eddy_conn *c, const char *buf, size_t len)
{
    (void)c, (void)buf;
    return len;
}

static const eddy_param list_params[] = {{"item", EDDY_PARAM_LIST}, {"one", 0}, {NULL, 0}};
static const eddy_handler list_handler = {.abi_version = EDDY_ABI_VERSION, .name = "lst",
                                          .params = list_params, .init = list_init,
                                          .data = list_data};

#define LIST_BLOCK(body) LISTEN "    handler lst\n" body "\n}\n"

START_TEST(configure_handler_not_found)
{
    char err[1024];
    ck_assert_int_eq(configure("plugin_dir /nonexistent-eddy-plugins\n" LISTEN
                               "    prefix x\n    handler nope\n}\n",
                               err, sizeof(err)),
                     -ENOENT);
    ck_assert_str_eq(err, "t.conf:4: handler 'nope' not found: no built-in handler of that name "
                          "and no nope.so in /nonexistent-eddy-plugins");
    /* without plugin_dir, every directory searched: the build tree's
     * plugins/ beside the program, its install's ../lib/eddy, then the
     * configured prefix's (absolute, the last) */
    char exe[1024], want[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    ck_assert_int_gt(len, 0);
    exe[len] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(want, sizeof(want), "t.conf:2: handler 'nope' not found: no built-in handler of that "
                                 "name and no nope.so in %s/plugins, %s/../lib/eddy, /",
             exe, exe);
    ck_assert_int_eq(configure(LISTEN "    handler nope\n}\n", err, sizeof(err)), -ENOENT);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s\nwanted: %s", err, want);
    ck_assert_msg(!strchr(err + strlen(want), ','), "%s", err);
    /* a name that could not be a file name */
    ck_assert_int_eq(configure(LISTEN "    handler ec.ho\n}\n", err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:2: 'ec.ho' is not a handler name (letters, digits, '_' and '-'; "
                          "or a path to a .so with a '/')");
    /* the second listener's handler: its own line */
    ck_assert_int_eq(configure(BLOCK("") "listen tcp 127.0.0.1:2 {\n    handler Echo\n}\n", err,
                               sizeof(err)),
                     -ENOENT);
    ck_assert_msg(strncmp(err, "t.conf:6: handler 'Echo' not found", 34) == 0, "%s", err);
}
END_TEST

START_TEST(configure_parameter_rejected)
{
    char err[1024];
    ck_assert_int_eq(configure(BLOCK("    prefix x\n    close_after_reply maybe"), err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:4: handler 'echo': close_after_reply: 'maybe' is not on or off");
    ck_assert_int_eq(configure("\n" LISTEN "    close_after_reply \"\"; handler echo\n}\n", err,
                               sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': close_after_reply: '' is not on or off");
}
END_TEST

START_TEST(configure_unknown_parameter)
{
    char err[1024];
    ck_assert_int_eq(configure(BLOCK("    prefx \"> \""), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err,
                     "t.conf:3: handler 'echo': prefx: unknown parameter for handler 'echo' "
                     "(did you mean 'prefix'?)");
    ck_assert_int_eq(configure(BLOCK("    prefix x\n    close_after_replay on"), err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:4: handler 'echo': close_after_replay: unknown parameter for "
                          "handler 'echo' (did you mean 'close_after_reply'?)");
    /* a misspelt listener directive is suggested too */
    ck_assert_int_eq(configure(BLOCK("    dispach pool"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': dispach: unknown parameter for handler 'echo' "
                          "(did you mean 'dispatch'?)");
    ck_assert_int_eq(configure(BLOCK("    bogus 1"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': bogus: unknown parameter for handler 'echo'");
}
END_TEST

/* How many values a parameter takes, and whether it repeats, is the
 * handler's table's to say: judged when the listener is made, at the
 * statement's own line, whichever line the handler is named on. */
START_TEST(configure_param_values)
{
    char err[1024];
    /* a parameter without EDDY_PARAM_LIST: one value, once */
    ck_assert_int_eq(configure(BLOCK("    prefix a b"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': 'prefix' takes one value, got 2");
    ck_assert_int_eq(configure(BLOCK("    prefix a b c d"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': 'prefix' takes one value, got 4");
    ck_assert_int_eq(configure(BLOCK("    prefix"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': 'prefix' takes one value, got 0");
    ck_assert_int_eq(configure(BLOCK("    prefix #red"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': 'prefix' takes one value, got 0");
    ck_assert_int_eq(configure(BLOCK("    prefix a\n    prefix b"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:4: handler 'echo': 'prefix' given twice in this listen block");
    ck_assert_int_eq(configure(BLOCK("    prefix a; prefix a"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': 'prefix' given twice in this listen block");
    /* the handler named after its parameters: the same lines */
    ck_assert_int_eq(configure(LISTEN "    prefix a\n    prefix b\n    handler echo\n}\n", err,
                               sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': 'prefix' given twice in this listen block");
    ck_assert_int_eq(configure(LISTEN "    close_after_reply on off\n    handler echo\n}\n", err,
                               sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:2: handler 'echo': 'close_after_reply' takes one value, got 2");
    /* the first bad statement in the file is the one named */
    ck_assert_int_eq(configure(BLOCK("    prefix a b\n    bogus 1 2"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': 'prefix' takes one value, got 2");
    /* an unknown parameter is unknown, however many values it has */
    ck_assert_int_eq(configure(BLOCK("    prefx a b"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': prefx: unknown parameter for handler 'echo' "
                          "(did you mean 'prefix'?)");
    ck_assert_int_eq(configure(BLOCK("    bogus"), err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'echo': bogus: unknown parameter for handler 'echo'");

    /* a list: one or more values a line, lines that add to it, in order */
    ck_assert_int_eq(configure_with(LIST_BLOCK("    item a b\n    one 1\n    item c\n"
                                               "    item \"d e\" f"),
                                    &list_handler, err, sizeof(err)),
                     0);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(list_seen, "one=1 item=a,b,c,d e,f");
    ck_assert_int_eq(configure_with(LIST_BLOCK("    item " SIXTY_FOUR_WORDS), &list_handler, err,
                                    sizeof(err)),
                     0);
    size_t commas = 0;
    for (const char *q = list_seen; *q; q++)
        commas += *q == ',';
    ck_assert_uint_eq(commas, 63); /* all 64 values */
    ck_assert_int_eq(configure_with(LIST_BLOCK(""), &list_handler, err, sizeof(err)), 0);
    ck_assert_str_eq(list_seen, "one=- item=");
    /* ...but never an empty line */
    ck_assert_int_eq(configure_with(LIST_BLOCK("    item a\n    item"), &list_handler, err,
                                    sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:4: handler 'lst': 'item' takes one or more values");
    ck_assert_int_eq(configure_with(LIST_BLOCK("    item; item a"), &list_handler, err,
                                    sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'lst': 'item' takes one or more values");
    /* the same handler's one-value parameter keeps its rules */
    ck_assert_int_eq(configure_with(LIST_BLOCK("    item a\n    one 1 2"), &list_handler, err,
                                    sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:4: handler 'lst': 'one' takes one value, got 2");
    ck_assert_int_eq(configure_with(LIST_BLOCK("    one 1\n    item a\n    one 1"), &list_handler,
                                    err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:5: handler 'lst': 'one' given twice in this listen block");
    ck_assert_int_eq(configure_with(LIST_BLOCK("    items a b"), &list_handler, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: handler 'lst': items: unknown parameter for handler 'lst' "
                          "(did you mean 'item'?)");
}
END_TEST

START_TEST(configure_plugin_path_missing)
{
    char err[1024];
    ck_assert_int_eq(configure(LISTEN "    handler /nonexistent/eddy-nope.so\n}\n", err,
                               sizeof(err)),
                     -ENOENT);
    static const char want[] = "t.conf:2: cannot load /nonexistent/eddy-nope.so: ";
    ck_assert_msg(strncmp(err, want, sizeof(want) - 1) == 0, "%s", err);
    ck_assert_msg(strstr(err, "No such file or directory"), "%s", err);
    /* relative paths hold a '/' too */
    ck_assert_int_eq(configure(LISTEN "    handler ./eddy-nope.so\n}\n", err, sizeof(err)),
                     -ENOENT);
    ck_assert_msg(strncmp(err, "t.conf:2: cannot load ./eddy-nope.so: ", 38) == 0, "%s", err);
}
END_TEST

START_TEST(configure_plugin_not_a_shared_object)
{
    char path[] = "/tmp/eddy-config-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "not ELF\n", 8), 8);
    close(fd);
    char text[256], err[1024], want[256];
    snprintf(text, sizeof(text), LISTEN "    handler %s\n}\n", path);
    int rc = configure(text, err, sizeof(err));
    unlink(path);
    ck_assert_int_eq(rc, -ENOENT);
    snprintf(want, sizeof(want), "t.conf:2: cannot load %s: ", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
}
END_TEST

START_TEST(configure_echo)
{
    char err[1024];
    eddy_config *c = parse_ok("workers 3\nmax_connections 50\npool_threads 2\nlog_level warn\n"
                              "listen tcp 127.0.0.1:1 {\n"
                              "    handler echo\n"
                              "    dispatch pool\n"
                              "    high_water 64k\n"
                              "    max_message 4k\n"
                              "    prefix \"> \"\n"
                              "    close_after_reply on\n"
                              "}\n"
                              "listen tcp 127.0.0.1:2 { handler echo; low_water 1k }\n");
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_builtin_register(s), 0); /* as eddyd does */
    int rc = eddy_server_configure(s, c);
    snprintf(err, sizeof(err), "%s", eddy_server_error(s));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(eddy_server_worker_count(s), 3);
    eddy_listener *l = eddy_server_listener(s, 0);
    ck_assert_str_eq(eddy_listener_address(l), "127.0.0.1:1");
    ck_assert_str_eq(eddy_listener_handler(l), "echo");
    ck_assert_int_eq(l->dispatch, EDDY_DISPATCH_POOL);
    ck_assert_uint_eq(l->high_water, 65536);
    ck_assert_uint_eq(l->low_water, 16384); /* a quarter of high_water */
    ck_assert_uint_eq(l->max_message, 4096);
    ck_assert_ptr_null(l->dl);
    ck_assert_int_eq(eddy_listener_port(l), 0);
    l = eddy_server_listener(s, 1);
    ck_assert_str_eq(eddy_listener_address(l), "127.0.0.1:2");
    ck_assert_int_eq(l->dispatch, EDDY_DISPATCH_INLINE);
    ck_assert_uint_eq(l->high_water, (size_t)1 << 20);
    ck_assert_uint_eq(l->low_water, 1024);
    ck_assert_uint_eq(l->max_message, (size_t)1 << 20);
    ck_assert_ptr_null(eddy_server_listener(s, 2));
    eddy_server_free(s);
    eddy_config_free(c);
}
END_TEST

START_TEST(configure_udp_pool)
{
    char err[1024];
    ck_assert_int_eq(configure("listen udp 127.0.0.1:0 {\n    handler echo\n    dispatch pool\n}\n",
                               err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:3: dispatch pool does not apply to udp");
    ck_assert_int_eq(configure("listen udp 127.0.0.1:0 {\n    handler echo\n    dispatch inline\n}\n"
                               "listen unix /tmp/eddy-never-bound.sock { handler echo; mode 0600 }\n",
                               err, sizeof(err)),
                     0);
    ck_assert_int_eq(access("/tmp/eddy-never-bound.sock", F_OK), -1); /* nothing opened */
}
END_TEST

/* The first listener is configured when the second fails: freeing the
 * server then releases both without leaks (ASan builds check). */
START_TEST(configure_fails_midway)
{
    char err[1024];
    ck_assert_int_eq(configure(BLOCK("") "listen tcp 127.0.0.1:2 {\n    handler echo\n"
                                         "    close_after_reply sometimes\n}\n",
                               err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:7: handler 'echo': close_after_reply: 'sometimes' is not on or off");
}
END_TEST

/* Bugs the fuzzer and these tests found, fixed since: kept as regressions. */

/* Without an error buffer a lexer error must still fail the parse. */
START_TEST(bug_null_err_hides_lexer_errors)
{
    eddy_config *c = NULL;
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", T(BLOCK("") "\x01"), NULL, 0), -EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", T(LISTEN "    handler echo\n    prefix \"x"),
                                       NULL, 0),
                     -EINVAL);
    ck_assert_ptr_null(c);
    char one[1];
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", T(BLOCK("") "\x01"), one, sizeof(one)),
                     -EINVAL);
    ck_assert_ptr_null(c);
}
END_TEST

/* 127.0.0.1:1 and 127.0.0.1:01 are the same address. */
START_TEST(bug_same_address_spelt_twice)
{
    eddy_config *c = NULL;
    char err[256];
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf",
                                       T(BLOCK("") "listen tcp 127.0.0.1:01 {\n    handler echo\n}\n"),
                                       err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:5: listen tcp 127.0.0.1:01 given twice (first at line 1)");
}
END_TEST

/* A tcp listen block takes a TCP address, not a "unix:" or "udp:" one. */
START_TEST(bug_tcp_takes_other_transports)
{
    eddy_config *c = NULL;
    char err[256];
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", T("listen tcp unix:/tmp/x.sock { handler echo }\n"),
                                       err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:1: listen: 'unix:/tmp/x.sock' is not a tcp address " ADDRESS_HELP);
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", T("listen tcp udp:127.0.0.1:1 { handler echo }\n"),
                                       err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "t.conf:1: listen: 'udp:127.0.0.1:1' is not a tcp address " ADDRESS_HELP);
}
END_TEST

/* ---- the effective configuration (eddyd -T) and the reference --------- */

/* c's dump, checked to parse again into a config that dumps the same. */
static char *dump_fixpoint(const eddy_config *c)
{
    char *text = eddy_config_dump(c);
    ck_assert_ptr_nonnull(text);
    eddy_config *again = parse_ok(text);
    char *second = eddy_config_dump(again);
    ck_assert_str_eq(second, text);
    free(second);
    eddy_config_free(again);
    return text;
}

START_TEST(dump_every_default)
{
    eddy_config *c = parse_ok(LISTEN "    handler echo\n}\n");
    char *text = dump_fixpoint(c);
    ck_assert_str_eq(text,
                     "# the effective configuration (eddyd -T): every directive, defaults included\n"
                     "workers 0\n"
                     "max_connections 10000\n"
                     "pool_threads 4\n"
                     "log_level info\n"
                     "# plugin_dir: not set (plugins/ beside eddyd, then its install's lib/eddy)\n"
                     "shutdown_timeout 10s\n"
                     "# log_file: not set (stderr)\n"
                     "# pidfile: not set (none)\n"
                     "# user: not set (the starting user)\n"
                     "# group: not set (the user's group)\n"
                     "max_connections_per_ip 0\n"
                     "\n"
                     "listen tcp 127.0.0.1:1 {\n"
                     "    handler echo\n"
                     "    # dispatch: not set (pool for a blocking handler, else inline)\n"
                     "    high_water 1m\n"
                     "    low_water 256k\n"
                     "    max_message 1m\n"
                     "    max_output 4m\n"
                     "    ipv6only on\n"
                     "    mode 0660\n"
                     "    max_amplification 3\n"
                     "    idle_timeout 0\n"
                     "    first_byte_timeout 0\n"
                     "    proxy_protocol off\n"
                     "    # systemd_socket: not set (the socket of the listen address)\n"
                     "    # tls_protocols: not set (TLSv1.2 TLSv1.3)\n"
                     "    # tls_ciphers: not set (OpenSSL's default)\n"
                     "    # tls_alpn: not set (no ALPN)\n"
                     "    # tls_client_certificate: not set (none)\n"
                     "    # tls_verify_client: not set (off)\n"
                     "    # tls_session_tickets: not set (on)\n"
                     "    # tls_handshake_timeout: not set (10s)\n"
                     "    # tls_certificate: not set (none: plain TCP)\n"
                     "    # tls_certificate_key: not set (none)\n"
                     "}\n");
    free(text);
    eddy_config_free(c);
}
END_TEST

START_TEST(dump_values_in_their_largest_unit)
{
    eddy_config *c = parse_ok("log_level debug\nshutdown_timeout 90000ms\nuser nobody\n"
                              "listen tcp 127.0.0.1:1 {\n    handler echo\n    dispatch pool\n"
                              "    high_water 64K\n    max_message 1025\n    mode 600\n"
                              "    idle_timeout 120s\n    first_byte_timeout 1500ms\n"
                              "    ipv6only no\n    proxy_protocol yes\n}\n"
                              "listen udp 127.0.0.1:2 {\n    handler echo\n    high_water 3\n"
                              "    max_amplification 0\n    idle_timeout 24h\n}\n");
    char *text = dump_fixpoint(c);
    static const char *const lines[] = {
        "\nlog_level debug\n", "\nshutdown_timeout 90s\n", "\nuser nobody\n",
        "\n    dispatch pool\n", "\n    high_water 64k\n",
        "\n    low_water 16k\n", /* a quarter of high_water, said */
        "\n    max_message 1025\n", "\n    mode 0600\n", "\n    idle_timeout 2m\n",
        "\n    first_byte_timeout 1500ms\n", "\n    ipv6only off\n", "\n    proxy_protocol on\n",
        "\n    high_water 3\n", "\n    # low_water: not set", /* 3 / 4 = 0: still derived */
        "\n    max_amplification 0\n", "\n    idle_timeout 24h\n"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        ck_assert_msg(strstr(text, lines[i]), "no '%s' in:\n%s", lines[i], text);
    free(text);
    eddy_config_free(c);
}
END_TEST

START_TEST(dump_quotes_what_is_not_a_word)
{
    /* every value a parameter can hold comes back as it was */
    eddy_config *c = parse_ok("listen unix \"/tmp/with space.sock\" {\n"
                              "    handler \"#echo\"\n"
                              "    a \"\"\n"
                              "    b \"q\\\"uote \\\\ back\"\n"
                              "    c \"\\n\\r\\t\\x01\\x7f\"\n"
                              "    \"d e\" \"{;}\"\n"
                              "    f caf\xc3\xa9#x\n"
                              "    g \"#not a comment\"\n"
                              "}\n");
    char *text = dump_fixpoint(c);
    ck_assert_msg(strstr(text, "listen unix \"/tmp/with space.sock\" {\n    handler \"#echo\"\n"),
                  "%s", text);
    ck_assert_msg(strstr(text, "\n    a \"\"\n    b \"q\\\"uote \\\\ back\"\n"
                               "    c \"\\n\\r\\t\\x01\\x7f\"\n    \"d e\" \"{;}\"\n"
                               "    f caf\xc3\xa9#x\n    g \"#not a comment\"\n}\n"),
                  "%s", text);
    eddy_config *again = parse_ok(text);
    const eddy__cfg_listener *l = &again->listeners[0];
    ck_assert_str_eq(l->address, "/tmp/with space.sock");
    ck_assert_str_eq(l->handler, "#echo");
    ck_assert_str_eq(param_value(l, "b"), "q\"uote \\ back");
    ck_assert_str_eq(param_value(l, "c"), "\n\r\t\x01\x7f");
    ck_assert_str_eq(param_value(l, "d e"), "{;}");
    eddy_config_free(again);
    free(text);
    eddy_config_free(c);
}
END_TEST

START_TEST(dump_list_parameters)
{
    /* each statement on its own line, with its values, in the file's order */
    eddy_config *c = parse_ok(LIST_BLOCK("    item a \"b c\"\n    one 1\n    item d\n    item"));
    char *text = dump_fixpoint(c);
    ck_assert_msg(strstr(text, "\n    item a \"b c\"\n    one 1\n    item d\n    item\n}\n"), "%s",
                  text);
    eddy_config *again = parse_ok(text);
    const eddy__cfg_listener *l = &again->listeners[0];
    ck_assert_uint_eq(l->params->n, 4);
    ck_assert_uint_eq(l->params->items[0].nvalues, 2);
    ck_assert_str_eq(l->params->items[0].values[1], "b c");
    ck_assert_uint_eq(l->params->items[3].nvalues, 0);
    eddy_config_free(again);
    free(text);
    eddy_config_free(c);
}
END_TEST

START_TEST(dump_after_overrides)
{
    eddy_config *c = parse_ok(LISTEN "    handler echo\n    high_water 1m\n}\n");
    ck_assert_int_eq(eddy_config_override(c, "workers", "3", NULL, 0), 0);
    ck_assert_int_eq(eddy_config_override(c, "listen", "127.0.0.1:0", NULL, 0), 0);
    ck_assert_int_eq(eddy_config_override(c, "high_water", "64k", NULL, 0), 0);
    ck_assert_int_eq(eddy_config_override(c, "prefix", "", NULL, 0), 0);
    char *text = dump_fixpoint(c);
    ck_assert_msg(strstr(text, "\nworkers 3\n"), "%s", text);
    ck_assert_msg(strstr(text, "\nlisten tcp 127.0.0.1:0 {\n"), "%s", text);
    /* low_water follows the overridden high_water, as eddy_server_configure does */
    ck_assert_msg(strstr(text, "\n    high_water 64k\n    low_water 16k\n"), "%s", text);
    ck_assert_msg(strstr(text, "\n    prefix \"\"\n}\n"), "%s", text);
    free(text);
    eddy_config_free(c);
}
END_TEST

/* max_output not given and high_water above its 1m default: it follows
 * high_water, at most 1g, so that the dump (which gives it) reads back (the fuzzer's
 * round trip found the 4m written out below a 1g high_water refused). */
START_TEST(dump_max_output_follows_high_water)
{
    eddy_config *c = parse_ok(LISTEN "    handler echo\n    high_water 1g\n}\n");
    ck_assert_int_eq(c->listeners[0].max_output, 1L << 30);
    char *text = dump_fixpoint(c);
    ck_assert_msg(strstr(text, "\n    max_output 1g\n"), "%s", text);
    free(text);
    eddy_config_free(c);
    c = parse_ok(LISTEN "    handler echo\n    high_water 64k\n}\n");
    ck_assert_int_eq(c->listeners[0].max_output, 4L << 20);
    eddy_config_free(c);
    /* 3m above a larger high_water, as the default is above the default:
     * a queue passes high_water by a reply (or a relay's read) before
     * reading stops, and max_output equal to it closed a proxy's client
     * at once. */
    c = parse_ok(LISTEN "    handler echo\n    high_water 16m\n}\n");
    ck_assert_int_eq(c->listeners[0].max_output, 19L << 20);
    eddy_config_free(c);
}
END_TEST

/* README.md's directive reference is the tables' own output, byte for
 * byte; on a difference the expected text is left in a file to paste. */
/* TLS in the dump: the pairs in order, several words as one value, and
 * read back to the same text. */
START_TEST(dump_tls)
{
    eddy_config *c = parse_ok(LISTEN "    handler echo\n    tls_certificate a.crt\n"
                                     "    tls_certificate_key a.key\n    tls_alpn h2 http/1.1\n"
                                     "    tls_certificate \"b c.crt\"\n    tls_certificate_key b.key\n"
                                     "    tls_protocols TLSv1.3\n    tls_handshake_timeout 2s\n}\n");
    const eddy__cfg_listener *l = &c->listeners[0];
    eddy__tls_settings t;
    ck_assert_int_eq(eddy__cfg_tls(l, &t), 1);
    ck_assert_uint_eq(t.npairs, 2);
    ck_assert_str_eq(t.pairs[1].cert, "b c.crt");
    ck_assert_int_eq(t.pairs[1].key_line, 7);
    ck_assert_str_eq(t.alpn, "h2 http/1.1");
    ck_assert_str_eq(t.protocols, "TLSv1.3");
    ck_assert_int_eq(t.handshake_timeout_ms, 2000);
    ck_assert_int_eq(t.session_tickets, 1);
    char *text = dump_fixpoint(c);
    ck_assert_msg(strstr(text, "\n    tls_alpn \"h2 http/1.1\"\n"), "%s", text);
    ck_assert_msg(strstr(text, "\n    tls_certificate a.crt\n    tls_certificate_key a.key\n"
                               "    tls_certificate \"b c.crt\"\n    tls_certificate_key b.key\n"),
                  "%s", text);
    free(text);
    eddy_config_free(c);
    c = parse_ok(LISTEN "    handler echo\n}\n");
    ck_assert_int_eq(eddy__cfg_tls(&c->listeners[0], &t), 0);
    eddy_config_free(c);
}
END_TEST

START_TEST(readme_reference_is_the_table)
{
    static const char begin[] = "<!-- directives: begin -->\n", end[] = "<!-- directives: end -->";
    FILE *f = fopen(EDDY_SOURCE_DIR "/README.md", "r");
    ck_assert_ptr_nonnull(f);
    static char readme[1 << 18];
    size_t n = fread(readme, 1, sizeof(readme) - 1, f);
    fclose(f);
    readme[n] = '\0';
    char *from = strstr(readme, begin), *to = from ? strstr(from, end) : NULL;
    ck_assert_msg(from && to, "README.md has no '%s' ... '%s' section", begin, end);
    from += sizeof(begin) - 1;
    *to = '\0';
    char *want = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&want, &len);
    fputc('\n', m);
    eddy__config_reference(m);
    fputc('\n', m);
    fclose(m);
    if (strcmp(from, want) != 0) {
        FILE *out = fopen("directives.md", "w");
        if (out) {
            fputs(want, out);
            fclose(out);
        }
    }
    ck_assert_msg(strcmp(from, want) == 0,
                  "README.md's directive reference differs from core/config.h's tables: "
                  "paste ./directives.md (written now) between its markers");
    free(want);
}
END_TEST

START_TEST(load_from_a_pipe)
{
    /* eddyd -T | eddyd -t -c /dev/stdin: a pipe has no size to read to */
    static const char text[] = "workers 2\nlisten tcp 127.0.0.1:1 {\n    handler echo\n}\n";
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(p[1]);
    char path[64], err[256] = "";
    snprintf(path, sizeof(path), "/dev/fd/%d", p[0]);
    eddy_config *c = NULL;
    ck_assert_msg(eddy_config_load(&c, path, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(c->workers, 2);
    ck_assert_uint_eq(c->nlisteners, 1);
    eddy_config_free(c);
    close(p[0]);

    /* and more than 1 MiB through one is refused like a file */
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        static char chunk[65536];
        memset(chunk, '#', sizeof(chunk));
        for (size_t sent = 0; sent <= EDDY__CONFIG_MAX_FILE; sent += sizeof(chunk))
            if (write(p[1], chunk, sizeof(chunk)) < 0)
                _exit(0);
        _exit(0);
    }
    close(p[1]);
    snprintf(path, sizeof(path), "/dev/fd/%d", p[0]);
    ck_assert_int_eq(eddy_config_load(&c, path, err, sizeof(err)), -EFBIG);
    char want[128];
    snprintf(want, sizeof(want), "%s: larger than 1 MiB", path);
    ck_assert_str_eq(err, want);
    close(p[0]);
    waitpid(pid, NULL, 0);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, parse_errors, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, error_buffer_is_bounded);
    tcase_add_test(tc, error_names_the_file);
    tcase_add_test(tc, parse_stops_at_len);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, every_directive);
    tcase_add_test(tc, transports);
    tcase_add_test(tc, timeouts);
    tcase_add_test(tc, bounds_and_levels);
    tcase_add_test(tc, quoted_strings_and_escapes);
    tcase_add_test(tc, separators_and_one_line_blocks);
    tcase_add_test(tc, comments);
    tcase_add_test(tc, crlf_line_endings);
    tcase_add_test(tc, high_bytes_in_words);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, file_eddyd_conf);
    tcase_add_test(tc, file_seed_conf);
    tcase_add_test(tc, file_lines_conf);
    tcase_add_test(tc, file_pool_conf);
    tcase_add_test(tc, file_timeouts_conf);
    tcase_add_test(tc, file_transports_conf);
    tcase_add_test(tc, every_file_in_config);
    tcase_add_test(tc, files_configure);
    tcase_add_test(tc, load_missing_file);
    tcase_add_test(tc, load_directory);
    tcase_add_test(tc, load_too_large);
    tcase_add_test(tc, load_reports_path_and_line);
    tcase_add_test(tc, load_unreadable);
    tcase_add_test(tc, load_relative_paths_from_the_files_directory);
    tcase_add_test(tc, check_machine);
    suite_add_tcase(s, tc);

    tc = tcase_create("dump");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, dump_every_default);
    tcase_add_test(tc, dump_values_in_their_largest_unit);
    tcase_add_test(tc, dump_quotes_what_is_not_a_word);
    tcase_add_test(tc, dump_list_parameters);
    tcase_add_test(tc, dump_after_overrides);
    tcase_add_test(tc, dump_tls);
    tcase_add_test(tc, dump_max_output_follows_high_water);
    tcase_add_test(tc, readme_reference_is_the_table);
    tcase_add_test(tc, load_from_a_pipe);
    suite_add_tcase(s, tc);

    tc = tcase_create("override");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, override_globals);
    tcase_add_test(tc, override_listen);
    tcase_add_test(tc, override_listener_directive);
    tcase_add_test(tc, override_handler_parameters);
    tcase_add_test(tc, override_without_listener);
    suite_add_tcase(s, tc);

    tc = tcase_create("configure");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, configure_handler_not_found);
    tcase_add_test(tc, configure_parameter_rejected);
    tcase_add_test(tc, configure_unknown_parameter);
    tcase_add_test(tc, configure_param_values);
    tcase_add_test(tc, configure_plugin_path_missing);
    tcase_add_test(tc, configure_plugin_not_a_shared_object);
    tcase_add_test(tc, configure_echo);
    tcase_add_test(tc, configure_fails_midway);
    tcase_add_test(tc, configure_udp_pool);
    suite_add_tcase(s, tc);

    tc = tcase_create("regressions");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, bug_null_err_hides_lexer_errors);
    tcase_add_test(tc, bug_same_address_spelt_twice);
    tcase_add_test(tc, bug_tcp_takes_other_transports);
    suite_add_tcase(s, tc);
    return s;
}
