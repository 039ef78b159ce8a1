/* generate_cmd.c - `seekd generate`: load a GGUF model, process a prompt, sample a completion. */
#include "cli/generate_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "cli/args.h"
#include "engine/engine.h"
#include "engine/kernels.h"

static const char usage[] =
    "usage: seekd generate --model FILE [--prompt TEXT | --prompt-ids \"ID ...\"] [-n N]\n"
    "                      [--temp T] [--top-p P] [--seed S] [--threads N] [--ctx N] [--ids]\n"
    "\n"
    "  Raw completion (no chat template) with a local GGUF model (llama or qwen2).\n"
    "  --prompt TEXT      encoded with the model's vocabulary, BOS first when it asks for one\n"
    "  --prompt-ids IDS   exactly these token ids (no BOS added)\n"
    "  -n N               tokens to generate (default 128); stops early at end-of-text\n"
    "  --temp T           temperature (default 0.8); 0 is argmax, ties to the lowest id\n"
    "  --top-p P          nucleus sampling (default 0.95; 1 is off)\n"
    "  --presence-penalty X, --frequency-penalty X   OpenAI's penalties (default 0)\n"
    "  --seed S           sampling seed (default from the clock); same seed, same text\n"
    "  --threads N        compute threads (default: the CPUs online)\n"
    "  --ctx N            context size (default: the model's, at most 4096)\n"
    "  --ids              print the generated ids on one line instead of text\n"
    "Environment: SEEKD_ISA=scalar|avx2|avx512 picks the kernels (default the best).\n";

typedef struct {
    const char *model, *prompt, *prompt_ids, *dump;
    long n;
    double temp, top_p, presence, frequency;
    unsigned long long seed;
    bool have_seed, ids, ignore_eos;
    eng_opts_t eo;
} gen_opts_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static int parse_ids(const char *s, int32_t n_vocab, tok_ids_t *out)
{
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n')
            s++;
        if (!*s)
            break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || v < 0 || v >= n_vocab)
            return -1;
        if (out->len == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 64;
            out->ids = xrealloc(out->ids, out->cap * sizeof *out->ids);
        }
        out->ids[out->len++] = (int32_t)v;
        s = end;
    }
    return 0;
}

static int parse_args(int argc, char **argv, gen_opts_t *o)
{
    enum {
        O_PROMPT_IDS = 256,
        O_TEMP,
        O_TOPP,
        O_SEED,
        O_THREADS,
        O_CTX,
        O_IDS,
        O_DUMP,
        O_BATCH,
        O_PRES,
        O_FREQ,
        O_IGNORE_EOS
    };
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"prompt", required_argument, NULL, 'p'},
        {"prompt-ids", required_argument, NULL, O_PROMPT_IDS},
        {"temp", required_argument, NULL, O_TEMP},
        {"top-p", required_argument, NULL, O_TOPP},
        {"seed", required_argument, NULL, O_SEED},
        {"threads", required_argument, NULL, O_THREADS},
        {"ctx", required_argument, NULL, O_CTX},
        {"ids", no_argument, NULL, O_IDS},
        {"presence-penalty", required_argument, NULL, O_PRES},
        {"frequency-penalty", required_argument, NULL, O_FREQ},
        /* for tests and benches: every position's logits as float32 rows, and the batch */
        {"dump-logits", required_argument, NULL, O_DUMP},
        {"batch", required_argument, NULL, O_BATCH},
        {"ignore-eos", no_argument, NULL, O_IGNORE_EOS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int ch;
    double v;
    while ((ch = getopt_long(argc, argv, ":hm:p:n:", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (ch) {
        case 'm':
            o->model = optarg;
            break;
        case 'p':
            o->prompt = optarg;
            break;
        case O_PROMPT_IDS:
            o->prompt_ids = optarg;
            break;
        case 'n':
            if (parse_num(optarg, 0, 1 << 24, &v))
                o->n = (long)v;
            else
                bad = "-n";
            break;
        case O_TEMP:
            if (!parse_num(optarg, 0, 100, &o->temp))
                bad = "--temp";
            break;
        case O_TOPP:
            if (!parse_num(optarg, 0, 1, &o->top_p))
                bad = "--top-p";
            break;
        case O_PRES:
            if (!parse_num(optarg, -2, 2, &o->presence))
                bad = "--presence-penalty";
            break;
        case O_FREQ:
            if (!parse_num(optarg, -2, 2, &o->frequency))
                bad = "--frequency-penalty";
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            o->seed = strtoull(optarg, &end, 10);
            o->have_seed = true;
            if (errno || end == optarg || *end)
                bad = "--seed";
            break;
        }
        case O_THREADS:
            if (parse_num(optarg, 1, 256, &v))
                o->eo.threads = (int)v;
            else
                bad = "--threads";
            break;
        case O_CTX:
            if (parse_num(optarg, 1, 1 << 20, &v))
                o->eo.ctx = (int)v;
            else
                bad = "--ctx";
            break;
        case O_BATCH:
            if (parse_num(optarg, 1, 512, &v))
                o->eo.batch = (int)v;
            else
                bad = "--batch";
            break;
        case O_IDS:
            o->ids = true;
            break;
        case O_IGNORE_EOS:
            o->ignore_eos = true;
            break;
        case O_DUMP:
            o->dump = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        default:
            return cli_bad_flag("generate", ch, argc, argv);
        }
        if (bad) {
            fprintf(stderr, "seekd generate: %s '%s' is not a valid value\n", bad, optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "seekd generate: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o->model) {
        fprintf(stderr, "seekd generate: --model FILE is required\nsee 'seekd generate --help'\n");
        return 2;
    }
    if (o->prompt && o->prompt_ids) {
        fprintf(stderr, "seekd generate: --prompt and --prompt-ids exclude each other\n");
        return 2;
    }
    return 0;
}

/* Writes rows of n_vocab floats to the dump file, if any. */
static int dump_rows(FILE *f, const float *lg, size_t rows, int n_vocab)
{
    size_t n = rows * (size_t)n_vocab;
    return !f || fwrite(lg, sizeof *lg, n, f) == n ? 0 : -1;
}

static int run(const gen_opts_t *o, eng_model_t *m)
{
    const eng_hparams_t *hp = eng_model_hparams(m);
    const tok_t *tok = eng_model_tok(m);
    tok_ids_t prompt = {0};
    if (o->prompt_ids) {
        if (parse_ids(o->prompt_ids, hp->n_vocab, &prompt) != 0) {
            fprintf(stderr, "seekd generate: --prompt-ids: ids are integers from 0 to %d\n",
                    hp->n_vocab - 1);
            tok_ids_free(&prompt);
            return 2;
        }
    } else {
        if (!tok) {
            fprintf(stderr, "seekd generate: the model has no vocabulary; use --prompt-ids\n");
            return 2;
        }
        const char *p = o->prompt ? o->prompt : "";
        if (tok_encode(tok, p, strlen(p), eng_model_add_bos(m) ? TOK_ENC_BOS : 0, &prompt) < 0) {
            fprintf(stderr, "seekd generate: cannot encode the prompt\n");
            tok_ids_free(&prompt);
            return 1;
        }
    }
    if (prompt.len == 0) {
        fprintf(stderr, "seekd generate: the prompt is empty (the vocabulary adds no BOS); give "
                        "--prompt or --prompt-ids\n");
        tok_ids_free(&prompt);
        return 2;
    }
    if ((long)prompt.len >= hp->ctx) {
        fprintf(stderr, "seekd generate: the prompt's %zu tokens do not fit the context of %d\n",
                prompt.len, hp->ctx);
        tok_ids_free(&prompt);
        return 1;
    }
    FILE *dump = NULL;
    if (o->dump && !(dump = fopen(o->dump, "wb"))) {
        fprintf(stderr, "seekd generate: %s: %s\n", o->dump, strerror(errno));
        tok_ids_free(&prompt);
        return 1;
    }
    size_t nv = (size_t)hp->n_vocab;
    float *logits = xmalloc((dump ? prompt.len : 1) * nv * sizeof *logits);
    eng_seq_t *seq = eng_seq_new(m);
    eng_sampling_t sp = {.temp = (float)o->temp,
                         .top_p = (float)o->top_p,
                         .presence = (float)o->presence,
                         .frequency = (float)o->frequency,
                         .seed = o->seed};
    eng_sampler_t *smp = eng_sampler_new(&sp, hp->n_vocab);
    int rc = 0;

    double t0 = now_s();
    if (eng_prefill(seq, prompt.ids, (int)prompt.len, logits, dump != NULL) != 0) {
        fprintf(stderr, "seekd generate: the prompt was refused\n"); /* checked above */
        rc = 1;
    }
    double t1 = now_s();
    bool werr = dump_rows(dump, logits, dump ? prompt.len : 0, hp->n_vocab) != 0;
    float *last = logits + (dump ? (prompt.len - 1) * nv : 0);

    buf_t out;
    buf_init(&out, 1 << 20);
    tok_stream_t ts;
    if (tok)
        tok_stream_init(&ts, tok, TOK_DEC_SKIP_SPECIAL);
    int32_t eos = tok ? tok_eos(tok) : -1;
    bool ids_out = o->ids || !tok; /* without a vocabulary there is no text to print */
    long made = 0, decoded = 0;
    while (made < o->n && rc == 0 && !werr) {
        int32_t id = eng_sample(smp, last);
        if (id == eos && !o->ignore_eos)
            break;
        eng_sampler_accept(smp, id);
        if (ids_out) {
            printf(made ? " %d" : "%d", id);
        } else {
            buf_reset(&out);
            tok_stream_push(&ts, id, &out);
            fwrite(out.data ? out.data : "", 1, out.len, stdout);
            fflush(stdout);
        }
        if (++made == o->n)
            break;
        if (eng_seq_pos(seq) >= hp->ctx) {
            fprintf(stderr, "\nseekd generate: the context of %d tokens is full\n", hp->ctx);
            break;
        }
        last = logits;
        eng_seq_t *const one[1] = {seq};
        eng_decode(one, 1, &id, last);
        decoded++;
        werr |= dump_rows(dump, last, 1, hp->n_vocab) != 0;
    }
    double t2 = now_s();
    if (ids_out) {
        printf("\n");
    } else if (tok) {
        buf_reset(&out);
        tok_stream_finish(&ts, &out);
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
        printf("\n");
    }
    buf_free(&out);
    fprintf(stderr,
            "seekd generate: %s, %d threads; prompt %zu tokens in %.3f s (%.1f tokens/s); "
            "generated %ld, %ld decode steps at %.1f tokens/s; %.1f MB of weights a token\n",
            eng_isa_name(eng_isa()), o->eo.threads, prompt.len, t1 - t0,
            (double)prompt.len / (t1 - t0 > 0 ? t1 - t0 : 1e-9), made, decoded,
            decoded > 0 ? (double)decoded / (t2 - t1 > 0 ? t2 - t1 : 1e-9) : 0.0,
            (double)eng_model_weight_bytes(m) / 1e6);
    if (dump && fclose(dump) != 0)
        werr = true;
    if (werr) {
        fprintf(stderr, "seekd generate: %s: write failed\n", o->dump);
        rc = 1;
    }
    eng_sampler_free(smp);
    eng_seq_free(seq);
    free(logits);
    tok_ids_free(&prompt);
    return rc;
}

int cli_generate_main(int argc, char **argv)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    gen_opts_t o = {.n = 128, .temp = 0.8, .top_p = 0.95};
    o.eo.threads = ncpu > 0 && ncpu < 256 ? (int)ncpu : 1;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    if (!o.have_seed)
        o.seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);
    char err[512];
    if (eng_isa_init(err, sizeof err) != 0) {
        fprintf(stderr, "seekd generate: %s\n", err);
        return 2;
    }
    eng_model_t *m;
    if (eng_model_load(o.model, &o.eo, &m, err, sizeof err) != 0) {
        fprintf(stderr, "seekd generate: %s\n", err);
        return 1;
    }
    rc = run(&o, m);
    eng_model_free(m);
    return rc;
}
