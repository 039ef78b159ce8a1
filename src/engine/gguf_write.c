/* gguf_write.c - the GGUF v3 writer: little-endian fields, 32-byte aligned tensor data. */
#include "engine/gguf_write.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

struct gw_tensor {
    const void *data;
    size_t size;
};

#define GW_CAP ((size_t)1 << 31)

void gguf_writer_init(gguf_writer_t *w)
{
    memset(w, 0, sizeof *w);
    buf_init(&w->kv, GW_CAP);
    buf_init(&w->info, GW_CAP);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
}

void gguf_writer_free(gguf_writer_t *w)
{
    buf_free(&w->kv);
    buf_free(&w->info);
    free(w->tensors);
    memset(w, 0, sizeof *w);
}

static void put_le(buf_t *b, uint64_t v, int n)
{
    unsigned char c[8];
    for (int i = 0; i < n; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, c, (size_t)n);
}

static void put_str(buf_t *b, const char *s, size_t len)
{
    put_le(b, len, 8);
    buf_append(b, s, len);
}

static void key(gguf_writer_t *w, const char *k, uint32_t type)
{
    put_str(&w->kv, k, strlen(k));
    put_le(&w->kv, type, 4);
    w->n_kv++;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

void gguf_w_str(gguf_writer_t *w, const char *k, const char *val, size_t len)
{
    key(w, k, GGUF_STR);
    put_str(&w->kv, val, len);
}

void gguf_w_u32(gguf_writer_t *w, const char *k, uint32_t v)
{
    key(w, k, GGUF_U32);
    put_le(&w->kv, v, 4);
}

void gguf_w_f32(gguf_writer_t *w, const char *k, float v)
{
    key(w, k, GGUF_F32);
    put_le(&w->kv, f32_bits(v), 4);
}

void gguf_w_bool(gguf_writer_t *w, const char *k, bool v)
{
    key(w, k, GGUF_BOOL);
    put_le(&w->kv, v, 1);
}

void gguf_w_arr_str(gguf_writer_t *w, const char *k, const char *const *strs, const size_t *lens,
                    uint64_t n)
{
    key(w, k, GGUF_ARR);
    put_le(&w->kv, GGUF_STR, 4);
    put_le(&w->kv, n, 8);
    for (uint64_t i = 0; i < n; i++)
        put_str(&w->kv, strs[i], lens[i]);
}

void gguf_w_arr_f32(gguf_writer_t *w, const char *k, const float *v, uint64_t n)
{
    key(w, k, GGUF_ARR);
    put_le(&w->kv, GGUF_F32, 4);
    put_le(&w->kv, n, 8);
    for (uint64_t i = 0; i < n; i++)
        put_le(&w->kv, f32_bits(v[i]), 4);
}

void gguf_w_arr_i32(gguf_writer_t *w, const char *k, const int32_t *v, uint64_t n)
{
    key(w, k, GGUF_ARR);
    put_le(&w->kv, GGUF_I32, 4);
    put_le(&w->kv, n, 8);
    for (uint64_t i = 0; i < n; i++)
        put_le(&w->kv, (uint32_t)v[i], 4);
}

void gguf_w_tensor(gguf_writer_t *w, const char *name, uint32_t type, int n_dims,
                   const uint64_t *ne, const void *data, size_t size)
{
    put_str(&w->info, name, strlen(name));
    put_le(&w->info, (uint64_t)n_dims, 4);
    for (int d = 0; d < n_dims; d++)
        put_le(&w->info, ne[d], 8);
    put_le(&w->info, type, 4);
    put_le(&w->info, w->data_size, 8);
    if (w->n_tensors == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->tensors = xrealloc(w->tensors, w->cap * sizeof *w->tensors);
    }
    w->tensors[w->n_tensors++] = (struct gw_tensor){data, size};
    w->data_size += (size + w->alignment - 1) / w->alignment * w->alignment;
}

static int pad(FILE *f, uint64_t at, uint32_t align)
{
    static const char zeros[64];
    size_t n = (size_t)((align - at % align) % align);
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        if (fwrite(zeros, 1, k, f) != k)
            return -1;
        n -= k;
    }
    return 0;
}

int gguf_w_write(gguf_writer_t *w, FILE *f)
{
    if (buf_failed(&w->kv) || buf_failed(&w->info))
        return -1;
    buf_t h;
    buf_init(&h, 64);
    buf_append(&h, "GGUF", 4);
    put_le(&h, 3, 4);
    put_le(&h, w->n_tensors, 8);
    put_le(&h, w->n_kv, 8);
    int rc = fwrite(h.data, 1, h.len, f) == h.len ? 0 : -1;
    uint64_t at = h.len;
    buf_free(&h);
    if (rc == 0 && w->kv.len && fwrite(w->kv.data, 1, w->kv.len, f) != w->kv.len)
        rc = -1;
    at += w->kv.len;
    if (rc == 0 && w->info.len && fwrite(w->info.data, 1, w->info.len, f) != w->info.len)
        rc = -1;
    at += w->info.len;
    if (rc == 0)
        rc = pad(f, at, w->alignment);
    for (uint64_t i = 0; i < w->n_tensors && rc == 0; i++) {
        const struct gw_tensor *t = &w->tensors[i];
        if (t->size && fwrite(t->data, 1, t->size, f) != t->size)
            rc = -1;
        if (rc == 0)
            rc = pad(f, t->size, w->alignment);
    }
    return rc;
}
