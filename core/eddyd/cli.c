/* core/eddyd/cli.c - eddyd's command line, parsed with getopt_long.
 *
 * Without --config the daemon runs a built-in configuration (the seed's
 * echo on 127.0.0.1:7777); flags are applied to the configuration as if the
 * file said them, so a flag and a directive are checked by the same code.
 * Every bad flag or value is reported with what is wrong, then the usage.
 */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char default_config[] = "listen tcp 127.0.0.1:7777 {\n"
                                     "    handler echo\n"
                                     "}\n";

void eddyd_cli_usage(FILE *f)
{
    fprintf(f,
            "usage: eddyd [options]\n"
            "  -c, --config FILE             run from FILE (flags below override it)\n"
            "  -t, --test                    check the configuration, print 'FILE: ok', exit\n"
            "  -T, --dump                    check it, print it with every default, exit\n"
            "  -s, --stats                   print the counters of the eddyd running this\n"
            "                                configuration (its `listen unix PATH { handler stats }`)\n"
            "  -l, --listen ADDR:PORT        listen address (default 127.0.0.1:7777)\n"
            "  -w, --workers N               worker threads, 0 = one per CPU (default 0)\n"
            "  -p, --prefix STR              echo reply prefix (default \"Received: \"; '' = pure echo)\n"
            "  -m, --max-connections N       connections open at once (default 10000)\n"
            "  -V, --version                 print the version and exit\n"
            "  -h, --help                    print this help and exit\n");
}

static int usage_error(eddyd_options *o, FILE *err, const char *flag, const char *what)
{
    snprintf(o->error, sizeof(o->error), "%s%s%s", flag ? flag : "", flag ? ": " : "", what);
    if (err) {
        fprintf(err, "eddyd: %s\n", o->error);
        eddyd_cli_usage(err);
    }
    return EDDYD_CLI_USAGE;
}

int eddyd_cli_parse(int argc, char **argv, eddyd_options *o, FILE *out, FILE *err)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"dump", no_argument, NULL, 'T'},
        {"stats", no_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"workers", required_argument, NULL, 'w'},
        {"prefix", required_argument, NULL, 'p'},
        {"max-connections", required_argument, NULL, 'm'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* Flags that override the configuration, in the order given. */
    struct {
        const char *flag, *directive, *value;
    } overrides[16];
    int noverrides = 0;
    char msg[600];

    memset(o, 0, sizeof(*o));
    optind = 0; /* glibc: start over */
    opterr = 0; /* we word the errors ourselves */
    int ch;
    while ((ch = getopt_long(argc, argv, ":c:tTsl:w:p:m:Vh", longopts, NULL)) != -1) {
        const char *directive = NULL, *flag = NULL;
        switch (ch) {
        case 'c':
            o->config_path = optarg;
            continue;
        case 't':
            o->test_only = 1;
            continue;
        case 'T':
            o->test_only = o->dump = 1;
            continue;
        case 's':
            o->stats = 1;
            continue;
        case 'l':
            directive = "listen", flag = "--listen";
            break;
        case 'w':
            directive = "workers", flag = "--workers";
            break;
        case 'p':
            directive = "prefix", flag = "--prefix";
            break;
        case 'm':
            directive = "max_connections", flag = "--max-connections";
            break;
        case 'V':
            fprintf(out, "eddyd %s (handler ABI %u)\n", eddy_version(), EDDY_ABI_VERSION);
            return EDDYD_CLI_EXIT;
        case 'h':
            eddyd_cli_usage(out);
            return EDDYD_CLI_EXIT;
        case ':':
            snprintf(msg, sizeof(msg), "%s needs a value", argv[optind - 1]);
            return usage_error(o, err, NULL, msg);
        default:
            snprintf(msg, sizeof(msg), "unknown option '%s'", argv[optind - 1]);
            return usage_error(o, err, NULL, msg);
        }
        if (noverrides == (int)(sizeof(overrides) / sizeof(overrides[0])))
            return usage_error(o, err, NULL, "too many options");
        overrides[noverrides].flag = flag;
        overrides[noverrides].directive = directive;
        overrides[noverrides++].value = optarg;
    }
    if (optind < argc) {
        snprintf(msg, sizeof(msg), "unexpected argument '%s'", argv[optind]);
        return usage_error(o, err, NULL, msg);
    }
    int rc = o->config_path
                 ? eddy_config_load(&o->config, o->config_path, msg, sizeof(msg))
                 : eddy_config_parse(&o->config, "command line", default_config,
                                     sizeof(default_config) - 1, msg, sizeof(msg));
    if (rc < 0) {
        snprintf(o->error, sizeof(o->error), "%s", msg);
        if (err)
            fprintf(err, "eddyd: %s\n", o->error);
        return EDDYD_CLI_CONFIG;
    }
    for (int i = 0; i < noverrides; i++) {
        if (eddy_config_override(o->config, overrides[i].directive, overrides[i].value, msg,
                                 sizeof(msg)) < 0) {
            eddy_config_free(o->config);
            o->config = NULL;
            return usage_error(o, err, overrides[i].flag, msg);
        }
    }
    return EDDYD_CLI_RUN;
}
