/* tests/unit/test_cli.c - eddyd's command line: defaults, every flag in
 * long and short form, flags over a config file, and every bad flag or
 * value (EDDYD_CLI_USAGE, i.e. exit 2, with a message and the usage). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "suites.h"

typedef struct result {
    int rc;
    eddyd_options o;
    char out[4096], err[4096];
} result;

/* Parse a NULL-terminated argument list (argv[0] implied). */
static void parse(result *r, const char *const *args)
{
    char *argv[32] = {(char *)"eddyd"};
    int argc = 1;
    for (; args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    memset(r->out, 0, sizeof(r->out));
    memset(r->err, 0, sizeof(r->err));
    FILE *out = fmemopen(r->out, sizeof(r->out), "w");
    FILE *err = fmemopen(r->err, sizeof(r->err), "w");
    r->rc = eddyd_cli_parse(argc, argv, &r->o, out, err);
    fclose(out);
    fclose(err);
}

static void done(result *r)
{
    eddy_config_free(r->o.config);
}

static const char *first_param(const result *r, const char *name)
{
    return eddy_params_str(r->o.config->listeners[0].params, name, NULL);
}

START_TEST(defaults)
{
    static const char *const args[] = {NULL};
    result r;
    parse(&r, args);
    ck_assert_int_eq(r.rc, EDDYD_CLI_RUN);
    const eddy_config *c = r.o.config;
    ck_assert_uint_eq(c->nlisteners, 1);
    ck_assert_str_eq(c->listeners[0].address, "127.0.0.1:7777");
    ck_assert_str_eq(c->listeners[0].handler, "echo");
    ck_assert_ptr_null(first_param(&r, "prefix")); /* the handler's own default */
    ck_assert_int_eq(c->workers, 0);
    ck_assert_uint_eq(c->max_connections, 10000);
    ck_assert_ptr_null(r.o.config_path);
    ck_assert_int_eq(r.o.test_only, 0);
    done(&r);
}
END_TEST

START_TEST(long_forms)
{
    static const char *const args[] = {"--listen", "127.0.0.2:9000", "--workers", "3", "--prefix",
                                       "",         "--max-connections", "77", NULL};
    result r;
    parse(&r, args);
    ck_assert_int_eq(r.rc, EDDYD_CLI_RUN);
    ck_assert_str_eq(r.o.config->listeners[0].address, "127.0.0.2:9000");
    ck_assert_int_eq(r.o.config->workers, 3);
    ck_assert_str_eq(first_param(&r, "prefix"), "");
    ck_assert_uint_eq(r.o.config->max_connections, 77);
    done(&r);
}
END_TEST

START_TEST(short_forms_and_equals)
{
    static const char *const args[] = {"-l", "0.0.0.0:1", "-w", "1", "-p", "> ", "-m", "1",
                                       "--workers=2", "-t", NULL};
    result r;
    parse(&r, args);
    ck_assert_int_eq(r.rc, EDDYD_CLI_RUN);
    ck_assert_str_eq(r.o.config->listeners[0].address, "0.0.0.0:1");
    ck_assert_int_eq(r.o.config->workers, 2); /* the last one wins */
    ck_assert_str_eq(first_param(&r, "prefix"), "> ");
    ck_assert_uint_eq(r.o.config->max_connections, 1);
    ck_assert_int_eq(r.o.test_only, 1);
    done(&r);
}
END_TEST

START_TEST(flags_override_the_file)
{
    char path[] = "/tmp/eddy-cli-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    static const char text[] = "workers 4\nmax_connections 50\n"
                               "listen tcp 127.0.0.1:7001 {\n  handler echo\n  prefix \"A: \"\n}\n"
                               "listen tcp 127.0.0.1:7002 {\n  handler echo\n}\n";
    ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (int)sizeof(text) - 1);
    close(fd);
    const char *args[] = {"-c", path, "-w", "1", "-l", "127.0.0.1:0", "-p", "B: ", NULL};
    result r;
    parse(&r, args);
    unlink(path);
    ck_assert_int_eq(r.rc, EDDYD_CLI_RUN);
    ck_assert_str_eq(r.o.config_path, path);
    ck_assert_int_eq(r.o.config->workers, 1);
    ck_assert_uint_eq(r.o.config->max_connections, 50); /* from the file */
    ck_assert_str_eq(r.o.config->listeners[0].address, "127.0.0.1:0");
    ck_assert_str_eq(first_param(&r, "prefix"), "B: ");
    ck_assert_str_eq(r.o.config->listeners[1].address, "127.0.0.1:7002"); /* untouched */
    done(&r);
}
END_TEST

START_TEST(config_file_errors)
{
    static const char *const missing[] = {"-c", "/nonexistent/eddyd.conf", NULL};
    result r;
    parse(&r, missing);
    ck_assert_int_eq(r.rc, EDDYD_CLI_CONFIG);
    ck_assert_str_eq(r.err, "eddyd: /nonexistent/eddyd.conf: no such file or directory\n");
    static const char *const dir[] = {"--config", "/tmp", NULL};
    parse(&r, dir);
    ck_assert_int_eq(r.rc, EDDYD_CLI_CONFIG);
    ck_assert_str_eq(r.err, "eddyd: /tmp: is a directory\n");
}
END_TEST

START_TEST(version_and_help)
{
    static const char *const v[] = {"--version", NULL}, *const V[] = {"-V", NULL},
                             *const h[] = {"--help", NULL}, *const hh[] = {"-h", NULL};
    result r;
    parse(&r, v);
    ck_assert_int_eq(r.rc, EDDYD_CLI_EXIT);
    ck_assert_ptr_nonnull(strstr(r.out, "eddyd 0."));
    parse(&r, V);
    ck_assert_int_eq(r.rc, EDDYD_CLI_EXIT);
    ck_assert_ptr_nonnull(strstr(r.out, "eddyd"));
    parse(&r, h);
    ck_assert_int_eq(r.rc, EDDYD_CLI_EXIT);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: eddyd"));
    ck_assert_str_eq(r.err, "");
    parse(&r, hh);
    ck_assert_int_eq(r.rc, EDDYD_CLI_EXIT);
    ck_assert_ptr_nonnull(strstr(r.out, "--max-connections"));
}
END_TEST

/* Each bad command line, and a part of the message it must produce. */
static const struct {
    const char *args[4];
    const char *says;
} bad[] = {
    {{"--workers", "-1"}, "--workers: must be a number from 0 to 1024, not '-1'"},
    {{"--workers", "abc"}, "not 'abc'"},
    {{"--workers", "1025"}, "not '1025'"},
    {{"--workers", ""}, "not ''"},
    {{"--workers", "2x"}, "not '2x'"},
    {{"-w", "99999999999999999999"}, "not '99999999999999999999'"},
    {{"--max-connections", "0"}, "--max-connections: must be a number from 1 to 16777216, not '0'"},
    {{"--max-connections", "-5"}, "not '-5'"},
    {{"-m", "16777217"}, "not '16777217'"},
    {{"-m", "ten"}, "not 'ten'"},
    {{"--listen", ""}, "--listen: '' is not an address"},
    {{"--listen", "nohost"}, "--listen: 'nohost' is not an address"},
    {{"--listen", "127.0.0.1"}, "'127.0.0.1' is not an address"},
    {{"--listen", "1.2.3.4:99999"}, "'1.2.3.4:99999' is not an address"},
    {{"--listen", "localhost:80"}, "'localhost:80' is not an address"},
    {{"--listen", "127.0.0.1:-1"}, "'127.0.0.1:-1' is not an address"},
    {{"--listen", "127.0.0.1:80x"}, "'127.0.0.1:80x' is not an address"},
    {{"--bogus"}, "unknown option '--bogus'"},
    {{"-x"}, "unknown option '-x'"},
    {{"--workers"}, "--workers needs a value"},
    {{"-l"}, "-l needs a value"},
    {{"-c"}, "-c needs a value"},
    {{"stray"}, "unexpected argument 'stray'"},
    {{"--help=yes"}, "unknown option '--help=yes'"},
};

START_TEST(bad_values)
{
    result r;
    parse(&r, bad[_i].args);
    ck_assert_int_eq(r.rc, EDDYD_CLI_USAGE);
    ck_assert_msg(strstr(r.err, bad[_i].says), "expected '%s' in: %s", bad[_i].says, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "usage: eddyd"));
    ck_assert_str_eq(r.out, "");
}
END_TEST

Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, long_forms);
    tcase_add_test(tc, short_forms_and_equals);
    tcase_add_test(tc, flags_override_the_file);
    tcase_add_test(tc, config_file_errors);
    tcase_add_test(tc, version_and_help);
    tcase_add_loop_test(tc, bad_values, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    suite_add_tcase(s, tc);
    return s;
}
