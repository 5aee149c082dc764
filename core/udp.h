/* core/udp.h - UDP listeners: datagrams read and answered in batches. */
#ifndef EDDY_CORE_UDP_H
#define EDDY_CORE_UDP_H

#include "loop.h"

/* The largest UDP payload over IPv4, the limit for a reply. */
#define EDDY__UDP_MAX_PAYLOAD 65507

/* Read what waits on a UDP socket, a batch at a time (recvmmsg), hand each
 * datagram to the handler and send the batch's replies with one sendmmsg.
 * After a budget of batches the socket goes on the ready list. */
void eddy__udp_read(eddy__loop *l, eddy__lsock *s);
void eddy__udp_free(eddy__loop *l);

#endif
