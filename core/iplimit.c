/* core/iplimit.c - see iplimit.h.  A hash of address -> count in striped
 * lists, each stripe under its own mutex: touched on accept and close only,
 * never per message.  An address whose count falls to 0 is removed, so the
 * table holds only addresses with connections open. */
#include "iplimit.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct eddy__ipcount {
    eddy__ipcount *next;
    unsigned char key[16]; /* IPv6, or IPv4 as ::ffff:a.b.c.d */
    unsigned count;
};

static void key_of(const struct sockaddr_storage *a, unsigned char key[16])
{
    memset(key, 0, 16);
    if (a->ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
    } else if (a->ss_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)a)->sin_addr, 4);
    }
}

static unsigned stripe_of(const unsigned char key[16])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h % EDDY__IPLIMIT_STRIPES;
}

void eddy__iplimit_init(eddy__iplimit *t)
{
    for (int i = 0; i < EDDY__IPLIMIT_STRIPES; i++) {
        pthread_mutex_init(&t->stripe[i].mu, NULL);
        t->stripe[i].head = NULL;
    }
}

void eddy__iplimit_destroy(eddy__iplimit *t)
{
    for (int i = 0; i < EDDY__IPLIMIT_STRIPES; i++) {
        while (t->stripe[i].head) {
            eddy__ipcount *c = t->stripe[i].head;
            t->stripe[i].head = c->next;
            free(c);
        }
        pthread_mutex_destroy(&t->stripe[i].mu);
    }
}

int eddy__iplimit_acquire(eddy__iplimit *t, const struct sockaddr_storage *addr, unsigned max)
{
    unsigned char key[16];
    key_of(addr, key);
    unsigned s = stripe_of(key);
    int rc = 0;
    pthread_mutex_lock(&t->stripe[s].mu);
    eddy__ipcount *c = t->stripe[s].head;
    while (c && memcmp(c->key, key, 16) != 0)
        c = c->next;
    if (c && c->count >= max) {
        rc = -EBUSY;
    } else if (c) {
        c->count++;
    } else if ((c = malloc(sizeof(*c)))) {
        memcpy(c->key, key, 16);
        c->count = 1;
        c->next = t->stripe[s].head;
        t->stripe[s].head = c;
    } else {
        rc = -ENOMEM;
    }
    pthread_mutex_unlock(&t->stripe[s].mu);
    return rc;
}

void eddy__iplimit_release(eddy__iplimit *t, const struct sockaddr_storage *addr)
{
    unsigned char key[16];
    key_of(addr, key);
    unsigned s = stripe_of(key);
    pthread_mutex_lock(&t->stripe[s].mu);
    for (eddy__ipcount **p = &t->stripe[s].head; *p; p = &(*p)->next) {
        if (memcmp((*p)->key, key, 16) == 0) {
            eddy__ipcount *c = *p;
            if (--c->count == 0) {
                *p = c->next;
                free(c);
            }
            break;
        }
    }
    pthread_mutex_unlock(&t->stripe[s].mu);
}
