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

enum { MAX_ARGS = 65 }; /* a directive and 64 values: a handler's list on one line */
#define LOW_WATER_CAP ((size_t)256 << 10) /* the derived low_water's ceiling */

/* ---- directives ---------------------------------------------------- */

enum value_type {
    V_NUMBER, V_SIZE, V_DURATION, V_BOOL, V_ENUM, V_OCTAL, V_STRING, V_FDNAME, V_WORDS
};
#define IS_STRING(t) ((t) == V_STRING || (t) == V_FDNAME || (t) == V_WORDS)

/* A row of config.h's tables: where the value lives (offset into the
 * config or the listener) and how to read and write it. */
typedef struct directive_def {
    const char *name;
    enum value_type type;
    long min, max, def;
    const char *const *words; /* an ENUM's, NULL-ended */
    const char *unset, *help;
    size_t offset;
} directive_def;

#define WORDS_OF(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ROW(S, name, type, min, max, def, words, unset, help)                                      \
    {#name, V_##type, min, max, def, WORDS_OF words, unset, help, offsetof(S, name)},
#define GLOBAL_ROW(...) ROW(eddy_config, __VA_ARGS__)
#define LISTENER_ROW(...) ROW(eddy__cfg_listener, __VA_ARGS__)

static const directive_def global_directives[] = {EDDY__GLOBAL_DIRECTIVES(GLOBAL_ROW){0}};
static const directive_def listener_directives[] = {EDDY__LISTENER_DIRECTIVES(LISTENER_ROW){0}};

/* Each field has the C type its directive's type needs. */
#define FIELD_CHECK(S, name, type, ...)                                                            \
    _Static_assert(_Generic(((S *)0)->name, char *: IS_STRING(V_##type),                           \
                            long: !IS_STRING(V_##type), default: 0),                               \
                   #S "." #name ": char * for a string, long for any other value");
#define GLOBAL_CHECK(...) FIELD_CHECK(eddy_config, __VA_ARGS__)
#define LISTENER_CHECK(...) FIELD_CHECK(eddy__cfg_listener, __VA_ARGS__)
EDDY__GLOBAL_DIRECTIVES(GLOBAL_CHECK)
EDDY__LISTENER_DIRECTIVES(LISTENER_CHECK)

#define NAME_OF(name, ...) #name,
static const char *const global_names[] = {EDDY__GLOBAL_DIRECTIVES(NAME_OF) "listen", NULL};
const char *const eddy__listener_directives[] = {EDDY__LISTENER_DIRECTIVES(NAME_OF) NULL};

/* Where directive d's value lives in base (the config or a listener). */
static long *number_at(const directive_def *d, const void *base)
{
    return (long *)((char *)base + d->offset);
}

static char **string_at(const directive_def *d, const void *base)
{
    return (char **)((char *)base + d->offset);
}

/* Every directive of table at its default in base. */
static void set_defaults(const directive_def *table, void *base)
{
    for (const directive_def *d = table; d->name; d++)
        if (!IS_STRING(d->type))
            *number_at(d, base) = d->def;
}

size_t eddy__low_water(size_t high)
{
    return high / 4 < LOW_WATER_CAP ? high / 4 : LOW_WATER_CAP;
}

long eddy__default_max_output(long high)
{
    long margin = EDDY__DEFAULT(max_output) - EDDY__DEFAULT(high_water);
    long cap = 1L << 30;
    if (high <= EDDY__DEFAULT(high_water))
        return EDDY__DEFAULT(max_output);
    return high > cap - margin ? cap : high + margin;
}

/* x written as the file would say it: sizes and durations in their
 * largest exact unit, so that reading it back gives x. */
static void format_value(const directive_def *d, long x, char *out, size_t n)
{
    static const struct {
        const char *unit;
        long scale;
    } sizes[] = {{"g", 1L << 30}, {"m", 1L << 20}, {"k", 1L << 10}},
      durations[] = {{"h", 3600000L}, {"m", 60000L}, {"s", 1000L}};
    const char *unit = "";
    if (d->type == V_SIZE || d->type == V_DURATION) {
        unit = d->type == V_DURATION && x ? "ms" : "";
        for (int i = 0; i < 3 && x; i++) {
            long scale = d->type == V_SIZE ? sizes[i].scale : durations[i].scale;
            if (x % scale == 0) {
                unit = d->type == V_SIZE ? sizes[i].unit : durations[i].unit;
                x /= scale;
                break;
            }
        }
    }
    if (d->type == V_BOOL)
        snprintf(out, n, "%s", x ? "on" : "off");
    else if (d->type == V_ENUM)
        snprintf(out, n, "%s", d->words[x]);
    else if (d->type == V_OCTAL)
        snprintf(out, n, "%04lo", (unsigned long)x);
    else
        snprintf(out, n, "%ld%s", x, unit);
}

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

/* A socket unit's FileDescriptorName=: 1 to 255 printable ASCII
 * characters, no ':' (LISTEN_FDNAMES separates names with it). */
static int fdname_ok(const char *v)
{
    size_t len = strlen(v);
    for (const char *p = v; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == ':')
            return 0;
    return len > 0 && len <= 255;
}

/* v read as d's type into *x, or why not. */
static int parse_value(const directive_def *d, const char *v, long *x, char *why, size_t n)
{
    char lo[32], hi[32];
    format_value(d, d->min, lo, sizeof(lo));
    format_value(d, d->max, hi, sizeof(hi));
    switch (d->type) {
    case V_NUMBER:
        return whole(v, d->min, d->max, x, why, n);
    case V_SIZE: {
        size_t s;
        if (eddy__parse_size(v, &s) == 0 && s >= (size_t)d->min && s <= (size_t)d->max)
            return *x = (long)s, 0;
        snprintf(why, n, "must be a size from %s to %s (e.g. 64k, 1m), not '%s'", lo, hi, v);
        return -1;
    }
    case V_DURATION: {
        int rc = eddy__parse_msec(v, x);
        if (rc == -EDOM)
            snprintf(why, n, "add a unit: %ss or %sms", v, v);
        else if (rc < 0 || *x < d->min || *x > d->max)
            snprintf(why, n, "must be a duration up to %s (e.g. 500ms, 30s, 0 = never), not '%s'",
                     hi, v);
        return rc < 0 || *x < d->min || *x > d->max ? -1 : 0;
    }
    case V_BOOL: {
        int on;
        if (eddy__parse_bool(v, &on) == 0)
            return *x = on, 0;
        snprintf(why, n, "must be on or off, not '%s'", v);
        return -1;
    }
    case V_ENUM: {
        int k = 0;
        for (; d->words[k]; k++)
            if (strcmp(v, d->words[k]) == 0)
                return *x = k, 0;
        int len = snprintf(why, n, "must be ");
        for (int i = 0; i < k && len >= 0 && (size_t)len < n; i++)
            len += snprintf(why + len, n - (size_t)len, "%s%s", d->words[i],
                            i + 2 < k ? ", " : i + 1 < k ? " or " : "");
        if (len >= 0 && (size_t)len < n)
            snprintf(why + len, n - (size_t)len, ", not '%s'", v);
        return -1;
    }
    case V_OCTAL: {
        char *end;
        errno = 0;
        *x = *v >= '0' && *v <= '7' ? strtol(v, &end, 8) : -1;
        if (*x >= d->min && !errno && !*end && *x <= d->max)
            return 0;
        format_value(d, d->def, lo, sizeof(lo));
        snprintf(why, n, "must be octal permission bits such as %s, not '%s'", lo, v);
        return -1;
    }
    default:
        snprintf(why, n, "not a number"); /* strings go through set_value */
        return -1;
    }
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

/* Set directive d to v in base (the config or a listener): the one
 * setter of every directive. */
static int set_value(const directive_def *d, void *base, const char *v, char *why, size_t n)
{
    if (d->type == V_FDNAME && !fdname_ok(v)) {
        snprintf(why, n, "must be a FileDescriptorName: 1 to 255 printable characters, no "
                         "spaces and no ':', not '%s'", v);
        return -1;
    }
    for (const char *w = v; d->type == V_WORDS && d->words[0] && *w;) {
        size_t len = strcspn(w, " ");
        int k = 0;
        while (d->words[k] && (strlen(d->words[k]) != len || strncmp(w, d->words[k], len)))
            k++;
        if (!d->words[k]) {
            snprintf(why, n, "'%.*s' is not %s or %s", (int)len, w, d->words[0], d->words[1]);
            return -1;
        }
        w += len + (w[len] == ' ');
    }
    if (IS_STRING(d->type))
        return set_string(string_at(d, base), v, why, n);
    long x;
    if (parse_value(d, v, &x, why, n) < 0)
        return -1;
    *number_at(d, base) = x;
    return 0;
}

static int find_directive(const directive_def *table, const char *name)
{
    for (int i = 0; table[i].name; i++)
        if (strcmp(table[i].name, name) == 0)
            return i;
    return -1;
}

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
    if (n < 0 || (size_t)n >= len || eddy__addr_parse(out, &t, &ss, &sl) < 0 || t != want)
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
        eddy__addr_parse(a, &ta, &sa, &la) < 0 || eddy__addr_parse(b, &tb, &sb, &lb) < 0)
        return 0;
    return ta == tb && la == lb && memcmp(&sa, &sb, la) == 0 && !eddy__addr_any_port(&sa);
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

static int apply_directive(parser *P, const directive_def *d, void *base, int *seen,
                           const statement *st)
{
    if (st->nargs != 2 && (d->type != V_WORDS || st->nargs < 2))
        return fail(P, st->line, "'%s' takes one value, got %d", d->name, st->nargs - 1);
    if (*seen)
        return fail(P, st->line, "'%s' given twice (first at line %d)", d->name, *seen);
    char why[200], words[MAX_ARGS * 256] = "";
    for (int i = 1; d->type == V_WORDS && i < st->nargs; i++) /* joined by spaces */
        snprintf(words + strlen(words), sizeof(words) - strlen(words), "%s%s", i > 1 ? " " : "",
                 st->args[i]);
    if (set_value(d, base, d->type == V_WORDS ? words : st->args[1], why, sizeof(why)) < 0)
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
    set_defaults(listener_directives, l);
    l->line = st->line;
    l->transport = strdup(st->args[1]);
    l->address = strdup(st->args[2]);
    c->nlisteners++;
    if (!l->transport || !l->address || eddy_params_new(&l->params) < 0)
        return fail(P, st->line, "out of memory");
    return 0;
}

/* ---- TLS ------------------------------------------------------------ */

/* tls_certificate and tls_certificate_key repeat, in pairs (one per
 * certificate: SNI, ECDSA beside RSA), each with its line: outside the
 * table of one-value directives. */
static int tls_pair_directive(parser *P, eddy__cfg_listener *l, const statement *st)
{
    int key = strcmp(st->args[0], "tls_certificate_key") == 0;
    eddy__tls_pair *last = l->ntls_pairs ? &l->tls_pairs[l->ntls_pairs - 1] : NULL;
    if (st->nargs != 2)
        return fail(P, st->line, "'%s' takes one value, got %d", st->args[0], st->nargs - 1);
    if (!*st->args[1])
        return fail(P, st->line, "%s: must not be empty", st->args[0]);
    if (key && (!last || last->key))
        return fail(P, st->line, "tls_certificate_key: each follows its tls_certificate");
    if (!key && last && !last->key)
        return fail(P, st->line, "tls_certificate at line %d has no tls_certificate_key yet",
                    last->cert_line);
    if (!key) {
        eddy__tls_pair *p = realloc(l->tls_pairs, (l->ntls_pairs + 1) * sizeof(*p));
        if (!p)
            return fail(P, st->line, "out of memory");
        l->tls_pairs = p;
        last = memset(&p[l->ntls_pairs++], 0, sizeof(*p));
    }
    char **slot = key ? &last->key : &last->cert;
    *(key ? &last->key_line : &last->cert_line) = st->line;
    if (!(*slot = strdup(st->args[1])))
        return fail(P, st->line, "out of memory");
    return 0;
}

/* The first line of l that asks for TLS, or 0. */
static int tls_line(const eddy__cfg_listener *l)
{
    int line = l->ntls_pairs ? l->tls_pairs[0].cert_line : 0;
    for (int i = EDDY__L_tls_protocols; i <= EDDY__L_tls_handshake_timeout; i++)
        if (l->seen[i] && (!line || l->seen[i] < line))
            line = l->seen[i];
    return line;
}

/* What only the whole block tells about its TLS. */
static int close_tls(parser *P, const eddy__cfg_listener *l)
{
    int line = tls_line(l);
    if (!line)
        return 0;
    if (strcmp(l->transport, "udp") == 0)
        return fail(P, line, "TLS does not apply to udp (DTLS is not supported)");
    if (l->proxy_protocol > 0)
        return fail(P, line, "proxy_protocol with TLS is not supported yet");
    if (!l->ntls_pairs)
        return fail(P, line, "TLS needs a certificate: tls_certificate and tls_certificate_key");
    const eddy__tls_pair *last = &l->tls_pairs[l->ntls_pairs - 1];
    if (!last->key)
        return fail(P, last->cert_line, "tls_certificate has no tls_certificate_key after it");
    if (l->tls_verify_client != EDDY__TLS_VERIFY_OFF && !l->tls_client_certificate)
        return fail(P, l->seen[EDDY__L_tls_verify_client],
                    "tls_verify_client needs tls_client_certificate (the CAs that client "
                    "certificates chain to)");
    return 0;
}

int eddy__cfg_tls(const eddy__cfg_listener *l, eddy__tls_settings *out)
{
    if (!l->ntls_pairs)
        return 0;
    *out = (eddy__tls_settings){
        .pairs = l->tls_pairs,
        .npairs = l->ntls_pairs,
        .protocols = l->tls_protocols ? l->tls_protocols : "TLSv1.2 TLSv1.3",
        .ciphers = l->tls_ciphers,
        .alpn = l->tls_alpn,
        .client_ca = l->tls_client_certificate,
        .verify_client = (int)l->tls_verify_client,
        .session_tickets = (int)l->tls_session_tickets,
        .handshake_timeout_ms = l->tls_handshake_timeout,
        .protocols_line = l->seen[EDDY__L_tls_protocols],
        .ciphers_line = l->seen[EDDY__L_tls_ciphers],
        .alpn_line = l->seen[EDDY__L_tls_alpn],
        .client_ca_line = l->seen[EDDY__L_tls_client_certificate],
    };
    return 1;
}

/* The end of a listen block: what only the whole block can tell. */
static int close_listener(parser *P, eddy__cfg_listener *l)
{
    if (!l->handler)
        return fail(P, l->line, "listen block has no 'handler'");
    if (close_tls(P, l) < 0)
        return -1;
    int high_line = l->seen[EDDY__L_high_water], low_line = l->seen[EDDY__L_low_water];
    if (low_line && l->low_water > l->high_water)
        return fail(P, low_line > high_line ? low_line : high_line,
                    "low_water (%ld) is above high_water (%ld)", l->low_water, l->high_water);
    int max_line = l->seen[EDDY__L_max_output];
    if (!max_line)
        l->max_output = eddy__default_max_output(l->high_water);
    else if (max_line && l->max_output < l->high_water)
        return fail(P, max_line > high_line ? max_line : high_line,
                    "max_output (%ld) is below high_water (%ld): the connection would be closed "
                    "before reading stops", l->max_output, l->high_water);
    return 0;
}

static int in_block(parser *P, eddy__cfg_listener *l, const statement *st)
{
    const char *name = st->args[0];
    if (strcmp(name, "listen") == 0)
        return fail(P, st->line, "listen blocks do not nest (missing '}' before this line?)");
    if (st->terminator == T_OPEN)
        return fail(P, st->line, "'%s' takes no block", name);
    if (find_directive(global_directives, name) >= 0)
        return fail(P, st->line, "'%s' is a global directive: move it out of the listen block",
                    name);
    if (strcmp(name, "tls_certificate") == 0 || strcmp(name, "tls_certificate_key") == 0)
        return tls_pair_directive(P, l, st);
    int i = find_directive(listener_directives, name);
    if (i >= 0)
        return apply_directive(P, &listener_directives[i], l, &l->seen[i], st);
    /* The handler's, with every value: how many it takes and whether it
     * may repeat is in its table, known once the block names it, so
     * eddy__params_check judges (at this line) when the listener is made. */
    int rc = eddy__params_add_line(l->params, name, (const char *const *)st->args + 1,
                                   (size_t)st->nargs - 1, st->line);
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
    return apply_directive(P, &global_directives[i], c, &c->seen[i], st);
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
            rc = cur ? in_block(P, cur, &st) : at_top(P, c, &st);
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

/* Free the string values of table's directives in base. */
static void free_strings(const directive_def *table, void *base)
{
    for (const directive_def *d = table; d->name; d++)
        if (IS_STRING(d->type))
            free(*string_at(d, base));
}

void eddy_config_free(eddy_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nlisteners; i++) {
        free(c->listeners[i].transport);
        free(c->listeners[i].address);
        free_strings(listener_directives, &c->listeners[i]);
        for (size_t k = 0; k < c->listeners[i].ntls_pairs; k++) {
            free(c->listeners[i].tls_pairs[k].cert);
            free(c->listeners[i].tls_pairs[k].key);
        }
        free(c->listeners[i].tls_pairs);
        eddy_params_free(c->listeners[i].params);
    }
    free(c->listeners);
    free_strings(global_directives, c);
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
    set_defaults(global_directives, c);
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
    for (size_t i = 0; rc == 0 && i < c->nlisteners; i++) {
        eddy__cfg_listener *l = &c->listeners[i];
        if (strchr(l->handler, '/'))
            rc = rebase(&l->handler, abs);
        for (size_t k = 0; rc == 0 && k < l->ntls_pairs; k++)
            if ((rc = rebase(&l->tls_pairs[k].cert, abs)) == 0)
                rc = rebase(&l->tls_pairs[k].key, abs);
        if (rc == 0)
            rc = rebase(&l->tls_client_certificate, abs);
    }
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
    /* Read to the end, not to st_size: a pipe (eddyd -T | eddyd -t -c
     * /dev/stdin) has none. */
    char *text = NULL;
    size_t len = 0, cap = 0;
    while (!rc && len <= EDDY__CONFIG_MAX_FILE) {
        if (len + 1 >= cap) { /* room for the bytes and a NUL */
            size_t want = cap ? 2 * cap : (size_t)st.st_size + 4096;
            char *t = realloc(text, want);
            if (!t) {
                rc = -ENOMEM;
                break;
            }
            text = t;
            cap = want;
        }
        ssize_t n = read(fd, text + len, cap - len - 1);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n == 0)
            break;
        else if (n > 0)
            len += (size_t)n;
    }
    if (!rc && len > EDDY__CONFIG_MAX_FILE)
        rc = -EFBIG;
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
    int i = find_directive(global_directives, directive);
    return i >= 0 && IS_STRING(global_directives[i].type) ? *string_at(&global_directives[i], c)
                                                           : NULL;
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

int eddy_config_check(const eddy_config *c, char *err, size_t errlen)
{
    char why[600] = "", dir_why[300], scratch[1];
    int line = 0, bad = 1;
    if (!err || errlen == 0)
        err = scratch, errlen = sizeof(scratch);
    if (c->user && !getpwnam(c->user))
        line = c->seen[EDDY__G_user], snprintf(why, sizeof(why), "user: '%s' does not exist", c->user);
    else if (c->group && !getgrnam(c->group))
        line = c->seen[EDDY__G_group],
        snprintf(why, sizeof(why), "group: '%s' does not exist", c->group);
    else if (c->pidfile && check_dir_of(c->pidfile, dir_why, sizeof(dir_why)) < 0)
        line = c->seen[EDDY__G_pidfile],
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
    /* Warnings: a certificate expired or about to, then too many workers. */
    eddy__tls_settings tls;
    for (size_t i = 0; !bad && i < c->nlisteners; i++)
        if (eddy__cfg_tls(&c->listeners[i], &tls) &&
            eddy__tls_check_expiry(&tls, c->name, err, errlen) > 0)
            return 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (!bad && cpus > 0 && c->workers > cpus)
        line = c->seen[EDDY__G_workers],
        snprintf(why, sizeof(why), "workers %ld is more than the %ld online CPUs: the extra "
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
        rc = set_value(&global_directives[i], c, value, why, sizeof(why));
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
        rc = set_value(&listener_directives[i], l, value, why, sizeof(why));
    } else {
        rc = eddy__params_set(l->params, directive, value, 0);
        if (rc < 0)
            snprintf(why, sizeof(why), "%s", eddy_strerror(rc));
    }
    if (rc < 0 && err)
        snprintf(err, errlen, "%s", why);
    return rc < 0 ? -EINVAL : 0;
}

/* ---- the effective configuration and the reference ------------------ */

/* s as one token of the file: a bare word when it reads back as itself,
 * else a quoted string with the lexer's escapes. */
static void put_token(FILE *f, const char *s)
{
    int bare = *s && *s != '#';
    for (const char *p = s; *p && bare; p++)
        bare = is_word_byte((unsigned char)*p);
    if (bare) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n' || *p == '\r' || *p == '\t')
            fprintf(f, "\\%c", *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* One line per directive of table, with its value in base; a directive
 * without one is a comment saying what its absence means. */
static void dump_table(FILE *f, const directive_def *table, const void *base, const char *indent)
{
    for (const directive_def *d = table; d->name; d++) {
        const char *s = IS_STRING(d->type) ? *string_at(d, base) : NULL;
        long x = IS_STRING(d->type) ? 0 : *number_at(d, base);
        if (d->unset && (IS_STRING(d->type) ? !s : x == d->def)) {
            fprintf(f, "%s# %s: not set (%s)\n", indent, d->name, d->unset);
            continue;
        }
        char v[64];
        if (!s)
            format_value(d, x, v, sizeof(v));
        fprintf(f, "%s%s ", indent, d->name);
        put_token(f, s ? s : v);
        fputc('\n', f);
    }
}

char *eddy_config_dump(const eddy_config *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fputs("# the effective configuration (eddyd -T): every directive, defaults included\n", f);
    dump_table(f, global_directives, c, "");
    for (size_t i = 0; i < c->nlisteners; i++) {
        eddy__cfg_listener l = c->listeners[i];
        if (!l.low_water)
            l.low_water = (long)eddy__low_water((size_t)l.high_water);
        fprintf(f, "\nlisten %s ", l.transport);
        put_token(f, l.address);
        fputs(" {\n", f);
        dump_table(f, listener_directives, &l, "    ");
        if (!l.ntls_pairs)
            fputs("    # tls_certificate: not set (none: plain TCP)\n"
                  "    # tls_certificate_key: not set (none)\n", f);
        for (size_t k = 0; k < l.ntls_pairs; k++) {
            fputs("    tls_certificate ", f);
            put_token(f, l.tls_pairs[k].cert);
            fputs("\n    tls_certificate_key ", f);
            put_token(f, l.tls_pairs[k].key);
            fputc('\n', f);
        }
        for (size_t k = 0; k < l.params->n; k++) { /* as given: a list keeps its lines */
            const eddy__param *it = &l.params->items[k];
            fputs("    ", f);
            put_token(f, it->name);
            for (size_t v = 0; v < it->nvalues; v++) {
                fputc(' ', f);
                put_token(f, it->values[v]);
            }
            fputc('\n', f);
        }
        fputs("}\n", f);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* The values a directive takes, for the reference. */
static void describe_values(const directive_def *d, char *out, size_t n)
{
    char lo[32], hi[32];
    format_value(d, d->min, lo, sizeof(lo));
    format_value(d, d->max, hi, sizeof(hi));
    int len = 0;
    switch (d->type) {
    case V_NUMBER: snprintf(out, n, "%s to %s", lo, hi); break;
    case V_SIZE: snprintf(out, n, "size, %s to %s", lo, hi); break;
    case V_DURATION: snprintf(out, n, "duration, up to %s", hi); break;
    case V_BOOL: snprintf(out, n, "on, off"); break;
    case V_OCTAL: snprintf(out, n, "octal, up to %s", hi); break;
    case V_STRING: snprintf(out, n, "string"); break;
    case V_FDNAME: snprintf(out, n, "name, no spaces or ':'"); break;
    case V_WORDS:
        if (!d->words[0])
            snprintf(out, n, "words");
        for (int i = 0; d->words[i] && len >= 0 && (size_t)len < n; i++)
            len += snprintf(out + len, n - (size_t)len, "%s%s", i ? ", " : "one or more of ",
                            d->words[i]);
        break;
    case V_ENUM:
        out[0] = '\0';
        for (int i = 0; d->words[i] && len >= 0 && (size_t)len < n; i++)
            len += snprintf(out + len, n - (size_t)len, "%s%s", i ? ", " : "", d->words[i]);
        break;
    }
}

static void reference_table(FILE *f, const directive_def *table)
{
    fputs("| directive | values | default | what it sets |\n| --- | --- | --- | --- |\n", f);
    for (const directive_def *d = table; d->name; d++) {
        char values[128], def[64];
        describe_values(d, values, sizeof(values));
        if (!d->unset)
            format_value(d, d->def, def, sizeof(def));
        fprintf(f, "| `%s` | %s | %s%s%s | %s |\n", d->name, values, d->unset ? "" : "`",
                d->unset ? d->unset : def, d->unset ? "" : "`", d->help);
    }
}

void eddy__config_reference(FILE *f)
{
    fputs("Global directives:\n\n", f);
    reference_table(f, global_directives);
    fputs("\nIn a `listen TRANSPORT ADDRESS { ... }` block (any other name there is a parameter "
          "of the block's handler):\n\n", f);
    reference_table(f, listener_directives);
    fputs("| `tls_certificate` | string, repeated | none: plain TCP | TLS: a certificate chain "
          "(PEM), its key named next; several serve by SNI (the first is the default), an "
          "ECDSA and an RSA one for the same names side by side |\n"
          "| `tls_certificate_key` | string, repeated | required with tls_certificate | TLS: "
          "the private key (PEM) of the tls_certificate before it |\n", f);
}
