/* chat_cmd.c - `seekd chat`: one line of input is one user message; the answer streams as it is
 * generated, reasoning dimmed (on a terminal), and the conversation is kept: each turn renders
 * the whole history with the model's chat template and reuses the KV cache of the common
 * prefix, so only the new tokens are run. A progress bar shows the file being read while the
 * model loads. */
#include "cli/chat_cmd.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/local.h"
#include "base/buf.h"
#include "base/mem.h"
#include "cli/args.h"
#include "engine/engine.h"
#include "engine/textfilt.h"
#include "tokenizer/tok_chat.h"

#define MAX_TURNS 256

/* Reads the file once with a progress bar on stderr (a terminal only), so the model's mapping
 * then finds it in the page cache. */
static void preload(const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    bool tty = isatty(2);
    char *b = xmalloc(1 << 22);
    off_t done = 0;
    int shown = -1;
    ssize_t n;
    while ((n = read(fd, b, 1 << 22)) > 0) {
        done += n;
        int pct = (int)(done * 100 / st.st_size);
        if (tty && pct != shown) {
            shown = pct;
            int bars = pct * 30 / 100;
            fprintf(stderr, "\rloading [%.*s%*s] %3d%%", bars, "##############################",
                    30 - bars, "", pct);
        }
    }
    if (tty)
        fputs("\r\033[K", stderr);
    free(b);
    close(fd);
}

typedef struct {
    const char *model, *tpl_name, *system;
    int threads, ctx, max_tokens;
    float temp;
} chat_opts_t;

static int parse(int argc, char **argv, chat_opts_t *o)
{
    enum { O_THREADS = 256, O_CTX, O_TPL, O_TEMP, O_MAX, O_SYSTEM };
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, O_THREADS},
        {"ctx", required_argument, NULL, O_CTX},
        {"chat-template", required_argument, NULL, O_TPL},
        {"temp", required_argument, NULL, O_TEMP},
        {"max-tokens", required_argument, NULL, O_MAX},
        {"system", required_argument, NULL, O_SYSTEM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (chat_opts_t){.threads = 1, .max_tokens = 2048, .temp = 0.6f};
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":hm:", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'm':
            o->model = optarg;
            break;
        case O_THREADS:
            o->threads = (int)strtol(optarg, &end, 10);
            break;
        case O_CTX:
            o->ctx = (int)strtol(optarg, &end, 10);
            break;
        case O_MAX:
            o->max_tokens = (int)strtol(optarg, &end, 10);
            break;
        case O_TEMP:
            o->temp = strtof(optarg, &end);
            break;
        case O_TPL:
            o->tpl_name = optarg;
            break;
        case O_SYSTEM:
            o->system = optarg;
            break;
        case 'h':
            puts("usage: seekd chat --model FILE.gguf [--threads N] [--ctx N] [--chat-template T]\n"
                 "                  [--temp T] [--max-tokens N] [--system TEXT]\n"
                 "One line is one message; /reset forgets the conversation, /exit or end of "
                 "input quits.");
            return 0;
        default:
            return cli_bad_flag("chat", ch, argc, argv);
        }
        if (end && *end) {
            fprintf(stderr, "seekd chat: bad number '%s'\n", optarg);
            return 2;
        }
    }
    if (!o->model) {
        fprintf(stderr, "seekd chat: --model FILE is required\n");
        return 2;
    }
    if (o->threads < 1 || o->max_tokens < 1 || o->temp < 0 || o->ctx < 0) {
        fprintf(stderr, "seekd chat: --threads and --max-tokens must be at least 1, --temp and "
                        "--ctx not negative\n");
        return 2;
    }
    return -1;
}

typedef struct {
    tok_msg_t m[MAX_TURNS];
    char *own[MAX_TURNS * 2];
    int n, nown;
} history_t;

static void hist_add(history_t *h, const char *role, const char *content, const char *reasoning)
{
    if (h->n == MAX_TURNS)
        return;
    tok_msg_t *m = &h->m[h->n++];
    memset(m, 0, sizeof *m);
    m->role = role;
    m->content = h->own[h->nown++] = xstrdup(content);
    if (reasoning)
        m->reasoning = h->own[h->nown++] = xstrdup(reasoning);
}

static void hist_clear(history_t *h)
{
    for (int i = 0; i < h->nown; i++)
        free(h->own[i]);
    h->n = h->nown = 0;
}

int cli_chat_main(int argc, char **argv)
{
    chat_opts_t o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    preload(o.model);
    eng_model_t *m;
    char err[512];
    if (eng_model_load(o.model, &(eng_opts_t){.threads = o.threads, .ctx = o.ctx}, &m, err,
                       sizeof err) != 0) {
        fprintf(stderr, "seekd chat: %s\n", err);
        return 1;
    }
    const tok_t *tok = eng_model_tok(m);
    bool raw;
    int tpl;
    if (!tok || local_template(m, o.tpl_name, &raw, &tpl) != 0) {
        fprintf(stderr, "seekd chat: %s\n",
                tok ? "unknown chat template (raw, deepseek-r1, deepseek-v3, deepseek-coder, "
                      "llama2)"
                    : "the file has no tokenizer");
        eng_model_free(m);
        return tok ? 2 : 1;
    }
    const eng_hparams_t *hp = eng_model_hparams(m);
    bool tty = isatty(1), in_tty = isatty(0);
    eng_seq_t *seq = eng_seq_new(m);
    int32_t *held = xmalloc((size_t)hp->ctx * sizeof *held); /* the ids in seq */
    int nheld = 0;
    float *logits = xmalloc((size_t)hp->n_vocab * sizeof *logits);
    int32_t eot = tok_find(tok, "<|EOT|>", 7);
    history_t h = {0};
    if (o.system)
        hist_add(&h, "system", o.system, NULL);
    buf_t text, piece, reasoning, content, answer, thought;
    buf_init(&text, TOK_MAX_INPUT);
    buf_init(&piece, 1 << 20);
    buf_init(&reasoning, 1 << 20);
    buf_init(&content, 1 << 20);
    buf_init(&answer, 1 << 24);
    buf_init(&thought, 1 << 24);
    char *line = NULL;
    size_t cap = 0;
    uint64_t seed = (uint64_t)getpid();
    rc = 0;
    for (;;) {
        if (in_tty)
            fputs("> ", stderr);
        ssize_t len = getline(&line, &cap, stdin);
        if (len < 0)
            break;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (!strcmp(line, "/exit"))
            break;
        if (!strcmp(line, "/reset")) {
            hist_clear(&h);
            if (o.system)
                hist_add(&h, "system", o.system, NULL);
            continue;
        }
        hist_add(&h, "user", line, NULL);
        buf_reset(&text);
        bool bos = false;
        if (raw) {
            for (int i = 0; i < h.n; i++)
                buf_puts(&text, h.m[i].content ? h.m[i].content : "");
            bos = eng_model_add_bos(m);
        } else if (tok_chat_render((tok_template_t)tpl, h.m, (size_t)h.n, true, &text) != 0) {
            fprintf(stderr, "seekd chat: the conversation does not fit the template\n");
            h.n--;
            continue;
        }
        tok_ids_t ids = {0};
        tok_encode(tok, text.data ? text.data : "", text.len,
                   (raw ? 0 : TOK_ENC_SPECIAL) | (bos ? TOK_ENC_BOS : 0), &ids);
        if (ids.len == 0 || (int)ids.len >= hp->ctx) {
            fprintf(stderr,
                    "seekd chat: the conversation is %zu tokens; the context holds %d "
                    "(/reset to start over)\n",
                    ids.len, hp->ctx);
            tok_ids_free(&ids);
            h.n--;
            continue;
        }
        /* reuse what the cache holds of it; run the rest */
        int keep = eng_prefix_reuse(held, nheld, ids.ids, (int)ids.len, 1);
        eng_seq_truncate(seq, keep);
        nheld = keep;
        if (eng_prefill(seq, ids.ids + keep, (int)ids.len - keep, logits, false) != 0) {
            fprintf(stderr, "seekd chat: the prompt does not run\n");
            tok_ids_free(&ids);
            rc = 1;
            break;
        }
        memcpy(held + nheld, ids.ids + keep, (ids.len - (size_t)keep) * sizeof *held);
        nheld = (int)ids.len;
        tok_ids_free(&ids);
        eng_sampler_t *smp = eng_sampler_new(
            &(eng_sampling_t){.temp = o.temp, .top_p = 0.95f, .seed = seed++}, hp->n_vocab);
        tok_stream_t ts;
        tok_stream_init(&ts, tok, TOK_DEC_SKIP_SPECIAL);
        eng_think_t th;
        eng_think_init(&th, !raw && tpl == TOK_TPL_DEEPSEEK_R1);
        buf_reset(&answer);
        buf_reset(&thought);
        bool dim = false;
        for (int k = 0; k < o.max_tokens; k++) {
            int32_t id = eng_sample(smp, logits);
            bool last = id == tok_eos(tok) || id == eot || k + 1 == o.max_tokens ||
                        eng_seq_pos(seq) + 1 >= hp->ctx;
            buf_reset(&piece);
            if (id != tok_eos(tok) && id != eot) {
                eng_sampler_accept(smp, id);
                tok_stream_push(&ts, id, &piece);
            }
            if (last)
                tok_stream_finish(&ts, &piece);
            buf_reset(&reasoning);
            buf_reset(&content);
            if (raw)
                buf_append(&content, piece.data ? piece.data : "", piece.len);
            else
                eng_think_feed(&th, piece.data ? piece.data : "", piece.len, &reasoning, &content);
            if (last && !raw)
                eng_think_flush(&th, &reasoning, &content);
            if (reasoning.len) {
                if (tty && !dim)
                    fputs("\033[2m", stdout);
                dim = true;
                fwrite(reasoning.data, 1, reasoning.len, stdout);
                buf_append(&thought, reasoning.data, reasoning.len);
            }
            if (content.len) {
                if (dim) {
                    fputs(tty ? "\033[0m\n" : "\n", stdout);
                    dim = false;
                }
                fwrite(content.data, 1, content.len, stdout);
                buf_append(&answer, content.data, content.len);
            }
            fflush(stdout);
            if (last)
                break;
            if (eng_prefill(seq, &id, 1, logits, false) != 0)
                break;
            held[nheld++] = id;
        }
        if (dim && tty)
            fputs("\033[0m", stdout);
        fputs("\n", stdout);
        fflush(stdout);
        eng_sampler_free(smp);
        eng_think_free(&th);
        hist_add(&h, "assistant", answer.data ? answer.data : "",
                 thought.len ? thought.data : NULL);
    }
    free(line);
    hist_clear(&h);
    buf_free(&text);
    buf_free(&piece);
    buf_free(&reasoning);
    buf_free(&content);
    buf_free(&answer);
    buf_free(&thought);
    free(held);
    free(logits);
    eng_seq_free(seq);
    eng_model_free(m);
    return rc;
}
