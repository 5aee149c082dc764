/* tests/unit/test_api.c - the public calls of eddy.h and handler.h held to
 * what they promise: eddy_server_register_handler() and the name lookup
 * of a configuration (libeddy knows no handler of its own), and every
 * documented error return, with its message where eddy.h promises one. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "builtin.h"
#include "eddy/eddy.h"
#include "listener.h"
#include "params.h"
#include "suites.h"

static size_t upper_data(eddy_conn *c, const char *buf, size_t len)
{
    (void)c;
    (void)buf;
    return len;
}

static const eddy_param no_params[] = {{NULL, 0}};
static const eddy_handler upper = {
    .abi_version = EDDY_ABI_VERSION, .name = "upper", .params = no_params, .data = upper_data};

/* Configure a new server from text after registering the NULL-ended
 * tables; the rc, the server kept in *out (or freed when out is NULL). */
static int configure(const char *text, const eddy_handler *const *tables, eddy_server **out)
{
    eddy_config *c = NULL;
    char err[512] = "";
    ck_assert_msg(eddy_config_parse(&c, "t.conf", text, strlen(text), err, sizeof(err)) == 0, "%s",
                  err);
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    for (; tables && *tables; tables++)
        ck_assert_int_eq(eddy_server_register_handler(s, *tables), 0);
    int rc = eddy_server_configure(s, c);
    eddy_config_free(c);
    if (out)
        *out = s;
    else
        eddy_server_free(s);
    return rc;
}

/* libeddy names no handler: "echo" is only what a program registers. */
START_TEST(no_handler_without_registration)
{
    eddy_server *s;
    ck_assert_int_eq(configure("plugin_dir /nonexistent-eddy-plugins\n"
                               "listen tcp 127.0.0.1:1 { handler echo }\n",
                               NULL, &s),
                     -ENOENT);
    ck_assert_msg(strstr(eddy_server_error(s), "t.conf:2: handler 'echo' not found: no built-in "
                                               "handler of that name and no echo.so in "
                                               "/nonexistent-eddy-plugins") != NULL,
                  "%s", eddy_server_error(s));
    eddy_server_free(s);
    const eddy_handler *builtins[] = {eddy_echo_handler(), eddy_stats_handler(), NULL};
    ck_assert_int_eq(configure("plugin_dir /nonexistent-eddy-plugins\n"
                               "listen tcp 127.0.0.1:1 { handler echo }\n"
                               "listen unix /tmp/eddy-test-api.sock { handler stats }\n",
                               builtins, &s),
                     0);
    ck_assert_ptr_eq(eddy_server_listener(s, 0)->handler, eddy_echo_handler());
    ck_assert_ptr_eq(eddy_server_listener(s, 1)->handler, eddy_stats_handler());
    eddy_server_free(s);
}
END_TEST

/* A program's own table is found by its name, with no plugin. */
START_TEST(registered_handler_found_by_name)
{
    const eddy_handler *tables[] = {&upper, NULL};
    eddy_server *s;
    ck_assert_int_eq(configure("listen tcp 127.0.0.1:1 { handler upper }\n", tables, &s), 0);
    eddy_listener *l = eddy_server_listener(s, 0);
    ck_assert_ptr_eq(l->handler, &upper);
    ck_assert_ptr_null(l->dl);
    ck_assert_str_eq(eddy_listener_handler(l), "upper");
    eddy_server_free(s);
}
END_TEST

/* The order of the lookup: registered names, then the plugin directory. */
START_TEST(registered_before_plugin_dir)
{
    static const eddy_handler lines_twin = {
        .abi_version = EDDY_ABI_VERSION, .name = "lines", .params = no_params, .data = upper_data};
    const eddy_handler *tables[] = {&lines_twin, NULL};
    const char *text = "plugin_dir " EDDY_PLUGINS_DIR "\n"
                       "listen tcp 127.0.0.1:1 { handler lines }\n";
    eddy_server *s;
    ck_assert_int_eq(configure(text, tables, &s), 0);
    ck_assert_ptr_eq(eddy_server_listener(s, 0)->handler, &lines_twin);
    eddy_server_free(s);
    ck_assert_int_eq(configure(text, NULL, &s), 0); /* unregistered: lines.so */
    ck_assert_ptr_nonnull(eddy_server_listener(s, 0)->dl);
    ck_assert_str_eq(eddy_listener_handler(eddy_server_listener(s, 0)), "lines");
    eddy_server_free(s);
}
END_TEST

/* Each refusal of eddy_server_register_handler, with its message. */
START_TEST(register_errors)
{
    static const eddy_handler nameless = {.abi_version = EDDY_ABI_VERSION, .data = upper_data};
    static const eddy_handler spaced = {
        .abi_version = EDDY_ABI_VERSION, .name = "my echo", .data = upper_data};
    static const eddy_handler old = {
        .abi_version = EDDY_ABI_VERSION + 1, .name = "old", .data = upper_data};
    static const eddy_handler twin = {
        .abi_version = EDDY_ABI_VERSION, .name = "upper", .data = upper_data};
    static const struct {
        const eddy_handler *h;
        int rc;
        const char *message;
    } cases[] = {
        {NULL, -EINVAL, "register: handler table without a name"},
        {&nameless, -EINVAL, "register: handler table without a name"},
        {&spaced, -EINVAL, "register: 'my echo' is not a handler name"},
        {&old, -EINVAL, "register: handler 'old' has ABI version"},
        {&twin, -EEXIST, "register: a handler named 'upper' is registered already"},
    };
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_server_register_handler(s, &upper), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(eddy_server_register_handler(s, cases[i].h), cases[i].rc);
        const char *msg = cases[i].message;
        ck_assert_msg(strncmp(eddy_server_error(s), msg, strlen(msg)) == 0, "case %zu: '%s'", i,
                      eddy_server_error(s));
    }
    ck_assert_int_eq(eddy_builtin_register(s), 0);
    ck_assert_int_eq(eddy_builtin_register(s), -EEXIST);
    eddy_server_free(s);
}
END_TEST

/* What a program reads from a configuration to serve it: the string
 * globals, and each listen block. */
START_TEST(config_accessors)
{
    static const char text[] = "pidfile /run/e.pid\nuser nobody\ngroup nogroup\n"
                               "log_file /tmp/e.log\nplugin_dir /opt/p\nworkers 2\n"
                               "listen tcp 127.0.0.1:7 { handler echo }\n"
                               "listen unix /tmp/e.sock { handler stats }\n";
    eddy_config *c = NULL;
    char err[256] = "";
    ck_assert_msg(eddy_config_parse(&c, "t.conf", text, strlen(text), err, sizeof(err)) == 0, "%s",
                  err);
    static const char *const strings[][2] = {{"pidfile", "/run/e.pid"}, {"user", "nobody"},
                                             {"group", "nogroup"},      {"log_file", "/tmp/e.log"},
                                             {"plugin_dir", "/opt/p"}};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        ck_assert_str_eq(eddy_config_string(c, strings[i][0]), strings[i][1]);
    ck_assert_ptr_null(eddy_config_string(c, "workers")); /* not a string */
    ck_assert_ptr_null(eddy_config_string(c, "nope"));
    const char *transport, *address, *handler;
    ck_assert_int_eq(eddy_config_listener(c, 0, &transport, &address, &handler), 0);
    ck_assert_str_eq(transport, "tcp");
    ck_assert_str_eq(address, "127.0.0.1:7");
    ck_assert_str_eq(handler, "echo");
    ck_assert_int_eq(eddy_config_listener(c, 1, &transport, &address, NULL), 0);
    ck_assert_str_eq(transport, "unix");
    ck_assert_str_eq(address, "/tmp/e.sock");
    ck_assert_int_eq(eddy_config_listener(c, 2, &transport, &address, &handler), -ENOENT);
    ck_assert_int_eq(eddy_config_listener(c, -1, NULL, NULL, NULL), -ENOENT);
    eddy_config_free(c);
    static const char bare[] = "listen tcp 127.0.0.1:7 { handler echo }\n";
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", bare, strlen(bare), err, sizeof(err)), 0);
    ck_assert_ptr_null(eddy_config_string(c, "pidfile")); /* absent */
    eddy_config_free(c);
}
END_TEST

/* Each listener setter's refusal: -EINVAL with "listen ADDRESS: why" in
 * eddy_server_error(), as eddy.h promises of every call on a listener;
 * and a value in range still takes. */
START_TEST(listener_setters_say_why)
{
    eddy_server *s;
    eddy_listener *tcp, *udp;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_server_listen(s, "127.0.0.1:1", eddy_echo_handler(), NULL, &tcp), 0);
    ck_assert_int_eq(eddy_server_listen(s, "udp:127.0.0.1:1", eddy_echo_handler(), NULL, &udp), 0);
    char name300[300];
    memset(name300, 'n', sizeof(name300) - 1);
    name300[sizeof(name300) - 1] = '\0';
#define REFUSED(call, message)                                                                 \
    do {                                                                                       \
        ck_assert_int_eq(call, -EINVAL);                                                       \
        ck_assert_str_eq(eddy_server_error(s), message);                                       \
    } while (0)
    REFUSED(eddy_listener_set_water_marks(tcp, 0, 0), "listen 127.0.0.1:1: high_water must be at "
                                                      "least 1 byte");
    REFUSED(eddy_listener_set_water_marks(tcp, 10, 11),
            "listen 127.0.0.1:1: low_water (11) is above high_water (10)");
    REFUSED(eddy_listener_set_max_message(tcp, 0),
            "listen 127.0.0.1:1: max_message must be 1 to 1073741824 bytes, not 0");
    REFUSED(eddy_listener_set_max_output(tcp, 0),
            "listen 127.0.0.1:1: max_output must be 1 to 1073741824 bytes, not 0");
    REFUSED(eddy_listener_set_dispatch(tcp, (eddy_dispatch)7),
            "listen 127.0.0.1:1: dispatch 7 is neither inline nor pool");
    REFUSED(eddy_listener_set_dispatch(udp, EDDY_DISPATCH_POOL),
            "listen udp:127.0.0.1:1: dispatch pool does not apply to udp");
    REFUSED(eddy_listener_set_timeouts(tcp, -1, 0),
            "listen 127.0.0.1:1: idle_timeout must be 0 to 24h, not -1 ms");
    REFUSED(eddy_listener_set_timeouts(tcp, 0, 86400001L),
            "listen 127.0.0.1:1: first_byte_timeout must be 0 to 24h, not 86400001 ms");
    REFUSED(eddy_listener_set_proxy_protocol(udp, 1),
            "listen udp:127.0.0.1:1: proxy_protocol does not apply to udp");
    REFUSED(eddy_listener_set_mode(tcp, 01000),
            "listen 127.0.0.1:1: mode must be 0 to 0777, not 01000");
    REFUSED(eddy_listener_set_max_amplification(udp, 1001),
            "listen udp:127.0.0.1:1: max_amplification must be 0 to 1000, not 1001");
    REFUSED(eddy_listener_set_fdname(tcp, name300),
            "listen 127.0.0.1:1: a systemd socket name has at most 255 bytes, not 299");
    REFUSED(eddy_listener_set_fdname(tcp, "a:b"),
            "listen 127.0.0.1:1: a systemd socket name has no ':' ('a:b')");
#undef REFUSED
    ck_assert_int_eq(eddy_listener_set_water_marks(tcp, 10, 10), 0);
    ck_assert_int_eq(eddy_listener_set_max_message(tcp, 1), 0);
    ck_assert_int_eq(eddy_listener_set_max_output(tcp, 1), 0);
    ck_assert_int_eq(eddy_listener_set_dispatch(tcp, EDDY_DISPATCH_POOL), 0);
    ck_assert_int_eq(eddy_listener_set_dispatch(udp, EDDY_DISPATCH_INLINE), 0);
    ck_assert_int_eq(eddy_listener_set_timeouts(tcp, 86400000L, 0), 0);
    ck_assert_int_eq(eddy_listener_set_proxy_protocol(udp, 0), 0);
    ck_assert_int_eq(eddy_listener_set_mode(tcp, 0777), 0);
    ck_assert_int_eq(eddy_listener_set_max_amplification(udp, 1000), 0);
    ck_assert_int_eq(eddy_listener_set_fdname(tcp, name300 + 45), 0); /* 254 bytes */
    ck_assert_int_eq(eddy_listener_set_fdname(tcp, NULL), 0);
    eddy_server_free(s);
}
END_TEST

/* After a reload the listeners are the running server's: a setter's
 * message lands in its eddy_server_error() (not in the scratch server the
 * reload built them on, which is gone). */
START_TEST(listener_of_reload_reports_to_its_server)
{
    static const char text[] = "workers 1\nlisten tcp 127.0.0.1:0 { handler echo }\n";
    eddy_config *c = NULL;
    char err[256] = "";
    ck_assert_int_eq(eddy_config_parse(&c, "t.conf", text, strlen(text), err, sizeof(err)), 0);
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_builtin_register(s), 0);
    ck_assert_int_eq(eddy_server_configure(s, c), 0);
    ck_assert_int_eq(eddy_server_start(s), 0);
    ck_assert_msg(eddy_server_reload(s, c) == 0, "%s", eddy_server_error(s));
    eddy_listener *l = eddy_server_listener(s, 0);
    ck_assert_int_eq(eddy_listener_set_mode(l, 01000), -EINVAL);
    ck_assert_str_eq(eddy_server_error(s), "listen 127.0.0.1:0: mode must be 0 to 0777, not 01000");
    eddy_server_stop_now(s);
    eddy_server_wait(s);
    eddy_server_free(s);
    eddy_config_free(c);
}
END_TEST

/* A handler with a list parameter: init() keeps how many values it read
 * and refuses a value "bad" at its own line. */
static size_t gather_count;

static int gather_init(void **state, eddy_params *p)
{
    gather_count = eddy_params_count(p, "to");
    for (size_t i = 0; i < gather_count; i++)
        if (strcmp(eddy_params_value(p, "to", i), "bad") == 0)
            return eddy_params_reject_value(p, "to", i, "value %zu is bad", i);
    *state = NULL;
    return 0;
}

static const eddy_param gather_params[] = {{"to", EDDY_PARAM_LIST}, {NULL, 0}};
static const eddy_handler gather = {.abi_version = EDDY_ABI_VERSION, .name = "gather",
                                    .params = gather_params, .init = gather_init,
                                    .data = upper_data};

/* Parameters built by a program: a name added again is a list's next
 * value, or, for a parameter that is not a list, refused by
 * eddy_server_listen() as the config file's "given twice" is. */
/* Params with name given once per value, value i at line first + i. */
static eddy_params *repeated(const char *name, const char *const *values, int first)
{
    eddy_params *p;
    ck_assert_int_eq(eddy_params_new(&p), 0);
    for (int i = 0; values[i]; i++)
        ck_assert_int_eq(eddy_params_add(p, name, values[i], first + i), 0);
    return p;
}

START_TEST(params_repeated_through_the_api)
{
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    eddy_params *p = repeated("prefix", (const char *const[]){"a", "b", NULL}, 1);
    ck_assert_int_eq(eddy_server_listen(s, "127.0.0.1:1", eddy_echo_handler(), p, NULL), -EINVAL);
    ck_assert_str_eq(eddy_server_error(s),
                     "handler 'echo': 'prefix' given twice in this listen block");
    ck_assert_int_eq(p->error_line, 2);
    eddy_params_free(p);

    p = repeated("to", (const char *const[]){"x", "y", "z", NULL}, 1);
    ck_assert_int_eq(eddy_server_listen(s, "127.0.0.1:2", &gather, p, NULL), 0);
    ck_assert_uint_eq(gather_count, 3);
    /* the same params for a handler without that parameter: unknown */
    ck_assert_int_eq(eddy_server_listen(s, "127.0.0.1:3", eddy_echo_handler(), p, NULL), -EINVAL);
    ck_assert_str_eq(eddy_server_error(s),
                     "handler 'echo': to: unknown parameter for handler 'echo'");
    eddy_params_free(p);

    /* a value refused at its line: the line the program gave with it */
    p = repeated("to", (const char *const[]){"x", "bad", NULL}, 7);
    ck_assert_int_eq(eddy_server_listen(s, "127.0.0.1:4", &gather, p, NULL), -EINVAL);
    ck_assert_str_eq(eddy_server_error(s), "handler 'gather': to: value 1 is bad");
    ck_assert_int_eq(p->error_line, 8);
    eddy_params_free(p);
    eddy_server_free(s);
}
END_TEST

/* What eddy_server_start_here()'s signal callback saw. */
typedef struct here {
    pthread_t caller;
    eddy_config *c;
    int port, signals, on_caller, reloaded;
    char echoed[32];
} here;

/* SIGUSR2: reload (the loop that takes it swaps its own sockets), then
 * stop. */
static void here_signal(eddy_server *s, int signo, void *arg)
{
    here *h = arg;
    h->signals++;
    h->on_caller = pthread_equal(pthread_self(), h->caller) && signo == SIGUSR2;
    h->reloaded = eddy_server_reload(s, h->c) == 0;
    eddy_server_stop(s);
}

/* A client of the server that eddy_server_run() serves: one echo, then
 * the signal to the process. */
static void *here_client(void *arg)
{
    here *h = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write(fd, "hi", 2) == 2) {
        size_t got = 0;
        ssize_t n;
        while (got < 4 && (n = read(fd, h->echoed + got, sizeof(h->echoed) - 1 - got)) > 0)
            got += (size_t)n;
    }
    close(fd);
    kill(getpid(), SIGUSR2);
    return NULL;
}

/* eddy_server_start_here() + eddy_server_run(): worker 0 serves on the
 * calling thread (with one worker, or beside a second one), takes the
 * signals there, can reload from there, and run returns once stopped. */
START_TEST(run_on_the_calling_thread)
{
    for (int workers = 1; workers <= 2; workers++) {
        char text[200];
        snprintf(text, sizeof(text),
                 "workers %d\nlisten tcp 127.0.0.1:0 { handler echo\n prefix \"E:\" }\n", workers);
        here h = {.caller = pthread_self()};
        char err[256] = "";
        ck_assert_int_eq(eddy_config_parse(&h.c, "t.conf", text, strlen(text), err, sizeof(err)), 0);
        eddy_server *s;
        ck_assert_int_eq(eddy_server_new(&s), 0);
        ck_assert_int_eq(eddy_builtin_register(s), 0);
        ck_assert_int_eq(eddy_server_configure(s, h.c), 0);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        ck_assert_msg(eddy_server_start_here(s, &set, here_signal, &h) == 0, "%s",
                      eddy_server_error(s));
        ck_assert_int_eq(eddy_server_worker_count(s), workers);
        h.port = eddy_listener_port(eddy_server_listener(s, 0));
        pthread_t client; /* SIGUSR2 blocked: start_here blocked it on this thread */
        ck_assert_int_eq(pthread_create(&client, NULL, here_client, &h), 0);
        ck_assert_int_eq(eddy_server_run(s), 0);
        pthread_join(client, NULL);
        ck_assert_int_eq(eddy_server_running(s), 0);
        ck_assert_str_eq(h.echoed, "E:hi");
        ck_assert_int_eq(h.signals, 1);
        ck_assert_int_eq(h.on_caller, 1);
        ck_assert_int_eq(h.reloaded, 1);
        ck_assert_int_eq(eddy_server_run(s), -EINVAL); /* stopped: nothing to run */
        eddy_server_free(s);
        eddy_config_free(h.c);
    }
}
END_TEST

/* eddy_server_run() serves only a server that eddy_server_start_here()
 * started; signals want a function. */
START_TEST(run_refusals)
{
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_server_set_workers(s, 1), 0);
    ck_assert_int_eq(eddy_server_listen(s, "127.0.0.1:0", eddy_echo_handler(), NULL, NULL), 0);
    ck_assert_int_eq(eddy_server_run(s), -EINVAL);
    ck_assert_str_eq(eddy_server_error(s), "run: the server was not started by eddy_server_start_here()");
    sigset_t set;
    sigemptyset(&set);
    ck_assert_int_eq(eddy_server_start_here(s, &set, NULL, NULL), -EINVAL);
    ck_assert_str_eq(eddy_server_error(s), "signals to take but no function to take them");
    ck_assert_int_eq(eddy_server_start(s), 0);
    ck_assert_int_eq(eddy_server_run(s), -EINVAL); /* its worker 0 has a thread */
    ck_assert_int_eq(eddy_server_start_here(s, NULL, NULL, NULL), -EBUSY);
    eddy_server_stop_now(s);
    eddy_server_wait(s);
    /* Started here, never run: stopping and freeing it still works. */
    ck_assert_int_eq(eddy_server_start_here(s, NULL, NULL, NULL), 0);
    eddy_server_free(s);
}
END_TEST

/* The documented refusals of the calls that report by errno alone, and of
 * socket adoption. */
START_TEST(errno_returns)
{
    eddy_params *p;
    ck_assert_int_eq(eddy_params_new(&p), 0);
    ck_assert_int_eq(eddy_params_add(p, NULL, "v", 0), -EINVAL);
    ck_assert_int_eq(eddy_params_add(p, "a", NULL, 0), -EINVAL);
    ck_assert_int_eq(eddy_params_add(NULL, "a", "v", 0), -EINVAL);
    ck_assert_int_eq(eddy_params_add(p, "a", "v", 1), 0);
    ck_assert_int_eq(eddy_params_add(p, "a", "w", 2), 0); /* judged by eddy_server_listen */
    ck_assert_uint_eq(eddy_params_count(p, "a"), 2);
    ck_assert_str_eq(eddy_params_value(p, "a", 1), "w");
    eddy_params_free(p);

    char path[5000];
    memset(path, 'x', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    ck_assert_int_eq(eddy_set_log_file(path), -ENAMETOOLONG);
    ck_assert_int_eq(eddy_set_log_file("/nonexistent-eddy-dir/log"), -ENOENT);
    ck_assert_int_eq(eddy_log_to_file(), 0); /* still stderr */
    ck_assert_int_eq(eddy_log_reopen(), 0);  /* stderr: nothing to reopen */

    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    const char *unix_address = "unix:/tmp/eddy-test-api.sock"; /* parsed, never bound */
    ck_assert_int_eq(eddy_server_listen(s, unix_address, eddy_echo_handler(), NULL, NULL), 0);
    int pipefd[2], seq[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    ck_assert_int_eq(eddy_server_adopt_socket(s, pipefd[0]), -ENOTSOCK);
    ck_assert_str_ne(eddy_server_error(s), "");
    ck_assert_int_eq(eddy_server_adopt_socket(s, -1), -EBADF);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, seq), 0);
    ck_assert_int_eq(eddy_server_adopt_socket(s, seq[0]), -EPROTOTYPE);
    ck_assert_str_eq(eddy_server_error(s), "not a TCP, UDP or Unix stream socket");
    eddy_stats st;
    ck_assert_int_eq(eddy_server_worker_stats(s, 0, &st), -EINVAL); /* not running */
    eddy_server_free(s);
    close(pipefd[0]);
    close(pipefd[1]);
    close(seq[0]);
    close(seq[1]);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, no_handler_without_registration);
    tcase_add_test(tc, registered_handler_found_by_name);
    tcase_add_test(tc, registered_before_plugin_dir);
    tcase_add_test(tc, register_errors);
    tcase_add_test(tc, config_accessors);
    tcase_add_test(tc, listener_setters_say_why);
    tcase_add_test(tc, listener_of_reload_reports_to_its_server);
    tcase_add_test(tc, errno_returns);
    tcase_add_test(tc, params_repeated_through_the_api);
    tcase_add_test(tc, run_on_the_calling_thread);
    tcase_add_test(tc, run_refusals);
    suite_add_tcase(s, tc);
    return s;
}
