/* tokenize_cmd.h - `seekd tokenize`: print the token ids of text. */
#ifndef SEEKD_CLI_TOKENIZE_CMD_H
#define SEEKD_CLI_TOKENIZE_CMD_H

/** Runs `seekd tokenize [--tokenizer FILE|--family NAME] [--chat] [--template NAME]
 * [--special] [--bos] [--count] [--jsonl] [TEXT|-]` with argv[0] == "tokenize". Prints the
 * ids of TEXT (or of stdin with "-" or no TEXT) as one line of space-separated integers, or
 * only their number with --count. --jsonl reads one JSON value per input line and prints one
 * line per input line. --chat takes a JSON messages array and applies the family's chat
 * template (or --template's) first. Returns the exit status: 0, 1 on a runtime error, 2 on a
 * usage error. */
int cli_tokenize_main(int argc, char **argv);

#endif
