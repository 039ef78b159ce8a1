/* chat_cmd.h - `seekd chat`: an interactive terminal chat with a local GGUF model. */
#ifndef SEEKD_CLI_CHAT_CMD_H
#define SEEKD_CLI_CHAT_CMD_H

/** Runs `seekd chat --model FILE [--threads N] [--ctx N] [--chat-template T] [--temp T]
 * [--max-tokens N] [--system TEXT]` with argv[0] == "chat". Returns the exit status. */
int cli_chat_main(int argc, char **argv);

#endif
