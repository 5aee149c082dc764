/* core/plugin.c - the plugin loader.
 *
 * A handler is found by name among those the program registered (eddyd
 * registers its echo and stats), then as a plugin.
 * A plugin is a shared object exporting eddy_handler_entry(), which
 * returns its const handler table.  It is opened with RTLD_NOW (a missing
 * symbol fails here, not mid-request) and RTLD_LOCAL (plugins do not see
 * each other), and refused unless its table carries this library's
 * EDDY_ABI_VERSION: the message names the file and both versions.
 *
 * Hot swap.  glibc's dlopen() first looks for an object already loaded
 * under the same name and returns it without opening the file; failing
 * that it opens the file and returns any object loaded from the same
 * (dev, inode).  So a new build renamed over the old path (mv, install(1))
 * would come back as the old image.  We therefore open the file ourselves,
 * fstat() it, and keep our own list of images by (dev, inode, size, mtime):
 *   - the file unchanged: the image loaded already is shared (no new code);
 *   - a new file at the path: it is loaded as "/proc/self/fd/N" with N our
 *     fd on it, a name no other live image has, since each image keeps its
 *     fd open until it is unloaded (which also keeps its inode from being
 *     reused while mapped);
 *   - the same inode with another size or mtime: it was written over in
 *     place while mapped.  The running code now reads the new bytes (and
 *     glibc would return it by inode), so the load is refused, telling the
 *     operator to install by rename.  Writing into a loaded plugin can crash
 *     eddyd; no loader can prevent that without running private copies.
 * Each listener holds a reference on its image; the image is dlclose()d
 * when the last listener using it ends (after the last connection closed
 * and its fini() ran).  /proc/self/maps still names the real file, so
 * debuggers' symbolizers, perf and the sanitizers find it.
 */
#include "plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* A plugin file as loaded: shared by every listener that names it while
 * the file stays the same. */
typedef struct image {
    struct image *next;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int fd; /* open while loaded: the name /proc/self/fd/fd is this image's */
    void *lib;
    const eddy_handler *table;
    unsigned refs; /* listeners */
} image;

/* Loads run on the thread that configures; the last release of a listener
 * may run on any worker. */
static pthread_mutex_t images_lock = PTHREAD_MUTEX_INITIALIZER;
static image *images;

static int same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* dlerror() names the object as it was opened ("/proc/self/fd/N: ..."):
 * put path in its place. */
static void load_error(char *why, size_t n, const char *path, const char *name)
{
    const char *err = dlerror();
    size_t len = strlen(name);
    if (err && strncmp(err, name, len) == 0 && err[len] == ':')
        snprintf(why, n, "cannot load %s: %s%s", path, path, err + len);
    else
        snprintf(why, n, "cannot load %s: %s", path, err ? err : "dlopen failed");
}

/* Load the plugin file path, or share the image loaded from it when the
 * file is unchanged; see the top of this file.  Caller holds images_lock. */
static int open_file_locked(const char *path, const eddy_handler **h, void **dl, char *why,
                            size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(why, n, "cannot load %s: %s: cannot open shared object file: %s", path, path,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -ENOENT;
    }
    for (image *im = images; im; im = im->next) {
        if (im->dev != st.st_dev || im->ino != st.st_ino)
            continue;
        close(fd);
        if (im->size != st.st_size || !same_time(&im->mtime, &st.st_mtim)) {
            snprintf(why, n, "%s was written over in place while loaded: it cannot be loaded "
                             "again, and the code running from it is damaged; install a new "
                             "build under a temporary name and rename it over this one "
                             "(install(1) or mv), then reload",
                     path);
            return -EBUSY;
        }
        im->refs++;
        *h = im->table;
        *dl = im;
        return 0;
    }
    char name[32];
    snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
    /* Without /proc, load by path: no hot swap, but the plugin runs. */
    void *lib = dlopen(access(name, R_OK) == 0 ? name : path, RTLD_NOW | RTLD_LOCAL);
    image *im = NULL;
    if (!lib) {
        load_error(why, n, path, name);
        close(fd);
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
    } else if (!(im = malloc(sizeof(*im)))) {
        snprintf(why, n, "cannot load %s: %s", path, eddy_strerror(-ENOMEM));
    } else {
        *im = (image){.next = images, .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
                      .mtime = st.st_mtim, .fd = fd, .lib = lib, .table = t, .refs = 1};
        images = im;
        *h = t;
        *dl = im;
        return 0;
    }
    dlclose(lib);
    close(fd);
    return -EINVAL;
}

static int open_file(const char *path, const eddy_handler **h, void **dl, char *why, size_t n)
{
    pthread_mutex_lock(&images_lock);
    int rc = open_file_locked(path, h, dl, why, n);
    pthread_mutex_unlock(&images_lock);
    return rc;
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

/* Drop a listener's reference; the last one unloads the image.  When
 * dlclose() leaves the object mapped (a C++ unique symbol or a pending
 * thread_local destructor marks it NODELETE), its fd stays open for good
 * so that its name /proc/self/fd/N is never given to another file. */
void eddy__plugin_unload(void *dl)
{
    image *im = dl;
    if (!im)
        return;
    pthread_mutex_lock(&images_lock);
    if (--im->refs == 0) {
        for (image **p = &images; *p; p = &(*p)->next)
            if (*p == im) {
                *p = im->next;
                break;
            }
        dlclose(im->lib);
        char name[32];
        snprintf(name, sizeof(name), "/proc/self/fd/%d", im->fd);
        void *still = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
        if (still)
            dlclose(still);
        else
            close(im->fd);
        free(im);
    }
    pthread_mutex_unlock(&images_lock);
}
