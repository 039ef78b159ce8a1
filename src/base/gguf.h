/* gguf.h - the one GGUF (v2/v3) reader: header, metadata and tensor table, every count, offset,
 * size, type and alignment checked against the file size; used by the tokenizer (vocabularies)
 * and the engine (weights). It lives in base/ because both may use base/ and the tokenizer may
 * not use engine/. */
#ifndef SEEKD_BASE_GGUF_H
#define SEEKD_BASE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, as numbered in the file. */
typedef enum {
    GGUF_U8 = 0,
    GGUF_I8 = 1,
    GGUF_U16 = 2,
    GGUF_I16 = 3,
    GGUF_U32 = 4,
    GGUF_I32 = 5,
    GGUF_F32 = 6,
    GGUF_BOOL = 7,
    GGUF_STR = 8,
    GGUF_ARR = 9,
    GGUF_U64 = 10,
    GGUF_I64 = 11,
    GGUF_F64 = 12,
} gguf_vtype_t;

/* Tensor element types (GGML's numbering). Only those with a size in gguf_type_info load. */
typedef enum {
    GGML_F32 = 0,
    GGML_F16 = 1,
    GGML_Q4_0 = 2,
    GGML_Q4_1 = 3,
    GGML_Q5_0 = 6,
    GGML_Q5_1 = 7,
    GGML_Q8_0 = 8,
    GGML_Q8_1 = 9,
    GGML_Q2_K = 10,
    GGML_Q3_K = 11,
    GGML_Q4_K = 12,
    GGML_Q5_K = 13,
    GGML_Q6_K = 14,
    GGML_Q8_K = 15,
    GGML_I8 = 24,
    GGML_I16 = 25,
    GGML_I32 = 26,
    GGML_I64 = 27,
    GGML_F64 = 28,
    GGML_BF16 = 30,
    GGML_TYPE_COUNT = 31,
} ggml_type_t;

enum {
    GGUF_EFORMAT = -1, /* malformed or truncated; the message says what */
    GGUF_EIO = -2,     /* cannot open/read/map the file */
    GGUF_ENOTFOUND = -3,
    GGUF_ETYPE = -4, /* the key exists with another type */
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    const char *key; /* not NUL-terminated */
    size_t key_len;
    uint32_t type;     /* gguf_vtype_t */
    size_t pos;        /* offset of the value (for arrays: of the first element) */
    uint32_t arr_type; /* arrays: element type */
    uint64_t arr_n;    /* arrays: element count */
} gguf_kv_t;

typedef struct {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    uint32_t type;              /* ggml_type_t */
    uint32_t n_dims;            /* 1..GGUF_MAX_DIMS */
    uint64_t ne[GGUF_MAX_DIMS]; /* elements per dimension, ne[0] contiguous; unused = 1 */
    uint64_t n_elems;           /* product of ne */
    uint64_t offset;            /* from the start of the data section */
    uint64_t size;              /* bytes */
    const unsigned char *data;  /* inside the file */
} gguf_tensor_t;

typedef struct {
    const unsigned char *data; /* the whole file */
    size_t size;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv_t *kv;
    gguf_tensor_t *tensors;
    uint32_t alignment;
    uint64_t data_off; /* start of the tensor data section */
    void *map;         /* set by gguf_open: the mapping to unmap */
    size_t map_len;
} gguf_t;

/** Size of one block of a tensor type and how many elements it holds; false for types the
 * reader does not know. */
bool gguf_type_info(uint32_t type, size_t *block_bytes, size_t *block_elems);
/** "F32", "Q4_K", ... or "?". */
const char *gguf_type_name(uint32_t type);

/** Parses the file image data[0..size), which must outlive g. Checks the header, every key and
 * value, the tensor table (names unique, known types, sane dimensions, sizes that fit, offsets
 * aligned and inside the file, no two tensors overlapping). On error writes a message into err
 * ("tensor 'blk.3.attn_q.weight': data runs past the end of the file") and returns
 * GGUF_EFORMAT; g then holds nothing to free. */
int gguf_parse(const void *data, size_t size, gguf_t *g, char *err, size_t errsz);
/** Maps the file at path read-only (no copy) and parses it. */
int gguf_open(const char *path, gguf_t *g, char *err, size_t errsz);
/** Frees the tables, and unmaps what gguf_open mapped. */
void gguf_close(gguf_t *g);

/** The metadata entry named key (NUL-terminated), or NULL. */
const gguf_kv_t *gguf_find(const gguf_t *g, const char *key);
/** A string value: *s points into the file (not NUL-terminated). */
int gguf_get_str(const gguf_t *g, const char *key, const char **s, size_t *len);
/** Any integer or bool value, as int64 (a u64 above INT64_MAX is GGUF_ETYPE). */
int gguf_get_int(const gguf_t *g, const char *key, int64_t *v);
/** A float value (f32 or f64; integers are accepted too). */
int gguf_get_float(const gguf_t *g, const char *key, double *v);
/** An array's element type and count. */
int gguf_get_arr(const gguf_t *g, const char *key, uint32_t *elem_type, uint64_t *n);

/** Element i of a fixed-size numeric array kv, converted; bounds were checked at parse. */
int64_t gguf_arr_int(const gguf_t *g, const gguf_kv_t *kv, uint64_t i);
double gguf_arr_float(const gguf_t *g, const gguf_kv_t *kv, uint64_t i);

/** Walks a string array in order: init with the kv, then next gives each string. */
typedef struct {
    const gguf_t *g;
    size_t pos;
    uint64_t left;
} gguf_str_iter_t;
void gguf_str_iter_init(gguf_str_iter_t *it, const gguf_t *g, const gguf_kv_t *kv);
/** Next string, or false at the end. */
bool gguf_str_iter_next(gguf_str_iter_t *it, const char **s, size_t *len);

/** The tensor named name (NUL-terminated), or NULL. */
const gguf_tensor_t *gguf_tensor(const gguf_t *g, const char *name);

#endif
