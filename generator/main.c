/* SPDX-License-Identifier: MIT */

/*
 * dovesd-generator: manual modes.
 *   --check   parse and validate the config, print "configuration OK" or every error
 *   --dump    print each declared service as `doveconf -a` prints it
 * Each mode is a run_*() function behind main(); argv parsing is shared.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "macro.h"
#include "model.h"

#define DEFAULT_CONFIG "/etc/dovesd/dovesd.conf"

typedef enum mode {
        MODE_NONE,
        MODE_CHECK,
        MODE_DUMP,
} mode;

typedef struct args {
        mode mode;
        const char *config;
} args;

static void print_diags(const conf_diags *d) {
        for (size_t i = 0; i < d->n_items; i++) {
                const conf_diag *g = &d->items[i];
                fprintf(stderr, "%s:%u: %s%s\n", g->file, g->line,
                        g->warning ? "warning: " : "", g->text);
        }
}

/* Load the config; print diagnostics. Returns 0 with *ret, or -errno after printing. */
static int load(const char *path, config **ret) {
        conf_diags d = {};
        config *c = NULL;
        int r;

        r = config_load(path, &c, &d);
        print_diags(&d);
        if (r < 0 && d.n_errors == 0)
                fprintf(stderr, "%s: failed to load configuration: %s\n", path, strerror(-r));
        conf_diags_done(&d);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}

static int run_check(const args *a) {
        config *c = NULL;
        int r;

        r = load(a->config, &c);
        if (r < 0)
                return r;
        config_free(c);
        printf("configuration OK\n");
        return 0;
}

static int run_dump(const args *a) {
        config *c = NULL;
        int r;

        r = load(a->config, &c);
        if (r < 0)
                return r;
        r = config_dump(c, stdout);
        config_free(c);
        if (r >= 0 && fflush(stdout) != 0)
                r = -errno;
        return r;
}

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Validate or print a Dovecot 2.3 style service configuration.\n\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "  -c --config=FILE     Read FILE (default: $DOVESD_CONFIG or " DEFAULT_CONFIG ")\n"
               "     --check           Check the configuration, print \"configuration OK\"\n"
               "     --dump            Print each service as doveconf -a does\n",
               program_invocation_short_name);
}

/* Returns 1 to continue, 0 to exit successfully, <0 on error. */
static int parse_argv(int argc, char *argv[], args *a) {
        enum {
                ARG_VERSION = 0x100,
                ARG_CHECK,
                ARG_DUMP,
        };
        static const struct option options[] = {
                { "help",    no_argument,       NULL, 'h'         },
                { "version", no_argument,       NULL, ARG_VERSION },
                { "config",  required_argument, NULL, 'c'         },
                { "check",   no_argument,       NULL, ARG_CHECK   },
                { "dump",    no_argument,       NULL, ARG_DUMP    },
                {}
        };
        int c;

        a->config = getenv("DOVESD_CONFIG");
        if (isempty(a->config))
                a->config = DEFAULT_CONFIG;

        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("dovesd-generator %s\n", DOVESD_VERSION);
                        return 0;
                case 'c':
                        a->config = optarg;
                        break;
                case ARG_CHECK:
                case ARG_DUMP:
                        if (a->mode != MODE_NONE) {
                                fprintf(stderr, "Only one of --check and --dump may be given.\n");
                                return -EINVAL;
                        }
                        a->mode = c == ARG_CHECK ? MODE_CHECK : MODE_DUMP;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        abort();
                }

        if (optind < argc) {
                fprintf(stderr, "Unexpected argument: %s\n", argv[optind]);
                return -EINVAL;
        }
        if (a->mode == MODE_NONE) {
                fprintf(stderr, "No mode given: use --check or --dump (see --help).\n");
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        args a = {};
        int r;

        r = parse_argv(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        switch (a.mode) {
        case MODE_CHECK:
                r = run_check(&a);
                break;
        case MODE_DUMP:
                r = run_dump(&a);
                break;
        default:
                r = -EINVAL;
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
