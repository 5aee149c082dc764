/* tests/unit/test_params.c - listener parameters: typed getters, every bad
 * value, rejection with the parameter's (or the value's) line, unknown
 * names, lists (EDDY_PARAM_LIST) and how many values each statement may
 * hold. */
#include <errno.h>
#include <stdio.h>
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

/* A name added again adds a value, judged at eddy__params_check. */
START_TEST(repeated_and_bad_add)
{
    eddy_params *p = with("prefix", "x", 2);
    ck_assert_int_eq(eddy_params_add(p, "prefix", "y", 3), 0);
    ck_assert_str_eq(p->error, "");
    ck_assert_uint_eq(p->n, 2);
    ck_assert_int_eq(eddy_params_add(p, NULL, "y", 3), -EINVAL);
    ck_assert_int_eq(eddy_params_add(p, "a", NULL, 3), -EINVAL);
    ck_assert_int_eq(eddy_params_add(NULL, "a", "y", 3), -EINVAL);
    static const char *const two[] = {"a", NULL};
    ck_assert_int_eq(eddy__params_add_line(p, "b", two, 2, 4), -EINVAL);
    ck_assert_int_eq(eddy__params_add_line(p, "b", NULL, 1, 4), -EINVAL);
    ck_assert_uint_eq(p->n, 2);
    eddy_params_free(p);
    eddy_params_free(NULL);
}
END_TEST

/* A handler's table decides how many values each statement may hold. */
static const eddy_param mixed_params[] = {{"up", EDDY_PARAM_LIST}, {"one", 0}, {NULL, 0}};
static const eddy_handler mixed = {.abi_version = EDDY_ABI_VERSION, .name = "mixed",
                                   .params = mixed_params};

/* p from "name:v1,v2 name2: ..." statements, one a line from line 1 (no
 * colon: no value). */
static eddy_params *statements(const char *const *lines)
{
    eddy_params *p;
    ck_assert_int_eq(eddy_params_new(&p), 0);
    for (int i = 0; lines[i]; i++) {
        char buf[128], *vals[8], *colon, *save;
        size_t n = 0;
        snprintf(buf, sizeof(buf), "%s", lines[i]);
        if ((colon = strchr(buf, ':'))) {
            *colon = '\0';
            for (char *v = strtok_r(colon + 1, ",", &save); v && n < 8;
                 v = strtok_r(NULL, ",", &save))
                vals[n++] = v;
        }
        ck_assert_int_eq(eddy__params_add_line(p, buf, (const char *const *)vals, n, i + 1), 0);
    }
    return p;
}

/* Values over several statements, in order; the one-value getters read
 * the first. */
START_TEST(list_values)
{
    /* the first, `up` alone, holds no value */
    static const char *const lines[] = {"up", "up:a,b", "other:o", "up:c", NULL};
    eddy_params *p = statements(lines);
    ck_assert_uint_eq(eddy_params_count(p, "up"), 3);
    ck_assert_str_eq(eddy_params_value(p, "up", 0), "a");
    ck_assert_str_eq(eddy_params_value(p, "up", 1), "b");
    ck_assert_str_eq(eddy_params_value(p, "up", 2), "c");
    ck_assert_ptr_null(eddy_params_value(p, "up", 3));
    ck_assert_ptr_null(eddy_params_value(p, "up", (size_t)-1));
    ck_assert_str_eq(eddy_params_str(p, "up", "dflt"), "a");
    ck_assert_uint_eq(eddy_params_count(p, "other"), 1);
    ck_assert_str_eq(eddy_params_value(p, "other", 0), "o");
    ck_assert_uint_eq(eddy_params_count(p, "none"), 0);
    ck_assert_ptr_null(eddy_params_value(p, "none", 0));
    ck_assert_uint_eq(eddy_params_count(NULL, "up"), 0);
    ck_assert_ptr_null(eddy_params_value(NULL, "up", 0));
    ck_assert_uint_eq(eddy_params_count(p, NULL), 0);
    ck_assert_ptr_null(eddy_params_value(p, NULL, 0));
    eddy_params_free(p);
}
END_TEST

/* eddy_params_reject_value names the line of the value it refuses. */
START_TEST(reject_value_at_its_line)
{
    static const char *const lines[] = {"up:a,b", "other:o", "up:c", NULL};
    eddy_params *p = statements(lines);
    ck_assert_int_eq(eddy_params_reject_value(p, "up", 2, "'%s' is bad", "c"), -EINVAL);
    ck_assert_int_eq(p->error_line, 3);
    ck_assert_str_eq(p->error, "up: 'c' is bad");
    p->error[0] = '\0';
    ck_assert_int_eq(eddy_params_reject_value(p, "up", 1, "b"), -EINVAL);
    ck_assert_int_eq(p->error_line, 1);
    p->error[0] = '\0';
    /* past the last value: the name's first line; an absent name: none */
    ck_assert_int_eq(eddy_params_reject_value(p, "up", 3, "too many"), -EINVAL);
    ck_assert_int_eq(p->error_line, 1);
    p->error[0] = '\0';
    ck_assert_int_eq(eddy_params_reject_value(p, "nope", 0, "x"), -EINVAL);
    ck_assert_int_eq(p->error_line, 0);
    ck_assert_str_eq(p->error, "nope: x");
    ck_assert_int_eq(eddy_params_reject_value(NULL, "up", 0, "x"), -EINVAL);
    eddy_params_free(p);
}
END_TEST

START_TEST(check_values_against_the_table)
{
    static const struct {
        const char *lines[5];
        int rc, line;
        const char *error;
    } cases[] = {
        {{"up:a,b", "one:1", "up:c", NULL}, 0, 0, ""},
        {{"up:a", NULL}, 0, 0, ""},
        {{NULL}, 0, 0, ""},
        {{"up:a", "up", NULL}, -EINVAL, 2, "'up' takes one or more values"},
        {{"one:1,2", NULL}, -EINVAL, 1, "'one' takes one value, got 2"},
        {{"one", NULL}, -EINVAL, 1, "'one' takes one value, got 0"},
        {{"up:a", "one:1", "up:b", "one:1", NULL}, -EINVAL, 4,
         "'one' given twice in this listen block"},
        /* unknown comes first, whatever its values */
        {{"upp:a,b", NULL}, -EINVAL, 1, "upp: unknown parameter for handler 'mixed' (did you "
                                        "mean 'up'?)"},
        {{"zzz", NULL}, -EINVAL, 1, "zzz: unknown parameter for handler 'mixed'"},
        /* the first bad statement is the one named */
        {{"up:a", "one:1,2", "bogus:x", NULL}, -EINVAL, 2, "'one' takes one value, got 2"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        eddy_params *p = statements(cases[i].lines);
        ck_assert_int_eq(eddy__params_check(p, &mixed, NULL), cases[i].rc);
        ck_assert_int_eq(p->error_line, cases[i].line);
        ck_assert_str_eq(p->error, cases[i].error);
        eddy_params_free(p);
    }
}
END_TEST

/* The command line's value replaces every statement of its name. */
START_TEST(set_replaces_every_statement)
{
    static const char *const lines[] = {"up:a,b", "one:1", "up", "up:c", NULL};
    eddy_params *p = statements(lines);
    ck_assert_int_eq(eddy__params_set(p, "up", "z", 0), 0);
    ck_assert_uint_eq(p->n, 2);
    ck_assert_uint_eq(eddy_params_count(p, "up"), 1);
    ck_assert_str_eq(eddy_params_value(p, "up", 0), "z");
    ck_assert_str_eq(p->items[0].name, "up");
    ck_assert_str_eq(p->items[1].name, "one");
    ck_assert_int_eq(eddy__params_set(p, "new", "n", 0), 0);
    ck_assert_str_eq(eddy_params_str(p, "new", NULL), "n");
    ck_assert_int_eq(eddy__params_check(p, &mixed, NULL), -EINVAL); /* `new` is unknown */
    eddy_params_free(p);
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
    tcase_add_test(tc, repeated_and_bad_add);
    tcase_add_test(tc, list_values);
    tcase_add_test(tc, reject_value_at_its_line);
    tcase_add_test(tc, check_values_against_the_table);
    tcase_add_test(tc, set_replaces_every_statement);
    tcase_add_test(tc, unknown_parameter_named);
    tcase_add_test(tc, closest_names);
    suite_add_tcase(s, tc);
    return s;
}
