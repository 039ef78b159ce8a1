/* check_cmd.h - `seekd check`: is this configuration fit to run? */
#ifndef SEEKD_CLI_CHECK_CMD_H
#define SEEKD_CLI_CHECK_CMD_H

/** Runs `seekd check` (argv[0] is "check"). Returns the process exit code: 0 fit to run, 2 the
 * settings are invalid (what serve would refuse), 3 a --probe failed. */
int cli_check_main(int argc, char **argv);

#endif
