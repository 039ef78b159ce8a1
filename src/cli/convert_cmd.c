/* convert_cmd.c - `seekd convert llama2c MODEL.bin TOKENIZER.bin -o OUT.gguf`: a llama2.c
 * checkpoint and its vocabulary into a GGUF `llama` file the engine and the tokenizer load. */
#include "cli/convert_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "cli/args.h"
#include "engine/gguf_write.h"
#include "engine/kernels.h"
#include "tokenizer/tok.h"

static const char usage[] =
    "usage: seekd convert llama2c MODEL.bin TOKENIZER.bin -o OUT.gguf [--type f32|f16|q8_0]\n"
    "\n"
    "  Converts a llama2.c checkpoint (7 int32 header, float32 weights) and its tokenizer.bin\n"
    "  into a GGUF 'llama' model with the vocabulary in its metadata.\n"
    "  --type T   matrices as f32 (default), f16 or q8_0; norms stay f32, and a q8_0 matrix\n"
    "             whose rows are not a multiple of 32 is written as f16\n";

typedef struct {
    const unsigned char *p;
    size_t len;
} map_t;

static int map_file(const char *path, map_t *m)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        fprintf(stderr, "seekd convert: %s: %s\n", path,
                fd < 0 ? strerror(errno) : "not a regular non-empty file");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    m->len = (size_t)st.st_size;
    void *p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        fprintf(stderr, "seekd convert: %s: %s\n", path, strerror(errno));
        return -1;
    }
    m->p = p;
    return 0;
}

/* ---- weights ---- */

typedef struct {
    uint32_t type; /* GGML_F32, GGML_F16 or GGML_Q8_0 for matrices */
    gguf_writer_t w;
    void **owned; /* converted copies, freed after writing */
    size_t n_owned, cap_owned;
} conv_t;

static void *own(conv_t *c, size_t n)
{
    if (c->n_owned == c->cap_owned) {
        c->cap_owned = c->cap_owned ? 2 * c->cap_owned : 64;
        c->owned = xrealloc(c->owned, c->cap_owned * sizeof *c->owned);
    }
    return c->owned[c->n_owned++] = xmalloc(n ? n : 1);
}

static void quantize_q8_0(const float *x, eng_q8_0_t *b, size_t n)
{
    for (size_t i = 0; i < n / 32; i++, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127, id = d > 0 ? 1 / d : 0;
        b[i].d = eng_f32_to_f16(d);
        for (int j = 0; j < 32; j++)
            b[i].qs[j] = (int8_t)lrintf(x[j] * id);
    }
}

/* Adds a tensor of rows x cols floats (cols contiguous; rows 0 for a vector) from the checkpoint,
 * converted to the chosen type when it is a matrix. */
static void add(conv_t *c, const char *name, const float *x, size_t rows, size_t cols)
{
    uint64_t ne[2] = {cols, rows};
    size_t n = cols * (rows ? rows : 1);
    uint32_t ty = rows ? c->type : GGML_F32;
    if (ty == GGML_Q8_0 && cols % 32)
        ty = GGML_F16;
    if (ty == GGML_F32) {
        gguf_w_tensor(&c->w, name, ty, rows ? 2 : 1, ne, x, n * sizeof(float));
    } else if (ty == GGML_F16) {
        uint16_t *h = own(c, n * 2);
        for (size_t i = 0; i < n; i++)
            h[i] = eng_f32_to_f16(x[i]);
        gguf_w_tensor(&c->w, name, ty, 2, ne, h, n * 2);
    } else {
        eng_q8_0_t *q = own(c, n / 32 * sizeof *q);
        quantize_q8_0(x, q, n);
        gguf_w_tensor(&c->w, name, ty, 2, ne, q, n / 32 * sizeof *q);
    }
}

/* ---- vocabulary ---- */

/* The vocabulary as SentencePiece writes it: each piece's text with U+2581 for a space (llama2.c's
 * export wrote plain spaces), <s> and </s> without the export's newlines, and the token types
 * (0 unknown, 1-2 control, <0xXX> bytes, the rest normal). tok_load_llama2c validates the file
 * first, with the same reading. */
static int add_vocab(conv_t *c, const map_t *tm, const char *path, int32_t vocab)
{
    tok_t *t;
    char err[256];
    if (tok_load_llama2c(tm->p, tm->len, &t, err, sizeof err) != 0) {
        fprintf(stderr, "seekd convert: %s: %s\n", path, err);
        return -1;
    }
    int32_t n = tok_n_vocab(t);
    tok_free(t);
    if (n != vocab) {
        fprintf(stderr, "seekd convert: %s has %d tokens, the model %d\n", path, n, vocab);
        return -1;
    }
    char **strs = xcalloc((size_t)n, sizeof *strs);
    size_t *lens = xmalloc((size_t)n * sizeof *lens);
    float *scores = xmalloc((size_t)n * sizeof *scores);
    int32_t *types = xmalloc((size_t)n * sizeof *types);
    size_t pos = 4; /* int32 max length, then per token: float32 score, int32 length, bytes */
    for (int32_t i = 0; i < n; i++) {
        uint32_t l;
        memcpy(&scores[i], tm->p + pos, 4);
        memcpy(&l, tm->p + pos + 4, 4);
        const char *raw = (const char *)tm->p + pos + 8;
        pos += 8 + l;
        if (i == 1 || i == 2) {
            strs[i] = xstrdup(i == 1 ? "<s>" : "</s>");
            lens[i] = strlen(strs[i]);
            types[i] = TOK_T_CONTROL;
            continue;
        }
        buf_t b;
        buf_init(&b, (size_t)l * 3 + 1);
        for (uint32_t k = 0; k < l; k++)
            buf_append(&b, raw[k] == ' ' ? "\xE2\x96\x81" : raw + k, raw[k] == ' ' ? 3 : 1);
        lens[i] = b.len;
        strs[i] = xstrndup(b.data ? b.data : "", b.len);
        buf_free(&b);
        bool byte = l == 6 && memcmp(raw, "<0x", 3) == 0 && raw[5] == '>';
        types[i] = i == 0 ? TOK_T_UNKNOWN : byte ? TOK_T_BYTE : TOK_T_NORMAL;
    }
    static const char model[] = "llama";
    gguf_w_str(&c->w, "tokenizer.ggml.model", model, sizeof model - 1);
    gguf_w_arr_str(&c->w, "tokenizer.ggml.tokens", (const char *const *)strs, lens, (uint64_t)n);
    gguf_w_arr_f32(&c->w, "tokenizer.ggml.scores", scores, (uint64_t)n);
    gguf_w_arr_i32(&c->w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    gguf_w_u32(&c->w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_w_u32(&c->w, "tokenizer.ggml.bos_token_id", 1);
    gguf_w_u32(&c->w, "tokenizer.ggml.eos_token_id", 2);
    gguf_w_bool(&c->w, "tokenizer.ggml.add_bos_token", true);
    gguf_w_bool(&c->w, "tokenizer.ggml.add_space_prefix", true);
    /* the writer copied the metadata */
    for (int32_t i = 0; i < n; i++)
        free(strs[i]);
    free(strs);
    free(lens);
    free(scores);
    free(types);
    return 0;
}

/* ---- the checkpoint ---- */

static int convert(conv_t *c, const map_t *mm, const char *mpath, int32_t *n_vocab)
{
    int32_t h[7];
    if (mm->len < sizeof h) {
        fprintf(stderr, "seekd convert: %s: shorter than the llama2.c header\n", mpath);
        return -1;
    }
    memcpy(h, mm->p, sizeof h);
    int32_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4],
            vocab = h[5] < 0 ? -h[5] : h[5], seq = h[6];
    bool shared = h[5] > 0;
    *n_vocab = vocab;
    if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kv_heads <= 0 || vocab <= 0 ||
        seq <= 0 || dim > 65536 || hidden > 1 << 20 || layers > 1024 || vocab > 1 << 24 ||
        seq > 1 << 24 || dim % heads || heads % kv_heads || (dim / heads) % 2) {
        fprintf(stderr, "seekd convert: %s: header %d %d %d %d %d %d %d is not a model\n", mpath,
                h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
        return -1;
    }
    size_t D = (size_t)dim, H = (size_t)hidden, L = (size_t)layers, hs = D / (size_t)heads,
           KV = (size_t)kv_heads * hs, V = (size_t)vocab;
    /* float counts, in llama2.c's order */
    size_t n_emb = V * D, n_att = L * D, n_q = L * D * D, n_k = L * KV * D, n_v = n_k,
           n_o = L * D * D, n_ffn = L * D, n_w1 = L * H * D, n_w2 = L * D * H, n_w3 = n_w1,
           n_fin = D, n_freq = (size_t)seq * hs; /* freq_cis real + imag, unused */
    size_t total = n_emb + n_att + n_q + n_k + n_v + n_o + n_ffn + n_w1 + n_w2 + n_w3 + n_fin +
                   n_freq + (shared ? 0 : n_emb);
    if ((mm->len - sizeof h) / sizeof(float) != total || (mm->len - sizeof h) % sizeof(float)) {
        fprintf(stderr,
                "seekd convert: %s: %zu bytes of weights, the header implies %zu floats "
                "(%zu bytes)\n",
                mpath, mm->len - sizeof h, total, total * sizeof(float));
        return -1;
    }
    /* the weights after a 28-byte header are not float-aligned in the mapping: copy them once */
    float *all = own(c, total * sizeof(float));
    memcpy(all, mm->p + sizeof h, total * sizeof(float));
    const float *emb = all, *att = emb + n_emb, *wq = att + n_att, *wk = wq + n_q, *wv = wk + n_k,
                *wo = wv + n_v, *ffn = wo + n_o, *w1 = ffn + n_ffn, *w2 = w1 + n_w1,
                *w3 = w2 + n_w2, *fin = w3 + n_w3, *cls = shared ? emb : fin + n_fin + n_freq;

    static const char arch[] = "llama", name[] = "llama2.c";
    gguf_w_str(&c->w, "general.architecture", arch, sizeof arch - 1);
    gguf_w_str(&c->w, "general.name", name, sizeof name - 1);
    gguf_w_u32(&c->w, "llama.context_length", (uint32_t)seq);
    gguf_w_u32(&c->w, "llama.embedding_length", (uint32_t)dim);
    gguf_w_u32(&c->w, "llama.block_count", (uint32_t)layers);
    gguf_w_u32(&c->w, "llama.feed_forward_length", (uint32_t)hidden);
    gguf_w_u32(&c->w, "llama.attention.head_count", (uint32_t)heads);
    gguf_w_u32(&c->w, "llama.attention.head_count_kv", (uint32_t)kv_heads);
    gguf_w_u32(&c->w, "llama.rope.dimension_count", (uint32_t)hs);
    gguf_w_f32(&c->w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gguf_w_f32(&c->w, "llama.rope.freq_base", 10000.0f);
    gguf_w_u32(&c->w, "general.file_type", c->type == GGML_F32 ? 0 : c->type == GGML_F16 ? 1 : 7);

    /* llama2.c rotates adjacent pairs, which is GGML's normal RoPE mode: no permutation */
    add(c, "token_embd.weight", emb, V, D);
    char nm[64];
    for (size_t l = 0; l < L; l++) {
#define NM(s) (snprintf(nm, sizeof nm, "blk.%zu." s, l), nm)
        add(c, NM("attn_norm.weight"), att + l * D, 0, D);
        add(c, NM("attn_q.weight"), wq + l * D * D, D, D);
        add(c, NM("attn_k.weight"), wk + l * KV * D, KV, D);
        add(c, NM("attn_v.weight"), wv + l * KV * D, KV, D);
        add(c, NM("attn_output.weight"), wo + l * D * D, D, D);
        add(c, NM("ffn_norm.weight"), ffn + l * D, 0, D);
        add(c, NM("ffn_gate.weight"), w1 + l * H * D, H, D);
        add(c, NM("ffn_down.weight"), w2 + l * D * H, D, H);
        add(c, NM("ffn_up.weight"), w3 + l * H * D, H, D);
#undef NM
    }
    add(c, "output_norm.weight", fin, 0, D);
    if (!shared)
        add(c, "output.weight", cls, V, D);
    return 0;
}

int cli_convert_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"type", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *type = "f32";
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            out = optarg;
            break;
        case 't':
            type = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return cli_bad_flag("convert", ch, argc, argv);
        }
    }
    if (argc - optind != 3 || strcmp(argv[optind], "llama2c") != 0 || !out) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    conv_t c = {0};
    if (!strcmp(type, "f32"))
        c.type = GGML_F32;
    else if (!strcmp(type, "f16"))
        c.type = GGML_F16;
    else if (!strcmp(type, "q8_0"))
        c.type = GGML_Q8_0;
    else {
        fprintf(stderr, "seekd convert: --type %s: f32, f16 or q8_0\n", type);
        return 2;
    }
    const char *mpath = argv[optind + 1], *tpath = argv[optind + 2];
    map_t mm = {0}, tm = {0};
    if (map_file(mpath, &mm) || map_file(tpath, &tm)) {
        if (mm.p)
            munmap((void *)mm.p, mm.len);
        return 1;
    }
    gguf_writer_init(&c.w);
    int32_t vocab = 0;
    int rc = convert(&c, &mm, mpath, &vocab);
    if (rc == 0)
        rc = add_vocab(&c, &tm, tpath, vocab);
    if (rc == 0) {
        FILE *f = fopen(out, "wb");
        rc = f ? gguf_w_write(&c.w, f) : -1;
        if (f && fclose(f) != 0)
            rc = -1;
        if (rc)
            fprintf(stderr, "seekd convert: %s: %s\n", out, strerror(errno));
    }
    gguf_writer_free(&c.w);
    for (size_t i = 0; i < c.n_owned; i++)
        free(c.owned[i]);
    free(c.owned);
    munmap((void *)mm.p, mm.len);
    munmap((void *)tm.p, tm.len);
    return rc ? 1 : 0;
}
