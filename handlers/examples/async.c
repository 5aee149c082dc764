/* handlers/examples/async.c - async.so: replies from a thread of the
 * handler's own, the model of a handler that calls a library with its own
 * threads (a database client, a resolver) and answers when it calls back.
 *
 * Protocol: for each complete line (ended by "\n") the answer is
 * "async: " + line + "\n", computed on the listener's own thread after
 * `delay`, and sent on the connection's worker.  Answers keep the order of
 * the lines.
 *
 * Parameters:
 *   delay  how long each line waits on the thread, 0 to 10s (default 0ms)
 *
 * The contract it shows:
 *   - data() never blocks: it takes a reference on the connection
 *     (eddy_conn_ref) and queues the line for the thread.
 *   - The thread posts the answer with eddy_ref_post(): the function runs
 *     on the connection's worker, where eddy_send() is allowed.  If the
 *     client left meanwhile it is called with c == NULL and only frees.
 *   - The thread releases its reference once it has posted: the post holds
 *     its own.  eddyd does not stop before every reference is released,
 *     so fini() lets the thread finish its queue and joins it.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* nanosleep() under -std=c11 */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eddy/handler.h"

enum { LIMIT_DELAY_MS = 10 * 1000 };

static const char ANSWER[] = "async: ";

typedef struct job {
    struct job *next;
    eddy_ref *ref;
    size_t len; /* of text: the answer, once made; the line before */
    char text[];
} job;

typedef struct async_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, **tail;
    int stopping;
    struct timespec delay;
    pthread_t thread;
} async_state;

/* On the worker: send the answer, if the client is still there. */
static void answer(eddy_conn *c, void *arg)
{
    job *j = arg;
    if (c)
        eddy_send(c, j->text, j->len);
    free(j);
}

/* The listener's thread: answer each queued line, in order, until told to
 * stop with nothing left. */
static void *work(void *arg)
{
    async_state *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->head && !st->stopping)
            pthread_cond_wait(&st->cv, &st->mu);
        job *j = st->head;
        if (!j)
            break;
        st->head = j->next;
        if (!st->head)
            st->tail = &st->head;
        pthread_mutex_unlock(&st->mu);

        struct timespec left = st->delay;
        while ((left.tv_sec || left.tv_nsec) && nanosleep(&left, &left) < 0 && errno == EINTR)
            ;
        memmove(j->text + sizeof(ANSWER) - 1, j->text, j->len);
        memcpy(j->text, ANSWER, sizeof(ANSWER) - 1);
        j->len += sizeof(ANSWER) - 1;
        j->text[j->len++] = '\n';
        eddy_ref *ref = j->ref;
        if (eddy_ref_post(ref, answer, j) < 0)
            free(j); /* out of memory: this answer is lost */
        eddy_ref_release(ref);

        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

static int async_init(void **state, eddy_params *params)
{
    long ms;
    if (eddy_params_msec(params, "delay", 0, &ms) < 0)
        return -EINVAL;
    if (ms > LIMIT_DELAY_MS)
        return eddy_params_reject(params, "delay", "'%s' is too long: at most 10s",
                                  eddy_params_str(params, "delay", ""));
    async_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->delay.tv_sec = ms / 1000;
    st->delay.tv_nsec = ms % 1000 * 1000000L;
    st->tail = &st->head;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    int rc = pthread_create(&st->thread, NULL, work, st);
    if (rc) {
        free(st);
        return -rc;
    }
    *state = st;
    return 0;
}

/* The thread answers what is queued (those posts see their connections
 * closed), then ends. */
static void async_fini(void *state)
{
    async_state *st = state;
    pthread_mutex_lock(&st->mu);
    st->stopping = 1;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* Queue each complete line; the rest waits for more input. */
static size_t async_data(eddy_conn *c, const char *buf, size_t len)
{
    async_state *st = eddy_conn_state(c);
    size_t used = 0;
    const char *nl;
    while ((nl = memchr(buf + used, '\n', len - used))) {
        size_t n = (size_t)(nl - (buf + used));
        job *j = malloc(sizeof(*j) + sizeof(ANSWER) + n);
        if (!j || !(j->ref = eddy_conn_ref(c))) {
            free(j);
            eddy_close(c); /* out of memory: no answer would come */
            return len;
        }
        memcpy(j->text, buf + used, n);
        j->len = n;
        j->next = NULL;
        pthread_mutex_lock(&st->mu);
        *st->tail = j;
        st->tail = &j->next;
        pthread_cond_signal(&st->cv);
        pthread_mutex_unlock(&st->mu);
        used += n + 1;
    }
    return used;
}

static const eddy_param async_params[] = {{"delay", 0}, {NULL, 0}};

static const eddy_handler async_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "async",
    .params = async_params,
    .init = async_init,
    .fini = async_fini,
    .data = async_data,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &async_handler;
}
