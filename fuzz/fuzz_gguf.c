/* fuzz_gguf.c - any bytes as a GGUF file (base/gguf.c, the engine's and the tokenizer's reader):
 * refused with a message, or parsed into tables every accessor can walk without reading outside
 * the input. */
#include <stdint.h>
#include <string.h>

#include "base/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_t g;
    char err[256];
    if (gguf_parse(data, size, &g, err, sizeof err) != 0) {
        if (!memchr(err, 0, sizeof err) || !err[0])
            __builtin_trap(); /* every refusal says why */
        return 0;
    }
    volatile uint64_t sink = 0;
    for (uint64_t i = 0; i < g.n_kv; i++) {
        const gguf_kv_t *kv = &g.kv[i];
        char key[128];
        size_t kl = kv->key_len < sizeof key - 1 ? kv->key_len : sizeof key - 1;
        memcpy(key, kv->key, kl);
        key[kl] = 0;
        int64_t v;
        double d;
        const char *s;
        size_t len;
        if (gguf_get_int(&g, key, &v) == 0)
            sink += (uint64_t)v;
        if (gguf_get_float(&g, key, &d) == 0)
            sink += (uint64_t)(d == d);
        if (gguf_get_str(&g, key, &s, &len) == 0 && len)
            sink += (unsigned char)s[len - 1];
        if (kv->type == GGUF_ARR && kv->arr_type == GGUF_STR) {
            gguf_str_iter_t it;
            gguf_str_iter_init(&it, &g, kv);
            while (gguf_str_iter_next(&it, &s, &len))
                sink += len ? (unsigned char)s[0] + (unsigned char)s[len - 1] : 0;
        } else if (kv->type == GGUF_ARR) {
            for (uint64_t j = 0; j < kv->arr_n && j < 4096; j++)
                sink += (uint64_t)gguf_arr_int(&g, kv, j) + (gguf_arr_float(&g, kv, j) > 0);
            if (kv->arr_n)
                sink += (uint64_t)gguf_arr_int(&g, kv, kv->arr_n - 1);
        }
    }
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor_t *t = &g.tensors[i];
        char name[128];
        size_t nl = t->name_len < sizeof name - 1 ? t->name_len : sizeof name - 1;
        memcpy(name, t->name, nl);
        name[nl] = 0;
        if (nl == t->name_len && !memchr(t->name, 0, t->name_len) && gguf_tensor(&g, name) != t)
            __builtin_trap(); /* names are unique, so lookup finds this one */
        if (t->size)
            sink += t->data[0] + t->data[t->size - 1];
    }
    (void)sink;
    gguf_close(&g);
    return 0;
}
