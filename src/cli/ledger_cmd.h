/* ledger_cmd.h - `seekd ledger verify|export` and `seekd usage`: reading the ledger. */
#ifndef SEEKD_CLI_LEDGER_CMD_H
#define SEEKD_CLI_LEDGER_CMD_H

int cli_ledger_main(int argc, char **argv);
/** `seekd usage`: the ledger's totals by model, day or key. */
int cli_usage_main(int argc, char **argv);

#endif
