/* main.c - the seekd command line: serve, check, tokenize, --help, --version. */
#include <stdio.h>
#include <string.h>

#include "cli/chat_cmd.h"
#include "cli/args.h"
#include "cli/check_cmd.h"
#include "cli/convert_cmd.h"
#include "cli/generate_cmd.h"
#include "cli/keys_cmd.h"
#include "cli/ledger_cmd.h"
#include "cli/serve.h"
#include "cli/tokenize_cmd.h"

const char cli_usage[] =
    "seekd " SEEKD_VERSION " - a DeepSeek-compatible API server\n"
    "\n"
    "Usage:\n"
    "  seekd serve [--listen HOST:PORT] [--upstream URL] [--config FILE] [--allow-open]\n"
    "              [--log-level LEVEL] [--port-file FILE] [--db URL] [--redis URL]\n"
    "              [--model FILE.gguf [--model-name NAME]]... [--threads N] [--ctx N]\n"
    "              [--chat-template raw|deepseek-r1|deepseek-v3|deepseek-coder|llama2]\n"
    "  seekd check [--config FILE] [--probe] [--listen HOST:PORT] [--upstream URL]\n"
    "              [--allow-open] [--log-level LEVEL]\n"
    "  seekd tokenize [--tokenizer FILE|--family NAME] [--chat] [--template T] [--special]\n"
    "                 [--bos] [--count] [--jsonl] [TEXT|-]\n"
    "  seekd keys create|list|show|topup|grant|disable|enable|delete ... [--db URL]\n"
    "  seekd ledger verify|export [--format csv|json] [--since DATE] [--key K] [--db URL]\n"
    "  seekd usage [--key K] [--since DATE] [--by model|day|key] [--json] [--db URL]\n"
    "  seekd generate --model FILE [--prompt TEXT | --prompt-ids \"ID ...\"] [-n N] [--temp T]\n"
    "                 [--top-p P] [--seed S] [--threads N] [--ctx N] [--ids]\n"
    "  seekd chat --model FILE [--threads N] [--ctx N] [--chat-template T] [--temp T]\n"
    "             [--max-tokens N] [--system TEXT]\n"
    "  seekd convert llama2c MODEL.bin TOKENIZER.bin -o OUT.gguf [--type f32|f16|q8_0]\n"
    "  seekd --help | --version\n"
    "\n"
    "serve   Serve the DeepSeek API (POST /chat/completions, /beta/chat/completions,\n"
    "        /beta/completions; GET /models, /user/balance, /health, /ping), relaying to an\n"
    "        OpenAI-compatible upstream.\n"
    "          --listen HOST:PORT  where to listen (default 127.0.0.1:8000; port 0 = any)\n"
    "          --upstream URL      upstream base URL (default https://api.deepseek.com)\n"
    "          --config FILE       settings file, 'key = value' lines (see docs/config.md)\n"
    "          --allow-open        allow listening beyond loopback with server-side keys and\n"
    "                              no client_key (an open relay of your paid key!)\n"
    "          --log-level LEVEL   debug, info, warn, error or off (default info)\n"
    "          --port-file FILE    write the bound port there once listening\n"
    "          --db URL            accounts: client keys with balances (sqlite:PATH or a path;\n"
    "                              see 'seekd keys'); off when not given\n"
    "          --redis URL         share the keys' rpm/tpm/concurrency limits with other\n"
    "                              instances: redis://[:PASSWORD@]HOST[:PORT][/DB]\n"
    "check   Validate the settings exactly as serve would (same flags, same environment) and\n"
    "        exit: 0 fit to run, 2 invalid (as serve exits), 3 a probe failed.\n"
    "          --probe             also GET /models from each upstream with each of its keys\n"
    "tokenize  Print the token ids of TEXT (or stdin) as one line, exactly as DeepSeek counts\n"
    "        them; --count prints only the count, --jsonl reads one JSON string per line.\n"
    "        Families: deepseek-v3 (default, built in), deepseek-llm, deepseek-coder, qwen2,\n"
    "        gpt2, llama-spm (these need --tokenizer FILE: a GGUF or tokenizer.json).\n"
    "generate  Raw completion with a local GGUF model (llama, qwen2) on the CPU.\n"
    "chat      An interactive chat with a local GGUF model: streams, reasoning dimmed,\n"
    "        keeps the conversation (and its KV cache) across turns.\n"
    "convert   A llama2.c checkpoint and tokenizer into a GGUF model.\n"
    "keys    Client keys with balances in the accounts database (see 'seekd keys --help').\n"
    "\n"
    "Environment:\n"
    "  DEEPSEEK_API_KEY   server-side upstream key(s), comma-separated. Without any server key\n"
    "                     each client's own 'Authorization: Bearer ...' is used upstream.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "seekd: which command? (serve, check, tokenize, keys, ledger, usage)\nsee "
                        "'seekd --help'\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(cli_usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        puts("seekd " SEEKD_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "serve"))
        return cli_serve_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize"))
        return cli_tokenize_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "check"))
        return cli_check_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "chat"))
        return cli_chat_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "generate"))
        return cli_generate_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert"))
        return cli_convert_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "keys"))
        return cli_keys_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "ledger"))
        return cli_ledger_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "usage"))
        return cli_usage_main(argc - 1, argv + 1);
    fprintf(stderr, "seekd: unknown command '%s'\nsee 'seekd --help'\n", cmd);
    return 2;
}
