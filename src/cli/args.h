/* args.h - what every subcommand says about a command line it cannot use. */
#ifndef SEEKD_CLI_ARGS_H
#define SEEKD_CLI_ARGS_H

/** After getopt_long (optstring starting with ':', opterr = 0) returned ch ('?' or ':'): prints
 * one line naming the flag and what is wrong with it, then "see 'seekd CMD --help'", to stderr.
 * Returns 2, the exit code for a bad command line. */
int cli_bad_flag(const char *cmd, int ch, int argc, char **argv);

/** The whole usage text (main.c), for --help. */
extern const char cli_usage[];

#endif
