/* tests/unit/suites.h - every unit suite, by name. */
#ifndef EDDY_TEST_SUITES_H
#define EDDY_TEST_SUITES_H

#include <check.h>

Suite *buf_suite(void);
Suite *params_suite(void);
Suite *echo_suite(void);
Suite *cli_suite(void);
Suite *http_suite(void);
Suite *config_suite(void);
Suite *proxy_suite(void);
Suite *resp_suite(void);

#endif
