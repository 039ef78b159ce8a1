/* serve.h - `seekd serve`: the server's start, its reload on SIGHUP and its graceful stop. */
#ifndef SEEKD_CLI_SERVE_H
#define SEEKD_CLI_SERVE_H

/** Runs the server until a signal stops it. argv[0] is "serve". Returns the exit code: 0 after
 * a stop, 2 for an invalid configuration or command line, 1 when it cannot start. */
int cli_serve_main(int argc, char **argv);

#endif
