/* tests/unit/suites.h - every unit suite, listed once: here.  Suite NAME
 * lives in tests/unit/test_NAME.c as NAME_suite(); main.c runs them by
 * name and tests/CMakeLists.txt reads this list to build and register
 * them (one ctest test, unit.NAME, each). */
#ifndef EDDY_TEST_SUITES_H
#define EDDY_TEST_SUITES_H

#include <check.h>

#define EDDY_UNIT_SUITES(X) \
    X(buf)                  \
    X(poller)               \
    X(timer)                \
    X(params)               \
    X(echo)                 \
    X(cli)                  \
    X(http)                 \
    X(config)               \
    X(proxy)                \
    X(resp)                 \
    X(log)                  \
    X(api)                  \
    X(connect)              \
    X(handler_api)          \
    X(metrics)              \
    X(splice)               \
    X(uring)

#define EDDY_DECLARE_SUITE(name) Suite *name##_suite(void);
EDDY_UNIT_SUITES(EDDY_DECLARE_SUITE)
#undef EDDY_DECLARE_SUITE

#endif
