/* fuzz_tok_encode.c - any bytes through the DeepSeek-V3 encoder: no crash, and the ids decode
 * back to exactly the input bytes; the streaming decoder agrees with the one-shot one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const tok_t *t = tok_default();
    if (!t || size == 0)
        return 0;
    unsigned flags = data[0] & (TOK_ENC_SPECIAL | TOK_ENC_BOS);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    tok_ids_t ids = {0};
    long n = tok_encode(t, text, len, flags, &ids);
    if (n < 0 || (size_t)n != ids.len || tok_count(t, text, len, flags) != n)
        abort();
    buf_t raw, one, st;
    buf_init(&raw, 1 << 24);
    buf_init(&one, 1 << 24);
    buf_init(&st, 1 << 24);
    /* skipping BOS: what is left must be the input, byte for byte */
    size_t skip = (flags & TOK_ENC_BOS) ? 1 : 0;
    if (ids.len > skip)
        tok_decode_raw(t, ids.ids + skip, ids.len - skip, 0, &raw);
    if (raw.len != len || (len && memcmp(raw.data, text, len) != 0))
        abort();
    tok_decode(t, ids.ids, ids.len, 0, &one);
    tok_stream_t s;
    tok_stream_init(&s, t, 0);
    for (size_t i = 0; i < ids.len; i++)
        tok_stream_push(&s, ids.ids[i], &st);
    tok_stream_finish(&s, &st);
    if (one.len != st.len || (one.len && memcmp(one.data, st.data, one.len) != 0))
        abort();
    buf_free(&raw);
    buf_free(&one);
    buf_free(&st);
    tok_ids_free(&ids);
    return 0;
}
