/* core/config.c - the configuration file: read, tokenize, parse.
 *
 * Syntax: one directive per line (or ';'), '#' starts a comment at the
 * start of a token, values are words or "quoted strings" with the escapes
 * \" \\ \n \r \t \xHH, and each listener is a block:
 *
 *     workers 0
 *     listen tcp 127.0.0.1:7777 {
 *         handler echo
 *         prefix "Received: "
 *     }
 *
 * Words in a listen block that are not listener directives are the
 * handler's parameters, checked against the handler when the config is
 * applied.  The parser is a pure function of the text: it opens nothing,
 * and the first mistake stops it with "FILE:LINE: what is wrong".
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listener.h"
#include "params.h"

enum { MAX_ARGS = 4 };
#define DEFAULT_HIGH_WATER ((size_t)1 << 20)

/* ---- directives ---------------------------------------------------- */

typedef int (*setter)(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why, size_t n);

/* A directive: a setter, or (set == NULL) a non-empty string kept at
 * offset in the config (globals) or in the listener (listen blocks). */
typedef struct directive_def {
    const char *name;
    setter set;
    size_t offset;
} directive_def;

/* A whole decimal number in [min, max]. */
static int whole(const char *v, long min, long max, long *out, char *why, size_t n)
{
    char *end;
    errno = 0;
    long x = (*v >= '0' && *v <= '9') || *v == '-' ? strtol(v, &end, 10) : 0;
    if ((*v < '0' || *v > '9') || errno || *end || x < min || x > max) {
        snprintf(why, n, "must be a number from %ld to %ld, not '%s'", min, max, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* A duration up to a day; a number without its unit is refused with the
 * two readings it could have. */
static int duration(const char *v, long *out, char *why, size_t n)
{
    int rc = eddy__parse_msec(v, out);
    if (rc == -EDOM) {
        snprintf(why, n, "add a unit: %ss or %sms", v, v);
        return -1;
    }
    if (rc < 0 || *out > 86400000L) {
        snprintf(why, n, "must be a duration up to 24h (e.g. 500ms, 30s, 0 = never), not '%s'", v);
        return -1;
    }
    return 0;
}

static int set_workers(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why, size_t n)
{
    long x;
    (void)l;
    if (whole(v, 0, 1024, &x, why, n) < 0)
        return -1;
    c->workers = (int)x;
    return 0;
}

static int set_max_connections(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why,
                               size_t n)
{
    long x;
    (void)l;
    if (whole(v, 1, 1L << 24, &x, why, n) < 0)
        return -1;
    c->max_connections = (unsigned)x;
    return 0;
}

static int set_max_connections_per_ip(eddy_config *c, eddy__cfg_listener *l, const char *v,
                                      char *why, size_t n)
{
    long x;
    (void)l;
    if (whole(v, 0, 1L << 24, &x, why, n) < 0)
        return -1;
    c->max_connections_per_ip = (unsigned)x;
    return 0;
}

static int set_proxy_protocol(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why,
                              size_t n)
{
    (void)c;
    if (eddy__parse_bool(v, &l->proxy_protocol) < 0) {
        snprintf(why, n, "must be on or off, not '%s'", v);
        return -1;
    }
    return 0;
}

static int set_pool_threads(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why,
                            size_t n)
{
    long x;
    (void)l;
    if (whole(v, 1, 256, &x, why, n) < 0)
        return -1;
    c->pool_threads = (int)x;
    return 0;
}

static int set_log_level(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why, size_t n)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    (void)l;
    for (int i = 0; i < 4; i++)
        if (strcmp(v, levels[i]) == 0)
            return c->log_level = i, 0;
    snprintf(why, n, "must be error, warn, info or debug, not '%s'", v);
    return -1;
}

/* Replace *slot with a copy of a non-empty v. */
static int set_string(char **slot, const char *v, char *why, size_t n)
{
    if (!*v) {
        snprintf(why, n, "must not be empty");
        return -1;
    }
    char *copy = strdup(v);
    if (!copy) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

static int set_shutdown_timeout(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why,
                                size_t n)
{
    (void)l;
    return duration(v, &c->shutdown_timeout, why, n);
}

static int set_dispatch(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why, size_t n)
{
    (void)c;
    if (strcmp(v, "inline") == 0)
        l->dispatch = EDDY_DISPATCH_INLINE;
    else if (strcmp(v, "pool") == 0)
        l->dispatch = EDDY_DISPATCH_POOL;
    else {
        snprintf(why, n, "must be inline or pool, not '%s'", v);
        return -1;
    }
    return 0;
}

/* A size in [1, EDDY__BUF_MAX]. */
static int size_value(const char *v, size_t *out, char *why, size_t n)
{
    if (eddy__parse_size(v, out) < 0 || *out == 0 || *out > ((size_t)1 << 30)) {
        snprintf(why, n, "must be a size from 1 to 1g (e.g. 64k, 1m), not '%s'", v);
        return -1;
    }
    return 0;
}

static int set_high_water(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why, size_t n)
{
    (void)c;
    return size_value(v, &l->high_water, why, n);
}

static int set_low_water(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why, size_t n)
{
    (void)c;
    return size_value(v, &l->low_water, why, n);
}

static int set_max_message(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why,
                           size_t n)
{
    (void)c;
    return size_value(v, &l->max_message, why, n);
}

static int set_ipv6only(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why, size_t n)
{
    (void)c;
    if (eddy__parse_bool(v, &l->ipv6only) < 0) {
        snprintf(why, n, "must be on or off, not '%s'", v);
        return -1;
    }
    return 0;
}

static int set_mode(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why, size_t n)
{
    (void)c;
    char *end;
    errno = 0;
    long m = *v >= '0' && *v <= '7' ? strtol(v, &end, 8) : -1;
    if (m < 0 || errno || *end || m > 0777) {
        snprintf(why, n, "must be octal permission bits such as 0660, not '%s'", v);
        return -1;
    }
    l->mode = (int)m;
    return 0;
}

static int set_max_amplification(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why,
                                 size_t n)
{
    long x;
    (void)c;
    if (whole(v, 0, 1000, &x, why, n) < 0)
        return -1;
    l->max_amplification = (int)x;
    return 0;
}

static int set_idle_timeout(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why,
                            size_t n)
{
    (void)c;
    return duration(v, &l->idle_timeout, why, n);
}

static int set_first_byte_timeout(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why,
                                  size_t n)
{
    (void)c;
    return duration(v, &l->first_byte_timeout, why, n);
}

/* A socket unit's FileDescriptorName=: 1 to 255 printable ASCII
 * characters, no ':' (LISTEN_FDNAMES separates names with it). */
static int set_systemd_socket(eddy_config *c, eddy__cfg_listener *l, const char *v, char *why,
                              size_t n)
{
    (void)c;
    size_t len = strlen(v);
    for (const char *p = v; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == ':')
            len = 0;
    if (len == 0 || len > 255) {
        snprintf(why, n, "must be a FileDescriptorName: 1 to 255 printable characters, no "
                         "spaces and no ':', not '%s'", v);
        return -1;
    }
    return set_string(&l->systemd_socket, v, why, n);
}

static const directive_def global_directives[] = {
    {"workers", set_workers, 0},           {"max_connections", set_max_connections, 0},
    {"pool_threads", set_pool_threads, 0}, {"log_level", set_log_level, 0},
    {"plugin_dir", NULL, offsetof(eddy_config, plugin_dir)},
    {"shutdown_timeout", set_shutdown_timeout, 0},
    {"log_file", NULL, offsetof(eddy_config, log_file)},
    {"pidfile", NULL, offsetof(eddy_config, pidfile)},
    {"user", NULL, offsetof(eddy_config, user)},
    {"group", NULL, offsetof(eddy_config, group)},
    {"max_connections_per_ip", set_max_connections_per_ip, 0},
    {NULL, NULL, 0},
};
static const char *const global_names[] = {
    "workers",  "max_connections", "pool_threads", "log_level", "plugin_dir", "shutdown_timeout",
    "log_file", "pidfile",         "user",         "group",     "listen",
    "max_connections_per_ip",      NULL};

static const directive_def listener_directives[] = {
    {"handler", NULL, offsetof(eddy__cfg_listener, handler)},
    {"dispatch", set_dispatch, 0},
    {"high_water", set_high_water, 0},   {"low_water", set_low_water, 0},
    {"max_message", set_max_message, 0}, {"ipv6only", set_ipv6only, 0},
    {"mode", set_mode, 0},               {"max_amplification", set_max_amplification, 0},
    {"idle_timeout", set_idle_timeout, 0}, {"first_byte_timeout", set_first_byte_timeout, 0},
    {"proxy_protocol", set_proxy_protocol, 0},
    {"systemd_socket", set_systemd_socket, 0},
    {NULL, NULL, 0},
};
const char *const eddy__listener_directives[] = {
    "handler",           "dispatch",     "high_water",         "low_water", "max_message",
    "ipv6only",          "mode",         "max_amplification", "idle_timeout",
    "first_byte_timeout", "proxy_protocol", "systemd_socket", NULL};

int eddy__cfg_address(const char *transport, const char *address, char *out, size_t len)
{
    int n = strcmp(transport, "tcp") == 0 ? snprintf(out, len, "%s", address)
                                           : snprintf(out, len, "%s:%s", transport, address);
    eddy__transport t;
    struct sockaddr_storage ss;
    socklen_t sl;
    eddy__transport want = strcmp(transport, "udp") == 0    ? EDDY__UDP
                           : strcmp(transport, "unix") == 0 ? EDDY__UNIX
                                                            : EDDY__TCP;
    if (n < 0 || (size_t)n >= len || eddy__parse_listen(out, &t, &ss, &sl) < 0 || t != want)
        return -EINVAL; /* also "listen tcp udp:..." */
    return 0;
}

/* Two listen blocks on one socket address, however each is spelt
 * (127.0.0.1:1 and 127.0.0.1:01, [::1]:1 and [0::1]:1). */
static int same_address(const eddy__cfg_listener *l, const char *transport, const char *address)
{
    char a[200], b[200];
    eddy__transport ta, tb;
    struct sockaddr_storage sa, sb;
    socklen_t la, lb;
    if (eddy__cfg_address(l->transport, l->address, a, sizeof(a)) < 0 ||
        eddy__cfg_address(transport, address, b, sizeof(b)) < 0 ||
        eddy__parse_listen(a, &ta, &sa, &la) < 0 || eddy__parse_listen(b, &tb, &sb, &lb) < 0)
        return 0;
    return ta == tb && la == lb && memcmp(&sa, &sb, la) == 0 && !eddy__listener_any_port(&sa);
}

_Static_assert(sizeof(global_directives) / sizeof(global_directives[0]) <=
                   sizeof(((eddy_config *)0)->seen) / sizeof(int),
               "eddy_config.seen has a slot per global directive");
_Static_assert(sizeof(listener_directives) / sizeof(listener_directives[0]) <=
                   sizeof(((eddy__cfg_listener *)0)->seen) / sizeof(int),
               "eddy__cfg_listener.seen has a slot per listener directive");

/* Set directive d to v, in the listener l or (l == NULL) in the globals. */
static int set_value(const directive_def *d, eddy_config *c, eddy__cfg_listener *l, const char *v,
                     char *why, size_t n)
{
    if (d->set)
        return d->set(c, l, v, why, n);
    char *base = l ? (char *)l : (char *)c;
    return set_string((char **)(base + d->offset), v, why, n);
}

static int find_directive(const directive_def *table, const char *name)
{
    for (int i = 0; table[i].name; i++)
        if (strcmp(table[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- the lexer ------------------------------------------------------ */

enum token_type { T_WORD, T_OPEN, T_CLOSE, T_END, T_EOF };

typedef struct parser {
    const char *name;
    const char *p, *end;
    int line;
    char *err;
    size_t errlen;
} parser;

static int fail(parser *P, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(parser *P, int line, const char *fmt, ...)
{
    int k = line > 0 ? snprintf(P->err, P->errlen, "%s:%d: ", P->name, line)
                     : snprintf(P->err, P->errlen, "%s: ", P->name);
    if (k < 0 || (size_t)k >= P->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->err + k, P->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* A quoted string starting at P->p (the opening quote) into a new string. */
static int lex_quoted(parser *P, char **out)
{
    int open_line = P->line;
    size_t cap = 32, len = 0;
    char *s = malloc(cap);
    if (!s)
        return fail(P, open_line, "out of memory");
    P->p++;
    for (;;) {
        if (P->p >= P->end || *P->p == '\n') {
            free(s);
            return fail(P, open_line, "unterminated string (a string ends on its own line)");
        }
        int ch = (unsigned char)*P->p++;
        if (ch == '"')
            break;
        if (ch == '\\') {
            int e = P->p < P->end ? (unsigned char)*P->p++ : 0;
            switch (e) {
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case '\\': ch = '\\'; break;
            case '"': ch = '"'; break;
            case 'x': {
                int hi = P->p < P->end ? hexval((unsigned char)P->p[0]) : -1;
                int lo = P->p + 1 < P->end ? hexval((unsigned char)P->p[1]) : -1;
                if (hi < 0 || lo < 0) {
                    free(s);
                    return fail(P, P->line, "\\x needs two hex digits");
                }
                P->p += 2;
                ch = hi * 16 + lo;
                break;
            }
            default:
                free(s);
                if (e >= 0x21 && e < 0x7f)
                    return fail(P, P->line, "unknown escape '\\%c' (use \\\\ \\\" \\n \\r \\t \\xHH)", e);
                return fail(P, P->line, "unknown escape (use \\\\ \\\" \\n \\r \\t \\xHH)");
            }
        }
        if (ch == 0) {
            free(s);
            return fail(P, P->line, "NUL byte in a string");
        }
        if (len + 2 > cap) {
            char *t = realloc(s, cap *= 2);
            if (!t) {
                free(s);
                return fail(P, P->line, "out of memory");
            }
            s = t;
        }
        s[len++] = (char)ch;
    }
    s[len] = '\0';
    *out = s;
    return 0;
}

static int is_word_byte(int ch)
{
    return ch > 0x20 && ch != 0x7f && ch != '{' && ch != '}' && ch != ';' && ch != '"';
}

/* The next token.  A word's text is a new string in *text. */
static int lex(parser *P, int *type, int *line, char **text)
{
    *type = T_EOF;
    *line = P->line;
    *text = NULL;
    for (;;) {
        while (P->p < P->end && (*P->p == ' ' || *P->p == '\t' || *P->p == '\r'))
            P->p++;
        if (P->p < P->end && *P->p == '#')
            while (P->p < P->end && *P->p != '\n')
                P->p++;
        else
            break;
    }
    *line = P->line;
    *text = NULL;
    if (P->p >= P->end)
        return *type = T_EOF, 0;
    int ch = (unsigned char)*P->p;
    switch (ch) {
    case '\n':
        P->p++;
        P->line++;
        return *type = T_END, 0;
    case ';':
        P->p++;
        return *type = T_END, 0;
    case '{':
        P->p++;
        return *type = T_OPEN, 0;
    case '}':
        P->p++;
        return *type = T_CLOSE, 0;
    case '"':
        *type = T_WORD;
        return lex_quoted(P, text);
    }
    if (!is_word_byte(ch))
        return fail(P, P->line, "unexpected byte 0x%02x", ch);
    const char *start = P->p;
    while (P->p < P->end && is_word_byte((unsigned char)*P->p))
        P->p++;
    *text = strndup(start, (size_t)(P->p - start));
    if (!*text)
        return fail(P, P->line, "out of memory");
    return *type = T_WORD, 0;
}

/* ---- the parser ----------------------------------------------------- */

typedef struct statement {
    char *args[MAX_ARGS];
    int nargs;
    int line;       /* of the first word */
    int terminator; /* T_END, T_OPEN, T_CLOSE or T_EOF */
} statement;

static void statement_free(statement *st)
{
    for (int i = 0; i < st->nargs; i++)
        free(st->args[i]);
    st->nargs = 0;
}

static int read_statement(parser *P, statement *st)
{
    st->nargs = 0;
    st->line = P->line;
    for (;;) {
        int type = T_EOF, line = P->line;
        char *text = NULL;
        if (lex(P, &type, &line, &text) < 0)
            return -1;
        if (type != T_WORD) {
            st->terminator = type;
            return 0;
        }
        if (st->nargs == 0)
            st->line = line;
        if (st->nargs == MAX_ARGS) {
            free(text);
            return fail(P, line, "too many values for '%s'", st->args[0]);
        }
        st->args[st->nargs++] = text;
    }
}

static int apply_directive(parser *P, const directive_def *d, eddy_config *c, eddy__cfg_listener *l,
                           int *seen, const statement *st)
{
    if (st->nargs != 2)
        return fail(P, st->line, "'%s' takes one value, got %d", d->name, st->nargs - 1);
    if (*seen)
        return fail(P, st->line, "'%s' given twice (first at line %d)", d->name, *seen);
    char why[200];
    if (set_value(d, c, l, st->args[1], why, sizeof(why)) < 0)
        return fail(P, st->line, "%s: %s", d->name, why);
    *seen = st->line;
    return 0;
}

static int open_listener(parser *P, eddy_config *c, const statement *st)
{
    if (st->nargs != 3)
        return fail(P, st->line, "'listen' takes a transport and an address, e.g. "
                                 "'listen tcp 127.0.0.1:7777 {'");
    const char *transport = st->args[1];
    if (strcmp(transport, "tcp") != 0 && strcmp(transport, "udp") != 0 &&
        strcmp(transport, "unix") != 0)
        return fail(P, st->line, "transport '%s' is not supported (tcp, udp or unix)", transport);
    char full[200];
    if (eddy__cfg_address(transport, st->args[2], full, sizeof(full)) < 0)
        return fail(P, st->line, "listen: '%s' is not a %s address (%s)", st->args[2], transport,
                    strcmp(transport, "unix") == 0
                        ? "a socket path of at most 107 bytes"
                        : "IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:7777");
    for (size_t i = 0; i < c->nlisteners; i++)
        if (same_address(&c->listeners[i], transport, st->args[2]))
            return fail(P, st->line, "listen %s %s given twice (first at line %d)", transport,
                        st->args[2], c->listeners[i].line);
    if (st->terminator != T_OPEN)
        return fail(P, st->line, "'listen' needs a block: 'listen %s %s {'", st->args[1],
                    st->args[2]);
    eddy__cfg_listener *ls = realloc(c->listeners, (c->nlisteners + 1) * sizeof(*ls));
    if (!ls)
        return fail(P, st->line, "out of memory");
    c->listeners = ls;
    eddy__cfg_listener *l = memset(&ls[c->nlisteners], 0, sizeof(*l));
    l->dispatch = -1;
    l->ipv6only = l->mode = l->max_amplification = l->proxy_protocol = -1;
    l->line = st->line;
    l->transport = strdup(st->args[1]);
    l->address = strdup(st->args[2]);
    c->nlisteners++;
    if (!l->transport || !l->address || eddy_params_new(&l->params) < 0)
        return fail(P, st->line, "out of memory");
    return 0;
}

/* The end of a listen block: what only the whole block can tell. */
static int close_listener(parser *P, eddy__cfg_listener *l)
{
    if (!l->handler)
        return fail(P, l->line, "listen block has no 'handler'");
    int high_line = l->seen[2], low_line = l->seen[3];
    size_t high = l->high_water ? l->high_water : DEFAULT_HIGH_WATER;
    if (low_line && l->low_water > high)
        return fail(P, low_line > high_line ? low_line : high_line,
                    "low_water (%zu) is above high_water (%zu)", l->low_water, high);
    return 0;
}

static int in_block(parser *P, eddy_config *c, eddy__cfg_listener *l, const statement *st)
{
    const char *name = st->args[0];
    if (strcmp(name, "listen") == 0)
        return fail(P, st->line, "listen blocks do not nest (missing '}' before this line?)");
    if (st->terminator == T_OPEN)
        return fail(P, st->line, "'%s' takes no block", name);
    if (find_directive(global_directives, name) >= 0)
        return fail(P, st->line, "'%s' is a global directive: move it out of the listen block",
                    name);
    int i = find_directive(listener_directives, name);
    if (i >= 0)
        return apply_directive(P, &listener_directives[i], c, l, &l->seen[i], st);
    if (st->nargs != 2)
        return fail(P, st->line, "'%s' takes one value, got %d", name, st->nargs - 1);
    int rc = eddy_params_add(l->params, name, st->args[1], st->line);
    if (rc == -EEXIST)
        return fail(P, st->line, "'%s' given twice in this listen block", name);
    return rc < 0 ? fail(P, st->line, "out of memory") : 0;
}

static int at_top(parser *P, eddy_config *c, const statement *st)
{
    const char *name = st->args[0];
    if (strcmp(name, "listen") == 0)
        return open_listener(P, c, st);
    int i = find_directive(global_directives, name);
    if (i < 0) {
        if (find_directive(listener_directives, name) >= 0)
            return fail(P, st->line, "'%s' belongs in a listen block", name);
        const char *hint = eddy__closest(name, global_names);
        if (hint)
            return fail(P, st->line, "unknown directive '%s' (did you mean '%s'?)", name, hint);
        return fail(P, st->line, "unknown directive '%s'", name);
    }
    if (st->terminator == T_OPEN)
        return fail(P, st->line, "'%s' takes no block", name);
    return apply_directive(P, &global_directives[i], c, NULL, &c->seen[i], st);
}

static int parse(parser *P, eddy_config *c)
{
    eddy__cfg_listener *cur = NULL;
    statement st = {.nargs = 0};
    for (;;) {
        if (read_statement(P, &st) < 0) {
            statement_free(&st);
            return -1;
        }
        int rc = 0;
        if (st.nargs > 0)
            rc = cur ? in_block(P, c, cur, &st) : at_top(P, c, &st);
        else if (st.terminator == T_OPEN)
            rc = fail(P, st.line, "'{' without a directive");
        if (rc == 0 && !cur && st.nargs > 0 && strcmp(st.args[0], "listen") == 0)
            cur = &c->listeners[c->nlisteners - 1];
        else if (rc == 0 && st.terminator == T_CLOSE) {
            if (!cur)
                rc = fail(P, st.line, "unexpected '}'");
            else if ((rc = close_listener(P, cur)) == 0)
                cur = NULL;
        }
        statement_free(&st);
        if (rc < 0)
            return -1;
        if (st.terminator == T_EOF) {
            if (cur)
                return fail(P, cur->line, "listen block is not closed (missing '}')");
            break;
        }
    }
    statement_free(&st);
    if (c->nlisteners == 0)
        return fail(P, 0, "no listen block: nothing to serve");
    return 0;
}

/* ---- the public face ------------------------------------------------ */

void eddy_config_free(eddy_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nlisteners; i++) {
        free(c->listeners[i].transport);
        free(c->listeners[i].address);
        free(c->listeners[i].handler);
        free(c->listeners[i].systemd_socket);
        eddy_params_free(c->listeners[i].params);
    }
    free(c->listeners);
    free(c->plugin_dir);
    free(c->log_file);
    free(c->pidfile);
    free(c->user);
    free(c->group);
    free(c->name);
    free(c);
}

int eddy_config_parse(eddy_config **out, const char *name, const char *text, size_t len, char *err,
                      size_t errlen)
{
    char scratch[1];
    int own = err && errlen > 0;
    parser P = {.name = name, .p = text, .end = text + len, .line = 1, .err = own ? err : scratch,
                .errlen = own ? errlen : sizeof(scratch)};
    P.err[0] = '\0';
    eddy_config *c = calloc(1, sizeof(*c));
    if (!c || !(c->name = strdup(name))) {
        free(c);
        fail(&P, 0, "out of memory");
        return -ENOMEM;
    }
    c->max_connections = 10000;
    c->pool_threads = 4;
    c->log_level = 2;
    c->shutdown_timeout = 10000;
    if (parse(&P, c) < 0) {
        eddy_config_free(c);
        return -EINVAL;
    }
    *out = c;
    return 0;
}

/* A relative path in *slot made relative to dir instead of the current
 * directory (which is / under systemd).  0, or -ENOMEM. */
static int rebase(char **slot, const char *dir)
{
    if (!*slot || **slot == '/')
        return 0;
    size_t n = strlen(dir) + strlen(*slot) + 2;
    char *p = malloc(n);
    if (!p)
        return -ENOMEM;
    snprintf(p, n, "%s/%s", dir, *slot);
    free(*slot);
    *slot = p;
    return 0;
}

/* The paths a config file names for eddy to load (a `handler` that is a
 * path, plugin_dir) resolved against the file's own directory, as nginx
 * resolves its includes: the meaning of a file does not depend on where
 * eddyd was started. */
static int rebase_paths(eddy_config *c, const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    char *slash = strrchr(copy, '/');
    const char *dir = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
    char *abs = realpath(dir, NULL);
    int rc = abs ? rebase(&c->plugin_dir, abs) : -errno;
    for (size_t i = 0; rc == 0 && i < c->nlisteners; i++)
        if (strchr(c->listeners[i].handler, '/'))
            rc = rebase(&c->listeners[i].handler, abs);
    free(abs);
    free(copy);
    return rc;
}

int eddy_config_load(eddy_config **out, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int rc = 0;
    if (fd < 0 || fstat(fd, &st) < 0)
        rc = -errno;
    else if (S_ISDIR(st.st_mode))
        rc = -EISDIR;
    else if (st.st_size > (off_t)EDDY__CONFIG_MAX_FILE)
        rc = -EFBIG;
    char *text = rc ? NULL : malloc((size_t)st.st_size + 1);
    size_t len = 0;
    if (!rc && !text)
        rc = -ENOMEM;
    while (!rc && len < (size_t)st.st_size) {
        ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n == 0)
            break;
        else if (n > 0)
            len += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    if (rc) {
        free(text);
        if (err)
            snprintf(err, errlen, "%s: %s", path,
                     rc == -EFBIG ? "larger than 1 MiB" : eddy_strerror(rc));
        return rc;
    }
    rc = eddy_config_parse(out, path, text, len, err, errlen);
    free(text);
    if (rc == 0 && (rc = rebase_paths(*out, path)) < 0) {
        if (err)
            snprintf(err, errlen, "%s: %s", path, eddy_strerror(rc));
        eddy_config_free(*out);
        *out = NULL;
    }
    return rc;
}

const char *eddy_config_string(const eddy_config *c, const char *directive)
{
    if (strcmp(directive, "pidfile") == 0)
        return c->pidfile;
    if (strcmp(directive, "user") == 0)
        return c->user;
    if (strcmp(directive, "group") == 0)
        return c->group;
    if (strcmp(directive, "log_file") == 0)
        return c->log_file;
    if (strcmp(directive, "plugin_dir") == 0)
        return c->plugin_dir;
    return NULL;
}

/* The directory that will hold file `path` exists and this process may
 * create files in it.  0, or fills why. */
static int check_dir_of(const char *path, char *why, size_t n)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    int len = !slash ? 1 : slash == path ? 1 : (int)(slash - path);
    const char *name = slash ? path : "."; /* the directory is name's first len bytes */
    struct stat st;
    if ((size_t)len >= sizeof(dir)) {
        snprintf(why, n, "the path is too long");
        return -1;
    }
    memcpy(dir, name, (size_t)len);
    dir[len] = '\0';
    int err = stat(dir, &st) < 0 ? errno : 0;
    if (err == ENOENT)
        snprintf(why, n, "directory %.*s does not exist", len, name);
    else if (err)
        snprintf(why, n, "directory %.*s: %s", len, name, eddy_strerror(-err));
    else if (!S_ISDIR(st.st_mode))
        snprintf(why, n, "%.*s is not a directory", len, name);
    else if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
        snprintf(why, n, "directory %.*s is not writable by uid %d: %s", len, name, (int)geteuid(),
                 eddy_strerror(-errno));
    else
        return 0;
    return -1;
}

/* The line of global directive name, 0 when the file does not say it. */
static int global_line(const eddy_config *c, const char *name)
{
    return c->seen[find_directive(global_directives, name)];
}

int eddy_config_check(const eddy_config *c, char *err, size_t errlen)
{
    char why[600] = "", dir_why[300], scratch[1];
    int line = 0, bad = 1;
    if (!err || errlen == 0)
        err = scratch, errlen = sizeof(scratch);
    if (c->user && !getpwnam(c->user))
        line = global_line(c, "user"), snprintf(why, sizeof(why), "user: '%s' does not exist", c->user);
    else if (c->group && !getgrnam(c->group))
        line = global_line(c, "group"),
        snprintf(why, sizeof(why), "group: '%s' does not exist", c->group);
    else if (c->pidfile && check_dir_of(c->pidfile, dir_why, sizeof(dir_why)) < 0)
        line = global_line(c, "pidfile"),
        snprintf(why, sizeof(why), "pidfile %s: %s", c->pidfile, dir_why);
    else
        bad = 0;
    for (size_t i = 0; !bad && i < c->nlisteners; i++) {
        const eddy__cfg_listener *l = &c->listeners[i];
        struct stat st;
        line = l->line;
        if (strcmp(l->transport, "unix") != 0)
            continue;
        if (lstat(l->address, &st) == 0 && !S_ISSOCK(st.st_mode))
            bad = 1, snprintf(why, sizeof(why), "listen unix %s: the file exists and is not a socket",
                              l->address);
        else if (check_dir_of(l->address, dir_why, sizeof(dir_why)) < 0)
            bad = 1, snprintf(why, sizeof(why), "listen unix %s: %s", l->address, dir_why);
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (!bad && cpus > 0 && c->workers > cpus)
        line = global_line(c, "workers"),
        snprintf(why, sizeof(why), "workers %d is more than the %ld online CPUs: the extra "
                                   "threads only take turns (0 = one per CPU)",
                 c->workers, cpus);
    else if (!bad)
        return err[0] = '\0', 0;
    if (line > 0)
        snprintf(err, errlen, "%s:%d: %s", c->name, line, why);
    else
        snprintf(err, errlen, "%s: %s", c->name, why);
    return bad ? -EINVAL : 1;
}

int eddy_config_listener(const eddy_config *c, int index, const char **transport,
                         const char **address, const char **handler)
{
    if (index < 0 || (size_t)index >= c->nlisteners)
        return -ENOENT;
    const eddy__cfg_listener *l = &c->listeners[index];
    if (transport)
        *transport = l->transport;
    if (address)
        *address = l->address;
    if (handler)
        *handler = l->handler;
    return 0;
}

int eddy_config_override(eddy_config *c, const char *directive, const char *value, char *err,
                         size_t errlen)
{
    char why[200] = "";
    int rc = 0;
    int i = find_directive(global_directives, directive);
    eddy__cfg_listener *l = c->nlisteners ? &c->listeners[0] : NULL;
    if (i >= 0) {
        rc = set_value(&global_directives[i], c, NULL, value, why, sizeof(why));
    } else if (!l) {
        snprintf(why, sizeof(why), "there is no listener to apply it to");
        rc = -1;
    } else if (strcmp(directive, "listen") == 0) {
        char full[200];
        if (eddy__cfg_address(l->transport, value, full, sizeof(full)) < 0) {
            snprintf(why, sizeof(why), "'%s' is not an address (expected IPv4:PORT or "
                                       "[IPv6]:PORT, e.g. 127.0.0.1:7777)", value);
            rc = -1;
        } else {
            rc = set_string(&l->address, value, why, sizeof(why));
        }
    } else if ((i = find_directive(listener_directives, directive)) >= 0) {
        rc = set_value(&listener_directives[i], c, l, value, why, sizeof(why));
    } else {
        rc = eddy__params_set(l->params, directive, value, 0);
        if (rc < 0)
            snprintf(why, sizeof(why), "%s", eddy_strerror(rc));
    }
    if (rc < 0 && err)
        snprintf(err, errlen, "%s", why);
    return rc < 0 ? -EINVAL : 0;
}
