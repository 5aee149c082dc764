/* core/plugin.h - find a handler by name: built in, or a plugin (.so)
 * loaded with dlopen and checked before use. */
#ifndef EDDY_CORE_PLUGIN_H
#define EDDY_CORE_PLUGIN_H

#include <stddef.h>

#include "eddy/handler.h"

/* Resolve NAME: a built-in handler, NAME.so in plugin_dir (when NULL: the
 * build tree's plugins/ beside the running program, the install's plugin
 * directory relative to the running program (../lib/eddy), then the one
 * compiled in), or, when NAME holds a '/', that file.  On success
 * *h is the table and *dl the handle to eddy__plugin_unload() after the
 * handler's fini() (NULL for a built-in).  On failure, why says what is
 * wrong, naming the file (or every directory searched). */
int eddy__plugin_load(const char *name, const char *plugin_dir, const eddy_handler **h, void **dl,
                      char *why, size_t whylen);
void eddy__plugin_unload(void *dl);

#endif
