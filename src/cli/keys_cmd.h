/* keys_cmd.h - `seekd keys ...`: create, list, show, top up, grant, disable, enable and delete
 * the client keys of the accounts. */
#ifndef SEEKD_CLI_KEYS_CMD_H
#define SEEKD_CLI_KEYS_CMD_H

int cli_keys_main(int argc, char **argv);

#endif
