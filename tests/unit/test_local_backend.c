/* test_local_backend.c - the local backend driven directly on an event loop with a sink of the
 * test's own: a sink that says it cannot take more pauses its sequence (no tokens are produced
 * until resume(), then the answer completes equal to an unpaused one), cancel frees a running,
 * a paused and a queued call (ASan's leak check), and the counters say what happened. The
 * model: random llama weights with a placeholder SentencePiece vocabulary whose end-of-text
 * embedding is zero (tied output), so greedy decoding never ends early. */
#include <event2/event.h>
#include <event2/thread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/local.h"
#include "backend/local_int.h"
#include "base/buf.h"
#include "base/mem.h"
#include "engine/engine.h"
#include "engine/gguf_write.h"

#define DIM 32
#define FFN 64
#define LAYERS 2
#define VOCAB 300

static char path[] = "/tmp/seekd-test-local-XXXXXX";
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float frnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

static void write_model(void)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gguf_writer_t w;
    gguf_writer_init(&w);
    gguf_w_str(&w, "general.architecture", "llama", 5);
    gguf_w_str(&w, "general.name", "tiny-random", 11);
    gguf_w_u32(&w, "llama.embedding_length", DIM);
    gguf_w_u32(&w, "llama.block_count", LAYERS);
    gguf_w_u32(&w, "llama.feed_forward_length", FFN);
    gguf_w_u32(&w, "llama.attention.head_count", 4);
    gguf_w_u32(&w, "llama.attention.head_count_kv", 2);
    gguf_w_u32(&w, "llama.context_length", 256);
    /* the vocabulary: <unk> <s> </s>, 256 byte pieces, then "▁tN" */
    char *toks[VOCAB];
    size_t lens[VOCAB];
    float scores[VOCAB];
    int32_t types[VOCAB];
    for (int i = 0; i < VOCAB; i++) {
        toks[i] = xmalloc(32);
        static const char *const fim[3] = {"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"};
        if (i < 3)
            snprintf(toks[i], 16, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i >= VOCAB - 3)
            snprintf(toks[i], 32, "%s", fim[i - (VOCAB - 3)]);
        else if (i < 259)
            snprintf(toks[i], 16, "<0x%02X>", i - 3);
        else
            snprintf(toks[i], 16, "\xe2\x96\x81t%d", i);
        lens[i] = strlen(toks[i]);
        scores[i] = -(float)i;
        types[i] = i == 0 ? 2 : i < 3 || i >= VOCAB - 3 ? 3 : i < 259 ? 6 : 1;
    }
    gguf_w_str(&w, "tokenizer.ggml.model", "llama", 5);
    gguf_w_arr_str(&w, "tokenizer.ggml.tokens", (const char *const *)toks, lens, VOCAB);
    gguf_w_arr_f32(&w, "tokenizer.ggml.scores", scores, VOCAB);
    gguf_w_arr_i32(&w, "tokenizer.ggml.token_type", types, VOCAB);
    gguf_w_u32(&w, "tokenizer.ggml.bos_token_id", 1);
    gguf_w_u32(&w, "tokenizer.ggml.eos_token_id", 2);
    const int kv = DIM / 4 * 2;
    struct {
        const char *name;
        int ne0, ne1;
        float mean, scale;
    } per_layer[] = {
        {"attn_norm.weight", DIM, 0, 1, 0.1f},     {"attn_q.weight", DIM, DIM, 0, 0.2f},
        {"attn_k.weight", DIM, kv, 0, 0.2f},       {"attn_v.weight", DIM, kv, 0, 0.2f},
        {"attn_output.weight", DIM, DIM, 0, 0.2f}, {"ffn_norm.weight", DIM, 0, 1, 0.1f},
        {"ffn_gate.weight", DIM, FFN, 0, 0.2f},    {"ffn_up.weight", DIM, FFN, 0, 0.2f},
        {"ffn_down.weight", FFN, DIM, 0, 0.2f},
    };
    size_t total = (size_t)VOCAB * DIM + DIM, used = 0;
    for (int l = 0; l < LAYERS; l++)
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++)
            total += (size_t)per_layer[i].ne0 * (size_t)(per_layer[i].ne1 ? per_layer[i].ne1 : 1);
    float *blob = xmalloc(total * sizeof *blob);
#define ADD(name, ne0, ne1, mean, scale)                                                           \
    do {                                                                                           \
        size_t n_ = (size_t)(ne0) * (size_t)((ne1) ? (ne1) : 1);                                   \
        for (size_t k_ = 0; k_ < n_; k_++)                                                         \
            blob[used + k_] = (mean) + (scale)*frnd();                                             \
        uint64_t ne_[2] = {(uint64_t)(ne0), (uint64_t)(ne1)};                                      \
        gguf_w_tensor(&w, name, GGML_F32, (ne1) ? 2 : 1, ne_, blob + used, n_ * 4);                \
        used += n_;                                                                                \
    } while (0)
    ADD("token_embd.weight", DIM, VOCAB, 0, 0.5f);
    memset(blob + 2 * DIM, 0, DIM * sizeof *blob); /* </s>: logit 0, never the argmax */
    char nm[64];
    for (int l = 0; l < LAYERS; l++)
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++) {
            snprintf(nm, sizeof nm, "blk.%d.%s", l, per_layer[i].name);
            ADD(nm, per_layer[i].ne0, per_layer[i].ne1, per_layer[i].mean, per_layer[i].scale);
        }
    ADD("output_norm.weight", DIM, 0, 1, 0.1f);
#undef ADD
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gguf_w_write(&w, f), 0);
    assert_int_equal(fclose(f), 0);
    gguf_writer_free(&w);
    free(blob);
    for (int i = 0; i < VOCAB; i++)
        free(toks[i]);
}

/* ---- a sink of our own ---- */

typedef struct {
    bk_sink_t sink;
    struct event_base *base;
    bool writable, ended;
    int deliveries, deltas;
    char finish[16];
    bk_usage_t usage;
    buf_t text;
} tsink_t;

static int t_events(bk_sink_t *s, const bk_event_t *ev, int n)
{
    tsink_t *t = (tsink_t *)s;
    t->deliveries++;
    for (int i = 0; i < n; i++) {
        if (ev[i].type == BK_EV_CONTENT_DELTA) {
            t->deltas++;
            buf_append(&t->text, ev[i].text.ptr, ev[i].text.len);
        } else if (ev[i].type == BK_EV_FINISH) {
            slice_copy_cstr(t->finish, sizeof t->finish, ev[i].text);
        } else if (ev[i].type == BK_EV_USAGE) {
            t->usage = ev[i].usage;
        } else if (ev[i].type == BK_EV_ERROR) {
            fail_msg("error event: %.*s", (int)ev[i].error.message.len, ev[i].error.message.ptr);
        }
    }
    return 0;
}

static void t_end(bk_sink_t *s)
{
    tsink_t *t = (tsink_t *)s;
    t->ended = true;
    event_base_loopbreak(t->base);
}

static bool t_writable(bk_sink_t *s)
{
    return ((tsink_t *)s)->writable;
}

static void tsink_init(tsink_t *t, struct event_base *base, bool writable)
{
    memset(t, 0, sizeof *t);
    t->sink = (bk_sink_t){.events = t_events, .end = t_end, .writable = t_writable};
    t->base = base;
    t->writable = writable;
    buf_init(&t->text, 1 << 20);
}

static const char BODY[] =
    "{\"model\":\"tiny-random\",\"messages\":[{\"role\":\"user\",\"content\":"
    "\"t300 t301\"}],\"temperature\":0,\"max_tokens\":60}";

static bk_call_t *start(local_t *l, tsink_t *t)
{
    bk_request_t r = {.kind = BK_KIND_CHAT,
                      .request_id = "test",
                      .model = "tiny-random",
                      .raw_body = {BODY, sizeof BODY - 1}};
    backend_t *be = local_backend(l);
    return be->start(be, &r, &t->sink);
}

/* Runs the loop for ms milliseconds, or until a sink ends it. */
static void run_for(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static local_t *open_local(struct event_base *base, int slots, int queue)
{
    local_model_def_t d = {.path = path, .chat_template = "raw", .slots = slots, .queue = queue};
    char err[512];
    local_t *l = local_new(base, &d, 1, err, sizeof err);
    if (!l)
        fail_msg("%s", err);
    assert_string_equal(local_name(l, 0), "tiny-random");
    return l;
}

static void pause_resume_and_cancel(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    local_t *l = open_local(base, 2, 4);
    backend_t *be = local_backend(l);

    /* the reference: never paused */
    tsink_t ref;
    tsink_init(&ref, base, true);
    start(l, &ref);
    while (!ref.ended)
        run_for(base, 5000);
    assert_string_equal(ref.finish, "length");
    assert_int_equal(ref.usage.completion_tokens, 60);
    assert_true(ref.text.len > 60);

    /* a sink that cannot take more: the sequence stops after what was already under way */
    tsink_t slow;
    tsink_init(&slow, base, false);
    bk_call_t *c = start(l, &slow);
    run_for(base, 300);
    assert_false(slow.ended);
    int d0 = slow.deltas;
    /* it runs at most LOCAL_OUTBOX_MAX tokens ahead of a client that stopped taking them */
    assert_true(d0 >= 1 && d0 <= LOCAL_OUTBOX_MAX);
    run_for(base, 300);
    assert_int_equal(slow.deltas, d0); /* paused: nothing more */
    slow.writable = true;
    be->resume(c);
    while (!slow.ended)
        run_for(base, 5000);
    assert_string_equal(slow.finish, "length");
    assert_int_equal(slow.usage.completion_tokens, 60);
    assert_int_equal(slow.text.len, ref.text.len);
    assert_memory_equal(slow.text.data, ref.text.data, ref.text.len);
    /* the same prompt again reuses nothing: its 15 tokens are less than one unit of 64 */
    assert_int_equal(slow.usage.prompt_cache_hit_tokens, 0);

    /* cancel a paused call, and one still queued behind two slots */
    tsink_t p1, p2, q;
    tsink_init(&p1, base, false);
    tsink_init(&p2, base, false);
    tsink_init(&q, base, true);
    bk_call_t *c1 = start(l, &p1), *c2 = start(l, &p2), *c3 = start(l, &q);
    run_for(base, 300);
    assert_false(q.ended);
    assert_int_equal(q.deliveries, 0); /* waiting for a slot */
    be->cancel(c3);
    be->cancel(c1);
    be->cancel(c2);
    run_for(base, 300); /* the scheduler lets go of the running ones; the loop frees them */
    assert_false(p1.ended || p2.ended || q.ended); /* a cancelled call's sink hears nothing */
    local_stats_t st;
    local_stats(l, &st);
    assert_int_equal(st.requests, 5);
    assert_int_equal(st.finished, 2);
    assert_int_equal(st.cancelled, 3);
    assert_true(st.decode_rows >= st.decode_steps);
    local_free(l);
    event_base_free(base);
    buf_free(&ref.text);
    buf_free(&slow.text);
    buf_free(&p1.text);
    buf_free(&p2.text);
    buf_free(&q.text);
}

/* /beta/completions: the prompt alone after BOS; with a suffix, deepseek-coder's FIM layout
 * with the vocabulary's FIM tokens. */
static void fim_prompts(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    local_t *l = open_local(base, 1, 1);
    eng_model_t *m;
    char err[256];
    assert_int_equal(eng_model_load(path, &(eng_opts_t){0}, &m, err, sizeof err), 0);
    long np = tok_count(eng_model_tok(m), "t300 t301", 9, 0);
    long ns = tok_count(eng_model_tok(m), " t302", 5, 0);
    eng_model_free(m);
    static const char *const bodies[2] = {
        "{\"model\":\"tiny-random\",\"prompt\":\"t300 t301\",\"max_tokens\":3,\"temperature\":0}",
        "{\"model\":\"tiny-random\",\"prompt\":\"t300 t301\",\"suffix\":\" t302\",\"max_tokens\":3,"
        "\"temperature\":0}"};
    for (int k = 0; k < 2; k++) {
        tsink_t t;
        tsink_init(&t, base, true);
        bk_request_t r = {.kind = BK_KIND_FIM,
                          .request_id = "fim",
                          .model = "tiny-random",
                          .raw_body = {bodies[k], strlen(bodies[k])}};
        local_backend(l)->start(local_backend(l), &r, &t.sink);
        while (!t.ended)
            run_for(base, 5000);
        assert_int_equal(t.usage.completion_tokens, 3);
        assert_int_equal(t.usage.prompt_tokens, k ? 1 + 3 + np + ns : 1 + np);
        buf_free(&t.text);
    }
    local_free(l);
    event_base_free(base);
}

/* eng_step: a prompt chunk of one sequence and decode tokens of two others in one pass give
 * the logits of the separate prefill and decode calls. */
static void mixed_step_equals_separate_calls(void **state)
{
    (void)state;
    eng_model_t *m;
    char err[256];
    assert_int_equal(eng_model_load(path, &(eng_opts_t){.threads = 2}, &m, err, sizeof err), 0);
    const int nv = VOCAB;
    const int32_t pa[5] = {1, 300 - 10, 17, 42, 5}, pb[3] = {1, 99, 7},
                  pc[9] = {1, 3, 4, 5, 6, 7, 8, 9, 10};
    float *sep = xmalloc(3 * (size_t)nv * sizeof(float)),
          *mix = xmalloc(3 * (size_t)nv * sizeof(float));
    eng_seq_t *s[2][3];
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 3; j++)
            s[k][j] = eng_seq_new(m);
        assert_int_equal(eng_prefill(s[k][0], pa, 5, NULL, false), 0);
        assert_int_equal(eng_prefill(s[k][1], pb, 3, NULL, false), 0);
        assert_int_equal(eng_prefill(s[k][2], pc, 2, NULL, false), 0);
    }
    const int32_t next[2] = {77, 88};
    /* separately: a and b decode, c takes its next 7 prompt tokens */
    assert_int_equal(eng_decode(s[0], 2, next, sep), 0);
    assert_int_equal(eng_prefill(s[0][2], pc + 2, 7, sep + 2 * (size_t)nv, false), 0);
    /* together */
    assert_int_equal(eng_step(s[1][2], pc + 2, 7, true, s[1], 2, next, mix), 0);
    double worst = 0;
    for (size_t i = 0; i < 3 * (size_t)nv; i++) {
        double d = sep[i] > mix[i] ? sep[i] - mix[i] : mix[i] - sep[i];
        if (d > worst)
            worst = d;
    }
    assert_true(worst <= 1e-4);
    for (int j = 0; j < 3; j++)
        assert_int_equal(eng_seq_pos(s[1][j]), eng_seq_pos(s[0][j]));
    /* refusals: a sequence both prefilling and decoding, more rows than a pass takes */
    assert_int_equal(eng_step(s[1][0], pc, 1, true, s[1], 2, next, mix), ENG_EINVAL);
    int32_t many[600] = {0};
    assert_int_equal(eng_step(s[1][2], many, eng_model_batch(m), false, s[1], 2, next, mix),
                     ENG_EINVAL);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 3; j++)
            eng_seq_free(s[k][j]);
    free(sep);
    free(mix);
    eng_model_free(m);
}

static int setup(void **state)
{
    (void)state;
    evthread_use_pthreads();
    write_model();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pause_resume_and_cancel),
        cmocka_unit_test(fim_prompts),
        cmocka_unit_test(mixed_step_equals_separate_calls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
