/* core/cli.c - eddyd's command line, parsed with getopt_long.  Every bad
 * flag or value is reported with what is wrong, then the usage. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>

#include "eddy/eddy.h"

enum { MAX_WORKERS = 1024, MAX_CONNECTIONS_LIMIT = 1 << 24 };

void eddyd_cli_usage(FILE *f)
{
    fprintf(f,
            "usage: eddyd [options]\n"
            "  -l, --listen ADDR:PORT        listen address (default 127.0.0.1:7777)\n"
            "  -w, --workers N               worker threads, 0 = one per CPU (default 0)\n"
            "  -p, --prefix STR              echo reply prefix (default \"Received: \"; '' = pure echo)\n"
            "  -m, --max-connections N       connections open at once (default 10000)\n"
            "  -V, --version                 print the version and exit\n"
            "  -h, --help                    print this help and exit\n");
}

/* A whole decimal number in [min, max]. */
static int parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return -EINVAL;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int usage_error(FILE *err, const char *fmt, const char *arg)
{
    fprintf(err, "eddyd: ");
    fprintf(err, fmt, arg);
    fputc('\n', err);
    eddyd_cli_usage(err);
    return EDDYD_CLI_USAGE;
}

int eddyd_cli_parse(int argc, char **argv, eddyd_options *o, FILE *out, FILE *err)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"workers", required_argument, NULL, 'w'},
        {"prefix", required_argument, NULL, 'p'},
        {"max-connections", required_argument, NULL, 'm'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    o->listen = "127.0.0.1:7777";
    o->workers = 0;
    o->prefix = "Received: ";
    o->max_connections = 10000;
    optind = 0; /* glibc: start over, so the parser can run more than once */
    opterr = 0; /* we word the errors ourselves */
    int ch;
    long v;
    while ((ch = getopt_long(argc, argv, ":l:w:p:m:Vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (!*optarg)
                return usage_error(err, "--listen needs ADDR:PORT%s", "");
            o->listen = optarg;
            break;
        case 'w':
            if (parse_long(optarg, 0, MAX_WORKERS, &v) < 0)
                return usage_error(err, "--workers must be a number from 0 to 1024, not '%s'",
                                   optarg);
            o->workers = (int)v;
            break;
        case 'p':
            o->prefix = optarg;
            break;
        case 'm':
            if (parse_long(optarg, 1, MAX_CONNECTIONS_LIMIT, &v) < 0)
                return usage_error(
                    err, "--max-connections must be a number from 1 to 16777216, not '%s'", optarg);
            o->max_connections = (unsigned)v;
            break;
        case 'V':
            fprintf(out, "eddyd %s (handler ABI %u)\n", eddy_version(), EDDY_ABI_VERSION);
            return EDDYD_CLI_EXIT;
        case 'h':
            eddyd_cli_usage(out);
            return EDDYD_CLI_EXIT;
        case ':':
            return usage_error(err, "%s needs a value", argv[optind - 1]);
        default:
            return usage_error(err, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error(err, "unexpected argument '%s'", argv[optind]);
    return EDDYD_CLI_RUN;
}
