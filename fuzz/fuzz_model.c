/* fuzz_model.c - any bytes as a model file: the GGUF reader, then the engine's checks of the
 * architecture's hyper-parameters and tensors (names, shapes, types) and the vocabulary; a file
 * that passes them all runs a short forward pass (two prompt tokens, one decode step) on whatever
 * weights it holds, with each kernel set this CPU has. Refused with a message, or run, never a
 * crash. */
#include <stdint.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eng_model_t *m = NULL;
    char err[512];
    eng_opts_t o = {.threads = 1, .ctx = 8, .batch = 4};
    if (eng_model_load_mem(data, size, &o, &m, err, sizeof err) != 0) {
        if (!memchr(err, 0, sizeof err) || !err[0])
            __builtin_trap(); /* every refusal says why */
        return 0;
    }
    const eng_hparams_t *hp = eng_model_hparams(m);
    /* the fuzzer's inputs are small, so is any model that loads from one */
    static float logits[(64u << 20) / sizeof(float)];
    for (int isa = 0; isa < ENG_ISA_COUNT; isa++) {
        if ((size_t)hp->n_vocab * 2 > sizeof logits / sizeof logits[0] ||
            eng_isa_set((eng_isa_t)isa) != 0)
            continue;
        eng_seq_t *s = eng_seq_new(m);
        int32_t ids[2] = {0, hp->n_vocab - 1};
        if (eng_prefill(s, ids, 2, logits, true) == 0) {
            eng_seq_t *const one[1] = {s};
            eng_decode(one, 1, ids, logits);
        }
        eng_seq_free(s);
    }
    eng_model_free(m);
    return 0;
}
