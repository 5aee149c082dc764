/* core/pool.c - see pool.h. */
#include "pool.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "conn.h"

_Thread_local eddy__job *eddy__current_job __attribute__((tls_model("initial-exec")));

static void *pool_main(void *arg)
{
    eddy__pool *p = arg;
    eddy__log_thread("pool", -1);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        eddy__job *j = p->head;
        if (!j)
            break; /* stopping and nothing queued */
        p->head = j->next;
        if (!p->head)
            p->tail = &p->head;
        pthread_mutex_unlock(&p->mu);

        eddy__current_job = j;
        j->consumed = j->data(j->conn, j->input, j->len);
        eddy__current_job = NULL;
        eddy__ref_call(j->ref, &j->done);

        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int eddy__pool_start(eddy__pool *p, int nthreads)
{
    p->head = NULL;
    p->tail = &p->head;
    p->stopping = 0;
    p->nthreads = 0;
    p->threads = calloc((size_t)nthreads, sizeof(*p->threads));
    if (!p->threads)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = 0;
    for (; p->nthreads < nthreads; p->nthreads++) {
        rc = -pthread_create(&p->threads[p->nthreads], NULL, pool_main, p);
        if (rc < 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0)
        eddy__pool_stop(p);
    return rc;
}

void eddy__pool_submit(eddy__pool *p, eddy__job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&p->mu);
    *p->tail = j;
    p->tail = &j->next;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void eddy__pool_stop(eddy__pool *p)
{
    if (!p->threads)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    p->threads = NULL;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

int eddy__job_send(eddy__job *j, const struct iovec *iov, int iovcnt)
{
    if (j->close || j->failed)
        return -EPIPE;
    if (eddy__output_over(eddy__buf_len(j->out), eddy__conn_listener(j->conn))) {
        j->failed = j->over = 1;
        return -ENOBUFS;
    }
    for (int i = 0; i < iovcnt; i++) {
        if (!iov[i].iov_len)
            continue;
        if (!j->out && !(j->out = eddy__buf_new(iov[i].iov_len))) {
            j->failed = 1;
            return -ENOMEM;
        }
        int rc = eddy__buf_append(&j->out, iov[i].iov_base, iov[i].iov_len, EDDY__BUF_MAX);
        if (rc < 0) {
            j->failed = 1;
            return rc;
        }
    }
    return 0;
}
