/* core/plugin.c - the plugin loader.
 *
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
#include <string.h>
#include <unistd.h>

#include "eddy/eddy.h"

#ifndef EDDY_PLUGIN_DIR
#define EDDY_PLUGIN_DIR "/usr/local/lib/eddy"
#endif

static const eddy_handler *builtin(const char *name)
{
    if (strcmp(name, "echo") == 0)
        return eddy_echo_handler();
    if (strcmp(name, "stats") == 0)
        return eddy_stats_handler();
    return NULL;
}

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

/* The plugins/ directory beside the running program (the build tree). */
static int build_tree_dir(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len <= 0)
        return -1;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return snprintf(out, n, "%s/plugins", exe) < (int)n ? 0 : -1;
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

int eddy__plugin_load(const char *name, const char *plugin_dir, const eddy_handler **h, void **dl,
                      char *why, size_t whylen)
{
    *dl = NULL;
    if (strchr(name, '/'))
        return open_file(name, h, dl, why, whylen);
    if ((*h = builtin(name)))
        return 0;
    if (!valid_name(name)) {
        snprintf(why, whylen, "'%s' is not a handler name (letters, digits, '_' and '-'; or a path "
                              "to a .so with a '/')", name);
        return -EINVAL;
    }
    char tree[PATH_MAX];
    const char *dirs[2] = {plugin_dir, NULL};
    if (!plugin_dir) {
        dirs[0] = build_tree_dir(tree, sizeof(tree)) == 0 ? tree : NULL;
        dirs[1] = EDDY_PLUGIN_DIR;
    }
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX];
        if (!dirs[i] || snprintf(path, sizeof(path), "%s/%s.so", dirs[i], name) >= (int)sizeof(path))
            continue;
        if (access(path, F_OK) == 0)
            return open_file(path, h, dl, why, whylen);
    }
    snprintf(why, whylen, "handler '%s' not found: no built-in handler of that name and no %s.so in %s%s%s",
             name, name, dirs[0] ? dirs[0] : "", dirs[0] && dirs[1] ? " or " : "",
             dirs[1] ? dirs[1] : "");
    return -ENOENT;
}

void eddy__plugin_unload(void *dl)
{
    if (dl)
        dlclose(dl);
}
