/* ledger_cmd.h - `seekd ledger verify`: every balance against its history. */
#ifndef SEEKD_CLI_LEDGER_CMD_H
#define SEEKD_CLI_LEDGER_CMD_H

int cli_ledger_main(int argc, char **argv);

#endif
