/* tests/unit/main.c - runs one suite (argv[1]) or all, in Check's fork
 * mode so every test is isolated, each with a timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

#define EDDY_SUITE_ENTRY(name) {#name, name##_suite},
static const struct {
    const char *name;
    Suite *(*make)(void);
} suites[] = {EDDY_UNIT_SUITES(EDDY_SUITE_ENTRY)};
#undef EDDY_SUITE_ENTRY

int main(int argc, char **argv)
{
    SRunner *sr = NULL;
    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        if (argc > 1 && strcmp(argv[1], suites[i].name) != 0)
            continue;
        if (!sr)
            sr = srunner_create(suites[i].make());
        else
            srunner_add_suite(sr, suites[i].make());
    }
    if (!sr) {
        fprintf(stderr, "no suite named '%s'\n", argv[1]);
        return 2;
    }
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
