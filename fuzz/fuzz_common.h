/* fuzz_common.h - what the loader fuzzers do with a tokenizer that loaded. */
#ifndef SEEKD_FUZZ_COMMON_H
#define SEEKD_FUZZ_COMMON_H

#include "tokenizer/tok.h"

/* Encodes and decodes a fixed text with t, then frees it. */
static inline void fuzz_exercise(tok_t *t)
{
    static const char txt[] = "Hello world 123 你好 <｜User｜> \xff\xfe  \n\t end";
    tok_ids_t ids = {0};
    tok_encode(t, txt, sizeof txt - 1, TOK_ENC_SPECIAL | TOK_ENC_BOS, &ids);
    buf_t out;
    buf_init(&out, 1 << 20);
    tok_decode(t, ids.ids, ids.len, 0, &out);
    buf_free(&out);
    tok_ids_free(&ids);
    tok_free(t);
}

#endif
