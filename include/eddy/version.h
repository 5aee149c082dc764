/* eddy/version.h - library version and handler ABI version.
 *
 * The ABI rule: EDDY_ABI_VERSION changes whenever a change to any public
 * header would make a plugin built against the old headers misbehave when
 * loaded by the new library (a field added, removed or reordered in
 * eddy_handler or eddy_param, a callback's signature changed, a function
 * removed or its contract changed).  Adding a new public function does not
 * change it.
 *
 * History: 2 - the first published contract; 3 - peer_shutdown, drained,
 * worker_init and worker_fini in eddy_handler, outgoing connections,
 * posts from any thread, output caps; 4 - eddy_handler's params became
 * eddy_param {name, flags} (EDDY_PARAM_LIST: parameters with several
 * values) and the metrics callback was added (a handler's own counters
 * and gauges in the stats output, each reported with eddy_metric()).  The
 * plugin loader refuses any handler whose table carries a different value,
 * and names both numbers.  EDDY_VERSION_* follow semantic versioning of the
 * API.
 */
#ifndef EDDY_VERSION_H
#define EDDY_VERSION_H

#define EDDY_VERSION_MAJOR 0
#define EDDY_VERSION_MINOR 1
#define EDDY_VERSION_PATCH 0
#define EDDY_VERSION_STRING "0.1.0"

#define EDDY_ABI_VERSION 4u

#endif
