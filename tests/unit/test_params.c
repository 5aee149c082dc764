/* tests/unit/test_params.c - listener parameters: typed getters, every bad
 * value, rejection with the parameter's line, unknown names. */
#include <errno.h>
#include <string.h>

#include "builtin.h"
#include "eddy/eddy.h"
#include "params.h"
#include "suites.h"

static eddy_params *with(const char *name, const char *value, int line)
{
    eddy_params *p;
    ck_assert_int_eq(eddy_params_new(&p), 0);
    ck_assert_int_eq(eddy_params_add(p, name, value, line), 0);
    return p;
}

START_TEST(sizes)
{
    static const struct {
        const char *text;
        size_t value;
    } good[] = {{"0", 0}, {"512", 512}, {"64k", 65536}, {"64K", 65536}, {"1m", 1 << 20},
                {"2g", (size_t)2 << 30}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        size_t v;
        ck_assert_int_eq(eddy__parse_size(good[i].text, &v), 0);
        ck_assert_uint_eq(v, good[i].value);
    }
    static const char *const bad[] = {"", "k", "-1", "1x", "1kb", " 1", "1 ", "99999999999999999999",
                                      "9999999999999g"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t v = 7;
        ck_assert_msg(eddy__parse_size(bad[i], &v) == -EINVAL, "'%s' accepted", bad[i]);
        ck_assert_uint_eq(v, 7);
    }
}
END_TEST

START_TEST(durations)
{
    long v;
    ck_assert_int_eq(eddy__parse_msec("500ms", &v), 0);
    ck_assert_int_eq(v, 500);
    ck_assert_int_eq(eddy__parse_msec("30s", &v), 0);
    ck_assert_int_eq(v, 30000);
    ck_assert_int_eq(eddy__parse_msec("2m", &v), 0);
    ck_assert_int_eq(v, 120000);
    ck_assert_int_eq(eddy__parse_msec("1h", &v), 0);
    ck_assert_int_eq(v, 3600000);
    ck_assert_int_eq(eddy__parse_msec("250ms", &v), 0);
    ck_assert_int_eq(v, 250);
    /* a number needs its unit; only 0 means the same in every unit */
    ck_assert_int_eq(eddy__parse_msec("250", &v), -EDOM);
    ck_assert_int_eq(eddy__parse_msec("1", &v), -EDOM);
    v = 7;
    ck_assert_int_eq(eddy__parse_msec("0", &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(eddy__parse_msec("1d", &v), -EINVAL);
    ck_assert_int_eq(eddy__parse_msec("s", &v), -EINVAL);
    ck_assert_int_eq(eddy__parse_msec("-5s", &v), -EINVAL);
}
END_TEST

START_TEST(booleans)
{
    int v;
    static const char *const yes[] = {"on", "yes", "true", "1", "ON"};
    static const char *const no[] = {"off", "no", "false", "0", "Off"};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(eddy__parse_bool(yes[i], &v), 0);
        ck_assert_int_eq(v, 1);
        ck_assert_int_eq(eddy__parse_bool(no[i], &v), 0);
        ck_assert_int_eq(v, 0);
    }
    ck_assert_int_eq(eddy__parse_bool("maybe", &v), -EINVAL);
    ck_assert_int_eq(eddy__parse_bool("", &v), -EINVAL);
}
END_TEST

START_TEST(getter_records_error_with_line)
{
    eddy_params *p = with("max_line", "lots", 12);
    size_t v;
    ck_assert_int_eq(eddy_params_size(p, "max_line", 10, &v), -EINVAL);
    ck_assert_int_eq(p->error_line, 12);
    ck_assert_str_eq(p->error, "max_line: 'lots' is not a size (e.g. 512, 64k, 1m)");
    eddy_params_free(p);
}
END_TEST

START_TEST(getters_default_when_absent)
{
    eddy_params *p = with("other", "x", 1);
    size_t sz;
    int b;
    long ms;
    ck_assert_int_eq(eddy_params_size(p, "max_line", 4096, &sz), 0);
    ck_assert_uint_eq(sz, 4096);
    ck_assert_int_eq(eddy_params_bool(p, "flag", 1, &b), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(eddy_params_msec(p, "delay", 100, &ms), 0);
    ck_assert_int_eq(ms, 100);
    ck_assert_str_eq(eddy_params_str(p, "prefix", "dflt"), "dflt");
    ck_assert_str_eq(eddy_params_str(NULL, "prefix", "dflt"), "dflt");
    ck_assert_str_eq(eddy_params_str(p, "other", NULL), "x");
    eddy_params_free(p);
}
END_TEST

START_TEST(bad_bool_and_duration)
{
    eddy_params *p = with("close_after_reply", "perhaps", 3);
    int b;
    ck_assert_int_eq(eddy_params_bool(p, "close_after_reply", 0, &b), -EINVAL);
    ck_assert_int_eq(p->error_line, 3);
    ck_assert_ptr_nonnull(strstr(p->error, "'perhaps' is not on or off"));
    eddy_params_free(p);
    p = with("delay", "soon", 4);
    long ms;
    ck_assert_int_eq(eddy_params_msec(p, "delay", 0, &ms), -EINVAL);
    ck_assert_int_eq(p->error_line, 4);
    ck_assert_ptr_nonnull(strstr(p->error, "not a duration"));
    eddy_params_free(p);
    p = with("delay", "30", 5);
    ck_assert_int_eq(eddy_params_msec(p, "delay", 0, &ms), -EINVAL);
    ck_assert_int_eq(p->error_line, 5);
    ck_assert_ptr_nonnull(strstr(p->error, "add a unit: 30s or 30ms"));
    eddy_params_free(p);
}
END_TEST

START_TEST(first_error_wins)
{
    eddy_params *p = with("a", "1", 5);
    ck_assert_int_eq(eddy_params_add(p, "b", "2", 6), 0);
    ck_assert_int_eq(eddy_params_reject(p, "b", "too %s", "big"), -EINVAL);
    ck_assert_int_eq(eddy_params_reject(p, "a", "later"), -EINVAL);
    ck_assert_str_eq(p->error, "b: too big");
    ck_assert_int_eq(p->error_line, 6);
    eddy_params_free(p);
}
END_TEST

START_TEST(duplicate_and_bad_add)
{
    eddy_params *p = with("prefix", "x", 2);
    ck_assert_int_eq(eddy_params_add(p, "prefix", "y", 3), -EEXIST);
    ck_assert_ptr_nonnull(strstr(p->error, "given twice"));
    ck_assert_int_eq(eddy_params_add(p, NULL, "y", 3), -EINVAL);
    ck_assert_int_eq(eddy_params_add(NULL, "a", "y", 3), -EINVAL);
    eddy_params_free(p);
    eddy_params_free(NULL);
}
END_TEST

START_TEST(unknown_parameter_named)
{
    eddy_params *p = with("prefix", "x", 2);
    ck_assert_int_eq(eddy_params_add(p, "prefx", "y", 9), 0);
    ck_assert_int_eq(eddy__params_check(p, eddy_echo_handler(), NULL), -EINVAL);
    ck_assert_int_eq(p->error_line, 9);
    ck_assert_str_eq(p->error, "prefx: unknown parameter for handler 'echo' (did you mean 'prefix'?)");
    eddy_params_free(p);
    /* far from every name: no suggestion; near a listener directive: that one */
    p = with("zzzzzz", "1", 4);
    ck_assert_int_eq(eddy__params_check(p, eddy_echo_handler(), NULL), -EINVAL);
    ck_assert_str_eq(p->error, "zzzzzz: unknown parameter for handler 'echo'");
    eddy_params_free(p);
    static const char *const also[] = {"high_water", NULL};
    p = with("hihg_water", "1m", 5);
    ck_assert_int_eq(eddy__params_check(p, eddy_echo_handler(), also), -EINVAL);
    ck_assert_str_eq(p->error,
                     "hihg_water: unknown parameter for handler 'echo' (did you mean 'high_water'?)");
    eddy_params_free(p);
}
END_TEST

START_TEST(closest_names)
{
    static const char *const names[] = {"workers", "max_connections", "listen", NULL};
    ck_assert_str_eq(eddy__closest("workrs", names), "workers");
    ck_assert_str_eq(eddy__closest("max_conections", names), "max_connections");
    ck_assert_str_eq(eddy__closest("lisen", names), "listen");
    ck_assert_ptr_null(eddy__closest("wx", names));
    ck_assert_ptr_null(eddy__closest("banana", names));
    ck_assert_ptr_null(eddy__closest("workers", NULL));
}
END_TEST

Suite *params_suite(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("params");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, sizes);
    tcase_add_test(tc, durations);
    tcase_add_test(tc, booleans);
    tcase_add_test(tc, getter_records_error_with_line);
    tcase_add_test(tc, getters_default_when_absent);
    tcase_add_test(tc, bad_bool_and_duration);
    tcase_add_test(tc, first_error_wins);
    tcase_add_test(tc, duplicate_and_bad_add);
    tcase_add_test(tc, unknown_parameter_named);
    tcase_add_test(tc, closest_names);
    suite_add_tcase(s, tc);
    return s;
}
