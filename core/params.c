/* core/params.c - listener parameters and their typed getters (see
 * eddy/handler.h).  A getter that meets a bad value records the error with
 * the parameter's line, so a plugin author writes one call per parameter
 * and the operator still gets "file:line: what is wrong".  Parameters are
 * kept as given, statement by statement (a list's values may span lines);
 * eddy__params_check holds them to the handler's table. */
#include "params.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eddy/eddy.h"

int eddy_params_new(eddy_params **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

/* Free one statement's strings. */
static void statement_free(eddy__param *it)
{
    free(it->name);
    for (size_t k = 0; k < it->nvalues; k++)
        free(it->values[k]);
    free(it->values);
}

void eddy_params_free(eddy_params *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        statement_free(&p->items[i]);
    free(p->items);
    free(p);
}

/* The first statement of name, or NULL. */
static const eddy__param *find(const eddy_params *p, const char *name)
{
    for (size_t i = 0; p && name && i < p->n; i++)
        if (strcmp(p->items[i].name, name) == 0)
            return &p->items[i];
    return NULL;
}

/* The statement holding value i of name (as eddy_params_value counts),
 * with *k its index there; NULL past the last value. */
static const eddy__param *find_value(const eddy_params *p, const char *name, size_t i, size_t *k)
{
    for (size_t j = 0; p && name && j < p->n; j++) {
        const eddy__param *it = &p->items[j];
        if (strcmp(it->name, name) != 0)
            continue;
        if (i < it->nvalues)
            return *k = i, it;
        i -= it->nvalues;
    }
    return NULL;
}

int eddy__params_add_line(eddy_params *p, const char *name, const char *const *values, size_t n,
                          int line)
{
    if (!p || !name || (n && !values))
        return -EINVAL;
    for (size_t k = 0; k < n; k++)
        if (!values[k])
            return -EINVAL;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        eddy__param *items = realloc(p->items, cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        p->items = items;
        p->cap = cap;
    }
    eddy__param *it = &p->items[p->n];
    /* room for one value at least, for eddy__params_set */
    *it = (eddy__param){.name = strdup(name), .values = calloc(n ? n : 1, sizeof(char *)),
                        .line = line};
    int ok = it->name && it->values;
    for (size_t k = 0; ok && k < n; k++)
        ok = (it->values[k] = strdup(values[k])) != NULL;
    it->nvalues = it->values ? n : 0; /* the rest of a failed copy is NULL */
    if (!ok) {
        statement_free(it);
        return -ENOMEM;
    }
    p->n++;
    return 0;
}

int eddy_params_add(eddy_params *p, const char *name, const char *value, int line)
{
    if (!value)
        return -EINVAL;
    return eddy__params_add_line(p, name, &value, 1, line);
}

int eddy__params_set(eddy_params *p, const char *name, const char *value, int line)
{
    eddy__param *it = (eddy__param *)find(p, name);
    if (!it)
        return eddy_params_add(p, name, value, line);
    char *copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    for (size_t k = 0; k < it->nvalues; k++)
        free(it->values[k]);
    it->values[0] = copy;
    it->nvalues = 1;
    it->line = line;
    size_t kept = (size_t)(it - p->items) + 1;
    for (size_t j = kept; j < p->n; j++) {
        if (strcmp(p->items[j].name, name) == 0)
            statement_free(&p->items[j]);
        else
            p->items[kept++] = p->items[j];
    }
    p->n = kept;
    return 0;
}

size_t eddy_params_count(const eddy_params *p, const char *name)
{
    size_t n = 0;
    for (size_t j = 0; p && name && j < p->n; j++)
        if (strcmp(p->items[j].name, name) == 0)
            n += p->items[j].nvalues;
    return n;
}

const char *eddy_params_value(const eddy_params *p, const char *name, size_t i)
{
    size_t k;
    const eddy__param *it = find_value(p, name, i, &k);
    return it ? it->values[k] : NULL;
}

/* Record the first error: "NAME: why" (or just why, for a NULL name),
 * against line. */
static int record(eddy_params *p, int line, const char *name, const char *fmt, va_list ap)
{
    if (!p || p->error[0]) /* keep the first error: it is the cause */
        return -EINVAL;
    p->error_line = line;
    int n = 0;
    if (name)
        n = snprintf(p->error, sizeof(p->error), "%s: ", name);
    vsnprintf(p->error + n, sizeof(p->error) - (size_t)n, fmt, ap);
    return -EINVAL;
}

int eddy_params_reject(eddy_params *p, const char *name, const char *fmt, ...)
{
    const eddy__param *it = name ? find(p, name) : NULL;
    va_list ap;
    va_start(ap, fmt);
    int rc = record(p, it ? it->line : 0, name, fmt, ap);
    va_end(ap);
    return rc;
}

int eddy_params_reject_value(eddy_params *p, const char *name, size_t i, const char *fmt, ...)
{
    size_t k;
    const eddy__param *it = find_value(p, name, i, &k);
    if (!it)
        it = find(p, name);
    va_list ap;
    va_start(ap, fmt);
    int rc = record(p, it ? it->line : 0, name, fmt, ap);
    va_end(ap);
    return rc;
}

/* A statement's own error, at its line, without the "NAME: " lead (the
 * message names it). */
static int reject_statement(eddy_params *p, const eddy__param *it, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reject_statement(eddy_params *p, const eddy__param *it, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = record(p, it->line, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *eddy__closest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_d = 3, len = strlen(word);
    for (const char *const *c = candidates; c && *c; c++) {
        size_t d = edit_distance(word, *c);
        if (d < best_d && 2 * d <= len) {
            best = *c;
            best_d = d;
        }
    }
    return best;
}

static const eddy_param *spec(const char *name, const eddy_param *list)
{
    for (const eddy_param *k = list; k && k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* The closest of the handler's parameter names (the first 64). */
static const char *closest_param(const char *word, const eddy_param *list)
{
    const char *names[65];
    size_t n = 0;
    for (const eddy_param *k = list; k && k->name && n < 64; k++)
        names[n++] = k->name;
    names[n] = NULL;
    return eddy__closest(word, names);
}

int eddy__params_check(eddy_params *p, const eddy_handler *h, const char *const *also)
{
    for (size_t i = 0; p && i < p->n; i++) {
        const eddy__param *it = &p->items[i];
        const eddy_param *k = spec(it->name, h->params);
        if (!k) {
            const char *hint = closest_param(it->name, h->params);
            if (!hint)
                hint = eddy__closest(it->name, also);
            if (hint)
                return eddy_params_reject(
                    p, it->name, "unknown parameter for handler '%s' (did you mean '%s'?)",
                    h->name, hint);
            return eddy_params_reject(p, it->name, "unknown parameter for handler '%s'", h->name);
        }
        if (k->flags & EDDY_PARAM_LIST) {
            if (it->nvalues == 0)
                return reject_statement(p, it, "'%s' takes one or more values", it->name);
            continue;
        }
        if (it->nvalues != 1)
            return reject_statement(p, it, "'%s' takes one value, got %zu", it->name, it->nvalues);
        if (find(p, it->name) != it)
            return reject_statement(p, it, "'%s' given twice in this listen block", it->name);
    }
    return 0;
}

const char *eddy_params_str(const eddy_params *p, const char *name, const char *def)
{
    const char *v = eddy_params_value(p, name, 0);
    return v ? v : def;
}

/* A decimal number with an optional unit suffix from units[]; the result
 * must fit in a long after scaling. */
struct unit {
    const char *suffix;
    long scale;
};

static int parse_scaled(const char *s, const struct unit *units, long *out)
{
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    long scale = 0;
    for (const struct unit *u = units; u->suffix; u++)
        if (strcasecmp(end, u->suffix) == 0) {
            scale = u->scale;
            break;
        }
    if (!scale || v > (unsigned long long)(LONG_MAX / scale))
        return -EINVAL;
    *out = (long)v * scale;
    return 0;
}

int eddy__parse_size(const char *s, size_t *out)
{
    static const struct unit units[] = {
        {"", 1}, {"k", 1L << 10}, {"m", 1L << 20}, {"g", 1L << 30}, {NULL, 0}};
    long v;
    int rc = parse_scaled(s, units, &v);
    if (rc == 0)
        *out = (size_t)v;
    return rc;
}

int eddy__parse_msec(const char *s, long *out)
{
    static const struct unit units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {NULL, 0}};
    static const struct unit bare[] = {{"", 1}, {NULL, 0}};
    long v;
    if (parse_scaled(s, bare, &v) == 0) {
        if (v != 0)
            return -EDOM;
        return *out = 0, 0;
    }
    return parse_scaled(s, units, out);
}

int eddy__parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -EINVAL;
}

int eddy_params_size(eddy_params *p, const char *name, size_t def, size_t *out)
{
    const char *v = eddy_params_str(p, name, NULL);
    if (!v)
        return *out = def, 0;
    if (eddy__parse_size(v, out) < 0)
        return eddy_params_reject(p, name, "'%s' is not a size (e.g. 512, 64k, 1m)", v);
    return 0;
}

int eddy_params_bool(eddy_params *p, const char *name, int def, int *out)
{
    const char *v = eddy_params_str(p, name, NULL);
    if (!v)
        return *out = def, 0;
    if (eddy__parse_bool(v, out) < 0)
        return eddy_params_reject(p, name, "'%s' is not on or off", v);
    return 0;
}

int eddy_params_msec(eddy_params *p, const char *name, long def, long *out)
{
    const char *v = eddy_params_str(p, name, NULL);
    if (!v)
        return *out = def, 0;
    int rc = eddy__parse_msec(v, out);
    if (rc == -EDOM)
        return eddy_params_reject(p, name, "add a unit: %ss or %sms", v, v);
    if (rc < 0)
        return eddy_params_reject(p, name, "'%s' is not a duration (e.g. 500ms, 30s)", v);
    return 0;
}
