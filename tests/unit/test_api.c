/* tests/unit/test_api.c - the public calls of eddy.h and handler.h held to
 * what they promise: eddy_server_register_handler() and the name lookup
 * of a configuration (libeddy knows no handler of its own), and every
 * documented error return, with its message where eddy.h promises one. */
#include <errno.h>
#include <string.h>

#include "builtin.h"
#include "eddy/eddy.h"
#include "listener.h"
#include "suites.h"

static size_t upper_data(eddy_conn *c, const char *buf, size_t len)
{
    (void)c;
    (void)buf;
    return len;
}

static const char *const no_params[] = {NULL};
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
    const char *text = "plugin_dir " EDDY_PLUGINS_DIR "\nlisten tcp 127.0.0.1:1 { handler lines }\n";
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
        {&spaced, -EINVAL, "register: 'my echo' is not a handler name (letters, digits, '_' and '-')"},
        {&old, -EINVAL, "register: handler 'old' has ABI version"},
        {&twin, -EEXIST, "register: a handler named 'upper' is registered already"},
    };
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_server_register_handler(s, &upper), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(eddy_server_register_handler(s, cases[i].h), cases[i].rc);
        ck_assert_msg(strncmp(eddy_server_error(s), cases[i].message, strlen(cases[i].message)) == 0,
                      "case %zu: '%s'", i, eddy_server_error(s));
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
    suite_add_tcase(s, tc);
    return s;
}
