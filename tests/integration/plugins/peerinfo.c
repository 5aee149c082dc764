/* peerinfo.so - the rest of handler ABI 3's table, one line command each
 * (test_handler_api.py):
 *
 *   addr    "peer ADDR local ADDR\n" from eddy_conn_peer_addr/local_addr
 *   reset   eddy_conn_reset(): the client sees a reset
 *   log X   eddy_conn_log(WARN, "said X"), then "logged\n"
 *   worker  "tag T worker W conns N ticks K\n" from the worker state that
 *           worker_init() made for this listener on this worker: its
 *           connections there now, and the ticks of a 10 ms worker timer
 *
 * worker_init and worker_fini write "peerinfo: worker_init|worker_fini T W"
 * on stderr (eddyd's), so that the test sees when each ran.  With the tag
 * "failN", worker_init fails on worker N: a worker that does not serve the
 * listener (integration.accept_spread). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "eddy/handler.h"

typedef struct wstate {
    const char *tag;
    int worker;
    int conns;
    unsigned long ticks;
    eddy_worker_timer *timer;
} wstate;

static int pi_init(void **state, eddy_params *params)
{
    const char *tag = eddy_params_str(params, "tag", "none");
    *state = strdup(tag);
    return *state ? 0 : -ENOMEM;
}

static void pi_fini(void *state)
{
    free(state);
}

static void tick(eddy_worker *w, void *arg)
{
    wstate *ws = arg;
    ws->ticks++;
    eddy_worker_timer_start(ws->timer, 10);
    (void)w;
}

static int pi_worker_init(void *state, int worker, void **out)
{
    const char *tag = state;
    if (strncmp(tag, "fail", 4) == 0 && atoi(tag + 4) == worker)
        return -EIO;
    wstate *ws = calloc(1, sizeof(*ws));
    eddy_worker *self = eddy_worker_self();
    if (!ws || !self || eddy_worker_id(self) != worker ||
        !(ws->timer = eddy_worker_timer_new(self, tick, ws))) {
        free(ws);
        return -ENOMEM;
    }
    ws->tag = state;
    ws->worker = worker;
    eddy_worker_timer_start(ws->timer, 10);
    *out = ws;
    fprintf(stderr, "peerinfo: worker_init %s %d\n", ws->tag, worker);
    return 0;
}

static void pi_worker_fini(void *state, int worker, void *p)
{
    wstate *ws = p;
    (void)state;
    fprintf(stderr, "peerinfo: worker_fini %s %d conns %d\n", ws->tag, worker, ws->conns);
    eddy_worker_timer_free(ws->timer);
    free(ws);
}

static int pi_open(eddy_conn *c)
{
    ((wstate *)eddy_conn_worker_state(c))->conns++;
    return 0;
}

static void pi_close(eddy_conn *c)
{
    ((wstate *)eddy_conn_worker_state(c))->conns--;
}

static void format(const struct sockaddr_storage *a, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)a;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        snprintf(out, len, "%s:%u", ip, ntohs(s->sin_port));
    } else if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%u", ip, ntohs(s->sin6_port));
    } else {
        snprintf(out, len, "family-%d", a->ss_family);
    }
}

static void command(eddy_conn *c, const char *line, size_t n)
{
    char out[256];
    int len = 0;
    if (n == 4 && memcmp(line, "addr", 4) == 0) {
        struct sockaddr_storage peer, local;
        socklen_t pl, ll;
        char p[80], l[80];
        if (eddy_conn_peer_addr(c, &peer, &pl) < 0 || eddy_conn_local_addr(c, &local, &ll) < 0)
            len = snprintf(out, sizeof(out), "ERR\n");
        else {
            format(&peer, p, sizeof(p));
            format(&local, l, sizeof(l));
            len = snprintf(out, sizeof(out), "peer %s local %s\n", p, l);
        }
    } else if (n == 5 && memcmp(line, "reset", 5) == 0) {
        eddy_conn_reset(c);
        return;
    } else if (n > 4 && memcmp(line, "log ", 4) == 0) {
        eddy_conn_log(c, EDDY_LOG_WARN, "said %.*s", (int)(n - 4), line + 4);
        len = snprintf(out, sizeof(out), "logged\n");
    } else if (n == 6 && memcmp(line, "worker", 6) == 0) {
        const wstate *ws = eddy_conn_worker_state(c);
        len = snprintf(out, sizeof(out), "tag %s worker %d conns %d ticks %lu\n", ws->tag,
                       ws->worker, ws->conns, ws->ticks);
    } else {
        len = snprintf(out, sizeof(out), "ERR unknown\n");
    }
    eddy_send(c, out, (size_t)len);
}

static size_t pi_data(eddy_conn *c, const char *buf, size_t len)
{
    size_t used = 0;
    const char *nl;
    while ((nl = memchr(buf + used, '\n', len - used))) {
        command(c, buf + used, (size_t)(nl - (buf + used)));
        used = (size_t)(nl - buf) + 1;
    }
    return used;
}

static const eddy_param pi_params[] = {{"tag", 0}, {NULL, 0}};

static const eddy_handler pi_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "peerinfo",
    .params = pi_params,
    .init = pi_init,
    .fini = pi_fini,
    .open = pi_open,
    .data = pi_data,
    .close = pi_close,
    .worker_init = pi_worker_init,
    .worker_fini = pi_worker_fini,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &pi_handler;
}
