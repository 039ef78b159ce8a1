/* convert_cmd.h - `seekd convert`: other model formats into GGUF. */
#ifndef SEEKD_CLI_CONVERT_CMD_H
#define SEEKD_CLI_CONVERT_CMD_H

/** Runs `seekd convert llama2c MODEL.bin TOKENIZER.bin -o OUT.gguf [--type f32|f16|q8_0]` with
 * argv[0] == "convert". Returns the exit status: 0, 1 on a runtime error, 2 on a usage error. */
int cli_convert_main(int argc, char **argv);

#endif
