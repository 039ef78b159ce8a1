/* generate_cmd.h - `seekd generate`: raw text completion with a local GGUF model. */
#ifndef SEEKD_CLI_GENERATE_CMD_H
#define SEEKD_CLI_GENERATE_CMD_H

/** Runs `seekd generate --model FILE [--prompt TEXT | --prompt-ids "ID ..."] [-n N] [--temp T]
 * [--top-p P] [--seed S] [--threads N] [--ctx N] [--ids]` with argv[0] == "generate". Prints the
 * completion (or its ids with --ids) to stdout and the speeds to stderr. Returns the exit
 * status: 0, 1 on a runtime error, 2 on a usage error. */
int cli_generate_main(int argc, char **argv);

#endif
