/* core/cli.h - eddyd's command line. */
#ifndef EDDY_CORE_CLI_H
#define EDDY_CORE_CLI_H

#include <stdio.h>

typedef struct eddyd_options {
    const char *listen; /* IPv4:PORT; checked when the listener is made */
    int workers;        /* 0 = one per online CPU */
    const char *prefix;
    unsigned max_connections;
} eddyd_options;

enum {
    EDDYD_CLI_RUN = 0,   /* options parsed: serve */
    EDDYD_CLI_EXIT = 1,  /* --help or --version printed to out: exit 0 */
    EDDYD_CLI_USAGE = 2, /* a bad flag or value, explained on err with the usage: exit 2 */
};

/* Parse argv into o (defaults first).  Reentrant over calls: resets getopt. */
int eddyd_cli_parse(int argc, char **argv, eddyd_options *o, FILE *out, FILE *err);
void eddyd_cli_usage(FILE *f);

#endif
