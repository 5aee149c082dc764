/* core/plugin.h - find a handler by name: one the program registered, or
 * a plugin (.so) loaded with dlopen and checked before use.  The library
 * itself names no handler. */
#ifndef EDDY_CORE_PLUGIN_H
#define EDDY_CORE_PLUGIN_H

#include <stddef.h>

#include "eddy/handler.h"

/* The handlers a program registered by name (eddyd's echo and stats), in
 * the order given. */
typedef struct eddy__registry {
    const eddy_handler **tables;
    size_t n;
} eddy__registry;

/* Add h under its name: 0; -EINVAL (no table, no name, a name a config
 * cannot write, another ABI version) or -EEXIST (the name is taken), with
 * why filled in; -ENOMEM. */
int eddy__registry_add(eddy__registry *r, const eddy_handler *h, char *why, size_t whylen);
void eddy__registry_free(eddy__registry *r);

/* Resolve NAME: a handler in builtins (may be NULL), then NAME.so in
 * plugin_dir (when NULL: the build tree's plugins/ beside the running
 * program, the install's plugin directory relative to the running program
 * (../lib/eddy), then the one compiled in), or, when NAME holds a '/',
 * that file.  On success *h is the table and *dl the handle to
 * eddy__plugin_unload() after the handler's fini() (NULL for a registered
 * one).  A plugin file unchanged since it was loaded shares that image; a
 * new file at the same path (renamed over it) is loaded fresh beside it;
 * one written over in place is refused (-EBUSY).  On failure, why says what is
 * wrong, naming the file (or every directory searched). */
int eddy__plugin_load(const char *name, const eddy__registry *builtins, const char *plugin_dir,
                      const eddy_handler **h, void **dl, char *why, size_t whylen);
void eddy__plugin_unload(void *dl);

#endif
