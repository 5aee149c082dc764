/* core/iplimit.h - connections open per client address, shared by all
 * workers, for max_connections_per_ip. */
#ifndef EDDY_CORE_IPLIMIT_H
#define EDDY_CORE_IPLIMIT_H

#include <pthread.h>
#include <sys/socket.h>

#define EDDY__IPLIMIT_STRIPES 64

typedef struct eddy__ipcount eddy__ipcount;

typedef struct eddy__iplimit {
    struct {
        pthread_mutex_t mu;
        eddy__ipcount *head;
    } stripe[EDDY__IPLIMIT_STRIPES];
} eddy__iplimit;

void eddy__iplimit_init(eddy__iplimit *t);
void eddy__iplimit_destroy(eddy__iplimit *t);
/* Count one more connection from addr's IP (the port does not matter):
 * 0, or -EBUSY when max are open already, or -ENOMEM. */
int eddy__iplimit_acquire(eddy__iplimit *t, const struct sockaddr_storage *addr, unsigned max);
void eddy__iplimit_release(eddy__iplimit *t, const struct sockaddr_storage *addr);

#endif
