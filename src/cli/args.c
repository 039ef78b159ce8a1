/* args.c - one short complaint for a bad flag, instead of the whole help under it. */
#include "cli/args.h"

#include <getopt.h>
#include <stdio.h>

int cli_bad_flag(const char *cmd, int ch, int argc, char **argv)
{
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    if (ch == ':')
        fprintf(stderr, "seekd %s: %s needs a value\n", cmd, arg);
    else if (optopt)
        fprintf(stderr, "seekd %s: unknown flag '-%c'\n", cmd, optopt);
    else
        fprintf(stderr, "seekd %s: unknown flag '%s'\n", cmd, arg);
    fprintf(stderr, "see 'seekd %s --help'\n", cmd);
    return 2;
}
