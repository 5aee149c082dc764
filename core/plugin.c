/* core/plugin.c - the plugin loader.
 *
 * A handler is found by name among those the program registered (eddyd
 * registers its echo and stats), then as a plugin.
 * A plugin is a shared object exporting eddy_handler_entry(), which
 * returns its const handler table.  It is opened with RTLD_NOW (a missing
 * symbol fails here, not mid-request) and RTLD_LOCAL (plugins do not see
 * each other), and refused unless its table carries this library's
 * EDDY_ABI_VERSION: the message names the file and both versions.
 */
#include "plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/eddy.h"

/* The install's plugin directory, absolute and relative to its bin/ (set
 * by CMakeLists.txt from CMAKE_INSTALL_LIBDIR, as eddy.pc's plugindir). */
#ifndef EDDY_PLUGIN_DIR
#define EDDY_PLUGIN_DIR "/usr/local/lib/eddy"
#endif
#ifndef EDDY_PLUGIN_DIR_FROM_BIN
#define EDDY_PLUGIN_DIR_FROM_BIN "../lib/eddy"
#endif

static int open_file(const char *path, const eddy_handler **h, void **dl, char *why, size_t n)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(why, n, "cannot load %s: %s", path, dlerror());
        return -ENOENT;
    }
    eddy_handler_entry_fn entry;
    *(void **)&entry = dlsym(lib, EDDY_HANDLER_ENTRY); /* POSIX: object to function pointer */
    const eddy_handler *t = entry ? entry() : NULL;
    if (!entry) {
        snprintf(why, n, "%s is not an eddy plugin: it exports no %s()", path, EDDY_HANDLER_ENTRY);
    } else if (!t) {
        snprintf(why, n, "%s: %s() returned no handler table", path, EDDY_HANDLER_ENTRY);
    } else if (t->abi_version != EDDY_ABI_VERSION) {
        snprintf(why, n, "%s was built for handler ABI version %u, this eddy has version %u: rebuild "
                         "it against these headers",
                 path, t->abi_version, EDDY_ABI_VERSION);
    } else if (!t->name || !t->data) {
        snprintf(why, n, "%s: its handler table has no name or no data() callback", path);
    } else {
        *h = t;
        *dl = lib;
        return 0;
    }
    dlclose(lib);
    return -EINVAL;
}

/* The directory of the running program, or -1 (no /proc). */
static int exe_dir(char *out, size_t n)
{
    ssize_t len = readlink("/proc/self/exe", out, n - 1);
    if (len <= 0)
        return -1;
    out[len] = '\0';
    char *slash = strrchr(out, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

/* dir/sub (or dir alone when sub is NULL) into out, made canonical when it
 * exists, so that one directory reached two ways is searched (and named)
 * once.  0, or -1 when too long. */
static int join_dir(char *out, size_t n, const char *dir, const char *sub)
{
    char joined[PATH_MAX];
    if (snprintf(joined, sizeof(joined), "%s%s%s", dir, sub ? "/" : "", sub ? sub : "") >=
        (int)sizeof(joined))
        return -1;
    if (!realpath(joined, out) && snprintf(out, n, "%s", joined) >= (int)n)
        return -1;
    return 0;
}

static int valid_name(const char *name)
{
    if (!*name || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static const eddy_handler *registered(const eddy__registry *r, const char *name)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->tables[i]->name, name) == 0)
            return r->tables[i];
    return NULL;
}

int eddy__registry_add(eddy__registry *r, const eddy_handler *h, char *why, size_t whylen)
{
    if (!h || !h->name) {
        snprintf(why, whylen, "register: handler table without a name");
        return -EINVAL;
    }
    if (!valid_name(h->name)) {
        snprintf(why, whylen, "register: '%s' is not a handler name (letters, digits, '_' and '-')",
                 h->name);
        return -EINVAL;
    }
    if (h->abi_version != EDDY_ABI_VERSION) {
        snprintf(why, whylen, "register: handler '%s' has ABI version %u, this eddy has %u",
                 h->name, h->abi_version, EDDY_ABI_VERSION);
        return -EINVAL;
    }
    if (registered(r, h->name)) {
        snprintf(why, whylen, "register: a handler named '%s' is registered already", h->name);
        return -EEXIST;
    }
    const eddy_handler **t = realloc(r->tables, (r->n + 1) * sizeof(*t));
    if (!t) {
        snprintf(why, whylen, "register: %s", eddy_strerror(-ENOMEM));
        return -ENOMEM;
    }
    t[r->n++] = h;
    r->tables = t;
    return 0;
}

void eddy__registry_free(eddy__registry *r)
{
    free(r->tables);
    r->tables = NULL;
    r->n = 0;
}

int eddy__plugin_load(const char *name, const eddy__registry *builtins, const char *plugin_dir,
                      const eddy_handler **h, void **dl, char *why, size_t whylen)
{
    *dl = NULL;
    if (strchr(name, '/'))
        return open_file(name, h, dl, why, whylen);
    if ((*h = registered(builtins, name)))
        return 0;
    if (!valid_name(name)) {
        snprintf(why, whylen, "'%s' is not a handler name (letters, digits, '_' and '-'; or a path "
                              "to a .so with a '/')", name);
        return -EINVAL;
    }
    /* Without plugin_dir: the build tree's plugins/ beside the program,
     * the install's plugin directory relative to the program (a prefix
     * moved or given to cmake --install), then the one compiled in. */
    enum { NDIRS = 3 };
    char found[NDIRS][PATH_MAX], exe[PATH_MAX];
    int ndirs = 0;
    if (plugin_dir) {
        snprintf(found[ndirs++], PATH_MAX, "%s", plugin_dir);
    } else {
        if (exe_dir(exe, sizeof(exe)) == 0) {
            if (join_dir(found[ndirs], PATH_MAX, exe, "plugins") == 0)
                ndirs++;
            if (join_dir(found[ndirs], PATH_MAX, exe, EDDY_PLUGIN_DIR_FROM_BIN) == 0)
                ndirs++;
        }
        if (join_dir(found[ndirs], PATH_MAX, EDDY_PLUGIN_DIR, NULL) == 0)
            ndirs++;
    }
    char list[NDIRS * (PATH_MAX + 2)] = "";
    size_t used = 0;
    for (int i = 0; i < ndirs; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= strcmp(found[i], found[j]) == 0;
        char path[PATH_MAX];
        if (seen || snprintf(path, sizeof(path), "%s/%s.so", found[i], name) >= (int)sizeof(path))
            continue;
        if (access(path, F_OK) == 0)
            return open_file(path, h, dl, why, whylen);
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
                                 found[i]);
    }
    snprintf(why, whylen, "handler '%s' not found: no built-in handler of that name and no %s.so "
                          "in %s",
             name, name, list);
    return -ENOENT;
}

void eddy__plugin_unload(void *dl)
{
    if (dl)
        dlclose(dl);
}
