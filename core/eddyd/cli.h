/* core/eddyd/cli.h - eddyd's command line, turned into a configuration. */
#ifndef EDDY_CORE_CLI_H
#define EDDY_CORE_CLI_H

#include <stdio.h>

#include "eddy/eddy.h"

typedef struct eddyd_options {
    const char *config_path; /* NULL: the listener comes from the flags */
    int test_only;           /* -t: check the configuration, serve nothing */
    int dump;                /* -T: -t, then print the configuration with every default */
    int stats;               /* -s: print a running eddyd's counters */
    eddy_config *config;     /* the file (or the built-in default) with the flags applied */
    char error[640];         /* why, after EDDYD_CLI_USAGE or EDDYD_CLI_CONFIG */
} eddyd_options;

enum {
    EDDYD_CLI_RUN = 0,    /* o->config is ready: serve (or check it, with -t) */
    EDDYD_CLI_EXIT = 1,   /* --help or --version printed to out: exit 0 */
    EDDYD_CLI_USAGE = 2,  /* a bad flag or value, explained on err with the usage: exit 2 */
    EDDYD_CLI_CONFIG = 3, /* the config file is unreadable or wrong, explained on err: exit 1 */
};

/* Parse argv.  Flags override the file: -w and -m its globals, -l the
 * first listener's address, -p the first listener's prefix.  On
 * EDDYD_CLI_RUN the caller frees o->config.  An error is also written to
 * err as "eddyd: WHY" (with the usage for a bad flag) unless err is NULL
 * (a reload logs o->error instead).  Resets getopt, so it can run more
 * than once in a process. */
int eddyd_cli_parse(int argc, char **argv, eddyd_options *o, FILE *out, FILE *err);
void eddyd_cli_usage(FILE *f);

#endif
