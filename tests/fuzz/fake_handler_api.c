/* tests/fuzz/fake_handler_api.c - the stand-ins for the core's calls and
 * the one-connection driver (see fake_handler_api.h). */
#include "fake_handler_api.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/eddy.h"

struct eddy_conn {
    void *state;
    void *data;
    int closed;
    char *out; /* everything sent */
    size_t out_len, out_cap;
};

/* Keep n bytes the handler sent; what must hold of every send is checked
 * here. */
static void got_output(eddy_conn *c, const void *p, size_t n)
{
    if (c->closed)
        abort(); /* nothing may be sent after eddy_close() */
    if (n == 0)
        abort(); /* no empty sends */
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        if (cap > ((size_t)256 << 20))
            abort();
        c->out = realloc(c->out, cap);
        if (!c->out)
            abort();
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

int eddy_send(eddy_conn *c, const void *buf, size_t len)
{
    got_output(c, buf, len);
    return 0;
}

int eddy_sendv(eddy_conn *c, const struct iovec *iov, int iovcnt)
{
    if (iovcnt <= 0 || iovcnt > 1024)
        abort();
    for (int i = 0; i < iovcnt; i++)
        got_output(c, iov[i].iov_base, iov[i].iov_len);
    return 0;
}

void eddy_close(eddy_conn *c)
{
    c->closed = 1;
}

void eddy_log(int level, const char *fmt, ...)
{
    (void)level, (void)fmt;
}

void eddy_conn_peer(const eddy_conn *c, char *buf, size_t len)
{
    (void)c;
    snprintf(buf, len, "fuzz");
}

void *eddy_conn_state(const eddy_conn *c)
{
    return c->state;
}

void *eddy_conn_data(const eddy_conn *c)
{
    return c->data;
}

void eddy_conn_set_data(eddy_conn *c, void *data)
{
    c->data = data;
}

static const fake_param *find(const eddy_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, name) == 0)
            return &p->v[i];
    return NULL;
}

const char *eddy_params_str(const eddy_params *p, const char *name, const char *def)
{
    const fake_param *v = find(p, name);
    return v && v->text ? v->text : def;
}

int eddy_params_size(eddy_params *p, const char *name, size_t def, size_t *out)
{
    const fake_param *v = find(p, name);
    *out = v ? v->size : def;
    return 0;
}

int eddy_params_reject(eddy_params *p, const char *name, const char *fmt, ...)
{
    (void)p, (void)name, (void)fmt;
    abort(); /* the stand-in parameters are all valid */
}

char *fake_run(const eddy_handler *h, eddy_params *params, const char *in, size_t len,
               unsigned cut, size_t max_left, size_t *out_len)
{
    void *state = NULL;
    if (h->init(&state, params) != 0)
        abort();
    eddy_conn c = {.state = state};
    if (h->open && h->open(&c) < 0)
        abort();

    /* reads of 1 + (cut-derived) bytes, like the core: pending + new */
    char *pending = NULL;
    size_t plen = 0, pos = 0, step = 1 + (cut & 0x3f) * ((cut >> 6) + 1);
    while (pos < len && !c.closed) {
        size_t n = len - pos < step ? len - pos : step;
        char *b = malloc(plen + n); /* exact size: ASan sees any read past it */
        if (!b)
            abort();
        if (plen)
            memcpy(b, pending, plen);
        memcpy(b + plen, in + pos, n);
        pos += n;
        free(pending);
        size_t total = plen + n;
        size_t used = h->data(&c, b, total);
        if (used > total)
            abort();
        plen = total - used;
        if (!c.closed && plen >= max_left)
            abort();
        pending = malloc(plen ? plen : 1);
        if (!pending)
            abort();
        memcpy(pending, b + used, plen);
        free(b);
        step = 1 + ((step * 31 + cut) % 97);
    }
    free(pending);
    if (h->close)
        h->close(&c);
    h->fini(state);
    *out_len = c.out_len;
    return c.out;
}
