/* core/connect.h - outgoing connections (connect.c): eddy_connect() and
 * the few hooks the loop gives it. */
#ifndef EDDY_CORE_CONNECT_H
#define EDDY_CORE_CONNECT_H

#include "loop.h"

/* The poller saw a connecting connection (EDDY__KIND_CONNECTING) ready:
 * the connect is over, one way or the other. */
void eddy__connect_event(eddy_conn *c, unsigned ready);
/* The worker stops: close its outgoing connections (connecting ones are
 * told -ECANCELED). */
void eddy__connect_close_all(eddy__loop *l);
/* Free what the worker kept for them (after eddy__connect_close_all). */
void eddy__connect_free(eddy__loop *l);

#endif
