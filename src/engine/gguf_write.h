/* gguf_write.h - writes GGUF v3 files: metadata, then tensor infos, then aligned tensor data.
 * Used by `seekd convert`; the data is written from the caller's buffers, not copied. */
#ifndef SEEKD_ENGINE_GGUF_WRITE_H
#define SEEKD_ENGINE_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/buf.h"
#include "base/gguf.h"

typedef struct {
    buf_t kv;   /* encoded key/value pairs */
    buf_t info; /* encoded tensor infos */
    uint64_t n_kv, n_tensors;
    uint64_t data_size; /* so far, padded */
    struct gw_tensor *tensors;
    size_t cap;
    uint32_t alignment;
} gguf_writer_t;

void gguf_writer_init(gguf_writer_t *w);
void gguf_writer_free(gguf_writer_t *w);

void gguf_w_str(gguf_writer_t *w, const char *key, const char *val, size_t len);
void gguf_w_u32(gguf_writer_t *w, const char *key, uint32_t v);
void gguf_w_f32(gguf_writer_t *w, const char *key, float v);
void gguf_w_bool(gguf_writer_t *w, const char *key, bool v);
/** An array of n strings (strs[i] of lens[i] bytes). */
void gguf_w_arr_str(gguf_writer_t *w, const char *key, const char *const *strs, const size_t *lens,
                    uint64_t n);
void gguf_w_arr_f32(gguf_writer_t *w, const char *key, const float *v, uint64_t n);
void gguf_w_arr_i32(gguf_writer_t *w, const char *key, const int32_t *v, uint64_t n);

/** A tensor of type with n_dims dimensions ne (ne[0] contiguous); data (size bytes) must live
 * until gguf_w_write. */
void gguf_w_tensor(gguf_writer_t *w, const char *name, uint32_t type, int n_dims,
                   const uint64_t *ne, const void *data, size_t size);

/** Writes the whole file to f. Returns 0 or -1 (errno set by stdio). */
int gguf_w_write(gguf_writer_t *w, FILE *f);

#endif
