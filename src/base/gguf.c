/* gguf.c - parses and validates a GGUF v2/v3 file image: header, metadata, tensor table. */
#include "base/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"

/* ---- types ---- */

static const struct {
    const char *name;
    unsigned char block_elems;
    unsigned short block_bytes;
} types[GGML_TYPE_COUNT] = {
    [GGML_F32] = {"F32", 1, 4},     [GGML_F16] = {"F16", 1, 2},     [GGML_Q4_0] = {"Q4_0", 32, 18},
    [GGML_Q4_1] = {"Q4_1", 32, 20}, [GGML_Q5_0] = {"Q5_0", 32, 22}, [GGML_Q5_1] = {"Q5_1", 32, 24},
    [GGML_Q8_0] = {"Q8_0", 32, 34}, [GGML_Q8_1] = {"Q8_1", 32, 36}, [GGML_Q2_K] = {"Q2_K", 0, 84},
    [GGML_Q3_K] = {"Q3_K", 0, 110}, [GGML_Q4_K] = {"Q4_K", 0, 144}, [GGML_Q5_K] = {"Q5_K", 0, 176},
    [GGML_Q6_K] = {"Q6_K", 0, 210}, [GGML_Q8_K] = {"Q8_K", 0, 292}, [GGML_I8] = {"I8", 1, 1},
    [GGML_I16] = {"I16", 1, 2},     [GGML_I32] = {"I32", 1, 4},     [GGML_I64] = {"I64", 1, 8},
    [GGML_F64] = {"F64", 1, 8},     [GGML_BF16] = {"BF16", 1, 2},
};

bool gguf_type_info(uint32_t type, size_t *block_bytes, size_t *block_elems)
{
    if (type >= GGML_TYPE_COUNT || !types[type].name)
        return false;
    *block_bytes = types[type].block_bytes;
    /* the K-quants' 256 does not fit the table's byte */
    *block_elems = types[type].block_elems ? types[type].block_elems : 256;
    return true;
}

const char *gguf_type_name(uint32_t type)
{
    return type < GGML_TYPE_COUNT && types[type].name ? types[type].name : "?";
}

/* ---- bounded reading ---- */

typedef struct {
    const unsigned char *p;
    size_t len, pos;
    bool bad;
} rd_t;

static bool need(rd_t *r, uint64_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint64_t le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) /* GGUF is little-endian */
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t rd_u(rd_t *r, size_t n)
{
    if (!need(r, n))
        return 0;
    uint64_t v = le(r->p + r->pos, n);
    r->pos += n;
    return v;
}

static const char *rd_str(rd_t *r, size_t *len)
{
    uint64_t n = rd_u(r, 8);
    *len = 0;
    if (!need(r, n))
        return "";
    const char *s = (const char *)r->p + r->pos;
    r->pos += n;
    *len = n;
    return s;
}

static size_t scalar_size(uint32_t ty)
{
    switch (ty) {
    case GGUF_U8:
    case GGUF_I8:
    case GGUF_BOOL:
        return 1;
    case GGUF_U16:
    case GGUF_I16:
        return 2;
    case GGUF_U32:
    case GGUF_I32:
    case GGUF_F32:
        return 4;
    case GGUF_U64:
    case GGUF_I64:
    case GGUF_F64:
        return 8;
    default:
        return 0;
    }
}

/* ---- errors ---- */

static int fail(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsz, const char *fmt, ...)
{
    if (err && errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return GGUF_EFORMAT;
}

/* A name from the file made printable for a message: at most 64 bytes, controls as '?'. */
static const char *printable(const char *s, size_t len, char out[72])
{
    size_t n = len > 64 ? 64 : len, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (len > n)
        out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i] = 0;
    return out;
}

/* ---- values ---- */

/* Skips one value of type ty at r, checking it fits; arrays may hold arrays two deep. */
static void skip_value(rd_t *r, uint32_t ty, int depth)
{
    if (ty == GGUF_STR) {
        size_t l;
        rd_str(r, &l);
    } else if (ty == GGUF_ARR) {
        uint32_t et = (uint32_t)rd_u(r, 4);
        uint64_t n = rd_u(r, 8);
        size_t es = scalar_size(et);
        if (r->bad)
            return;
        if (es) {
            if (n > (r->len - r->pos) / es)
                r->bad = true;
            else
                r->pos += n * es;
        } else if (et == GGUF_STR || (et == GGUF_ARR && depth < 2)) {
            /* each element takes at least 8 bytes, so n is bounded by the file */
            if (n > (r->len - r->pos) / 8)
                r->bad = true;
            for (uint64_t i = 0; i < n && !r->bad; i++)
                skip_value(r, et, depth + 1);
        } else {
            r->bad = true;
        }
    } else {
        size_t s = scalar_size(ty);
        if (!s)
            r->bad = true;
        else if (need(r, s))
            r->pos += s;
    }
}

static bool key_is(const char *k, size_t kl, const char *want)
{
    return kl == strlen(want) && memcmp(k, want, kl) == 0;
}

/* ---- tensors ---- */

static int by_name(const void *a, const void *b)
{
    const gguf_tensor_t *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

static int by_offset(const void *a, const void *b)
{
    const gguf_tensor_t *x = *(gguf_tensor_t *const *)a, *y = *(gguf_tensor_t *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int read_tensor(rd_t *r, gguf_tensor_t *t, char *err, size_t errsz)
{
    char nb[72];
    t->name = rd_str(r, &t->name_len);
    t->n_dims = (uint32_t)rd_u(r, 4);
    if (r->bad)
        return fail(err, errsz, "tensor table truncated");
    const char *nm = printable(t->name, t->name_len, nb);
    if (t->name_len == 0)
        return fail(err, errsz, "a tensor has an empty name");
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return fail(err, errsz, "tensor '%s': %u dimensions (1 to %d)", nm, t->n_dims,
                    GGUF_MAX_DIMS);
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = d < t->n_dims ? rd_u(r, 8) : 1;
        if (r->bad)
            return fail(err, errsz, "tensor '%s': table truncated", nm);
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX / n)
            return fail(err, errsz, "tensor '%s': dimension %u is %llu", nm, d,
                        (unsigned long long)t->ne[d]);
        n *= t->ne[d];
    }
    t->n_elems = n;
    t->type = (uint32_t)rd_u(r, 4);
    t->offset = rd_u(r, 8);
    if (r->bad)
        return fail(err, errsz, "tensor '%s': table truncated", nm);
    size_t bb, be;
    if (!gguf_type_info(t->type, &bb, &be))
        return fail(err, errsz, "tensor '%s': unknown type %u", nm, t->type);
    if (t->ne[0] % be)
        return fail(err, errsz,
                    "tensor '%s': row of %llu elements is not a whole number of %s "
                    "blocks (%zu)",
                    nm, (unsigned long long)t->ne[0], gguf_type_name(t->type), be);
    uint64_t blocks = n / be;
    if (blocks > UINT64_MAX / bb)
        return fail(err, errsz, "tensor '%s': size overflows", nm);
    t->size = blocks * bb;
    return 0;
}

/* Places the tensors in the data section and checks they fit, are aligned and do not overlap. */
static int place_tensors(gguf_t *g, char *err, size_t errsz)
{
    char nb[72];
    uint64_t avail = g->size - g->data_off;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor_t *t = &g->tensors[i];
        const char *nm = printable(t->name, t->name_len, nb);
        if (t->offset % g->alignment)
            return fail(err, errsz,
                        "tensor '%s': offset %llu is not a multiple of the alignment %u", nm,
                        (unsigned long long)t->offset, g->alignment);
        if (t->offset > avail || t->size > avail - t->offset)
            return fail(err, errsz, "tensor '%s': data runs past the end of the file", nm);
        t->data = g->data + g->data_off + t->offset;
    }
    if (g->n_tensors < 2)
        return 0;
    gguf_tensor_t **order = xmalloc(g->n_tensors * sizeof *order);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        order[i] = &g->tensors[i];
    qsort(order, g->n_tensors, sizeof *order, by_offset);
    int rc = 0;
    for (uint64_t i = 1; i < g->n_tensors && !rc; i++) {
        const gguf_tensor_t *a = order[i - 1], *b = order[i];
        if (a->offset + a->size > b->offset) {
            char nb2[72];
            rc = fail(err, errsz, "tensors '%s' and '%s' overlap",
                      printable(a->name, a->name_len, nb), printable(b->name, b->name_len, nb2));
        }
    }
    free(order);
    return rc;
}

/* ---- the file ---- */

static int parse(gguf_t *g, char *err, size_t errsz)
{
    rd_t r = {g->data, g->size, 0, false};
    char kb[72];
    if (g->size < 4 || memcmp(g->data, "GGUF", 4) != 0)
        return fail(err, errsz, "not a GGUF file (no 'GGUF' magic)");
    r.pos = 4;
    g->version = (uint32_t)rd_u(&r, 4);
    g->n_tensors = rd_u(&r, 8);
    g->n_kv = rd_u(&r, 8);
    if (r.bad)
        return fail(err, errsz, "GGUF header truncated");
    if (g->version < 2 || g->version > 3)
        return fail(err, errsz, "GGUF version %u not supported (2 or 3)", g->version);
    /* a key/value takes at least 8+4+1 bytes, a tensor entry 8+4+8+4+8 */
    if (g->n_kv > (g->size - r.pos) / 13)
        return fail(err, errsz, "metadata count %llu is more than the file can hold",
                    (unsigned long long)g->n_kv);
    if (g->n_tensors > (g->size - r.pos) / 32)
        return fail(err, errsz, "tensor count %llu is more than the file can hold",
                    (unsigned long long)g->n_tensors);
    g->kv = xcalloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        gguf_kv_t *kv = &g->kv[i];
        kv->key = rd_str(&r, &kv->key_len);
        kv->type = (uint32_t)rd_u(&r, 4);
        if (r.bad)
            return fail(err, errsz, "metadata entry %llu truncated", (unsigned long long)i);
        const char *kn = printable(kv->key, kv->key_len, kb);
        if (kv->type == GGUF_ARR) {
            size_t at = r.pos;
            kv->arr_type = (uint32_t)rd_u(&r, 4);
            kv->arr_n = rd_u(&r, 8);
            kv->pos = at + 12;
            r.pos = at;
        } else {
            kv->pos = r.pos;
        }
        if (kv->type > GGUF_F64 || (kv->type == GGUF_ARR && kv->arr_type > GGUF_F64))
            return fail(err, errsz, "metadata '%s': unknown value type", kn);
        skip_value(&r, kv->type, 0);
        if (r.bad)
            return fail(err, errsz, "metadata '%s': value truncated or malformed", kn);
        if (key_is(kv->key, kv->key_len, "general.alignment")) {
            uint64_t a = kv->type == GGUF_U32 ? le(g->data + kv->pos, 4) : 0;
            if (kv->type != GGUF_U32 || a == 0 || (a & (a - 1)) || a > (1u << 20))
                return fail(err, errsz, "general.alignment must be a u32 power of two up to 1 MiB");
            g->alignment = (uint32_t)a;
        }
    }
    g->tensors = xcalloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        int rc = read_tensor(&r, &g->tensors[i], err, errsz);
        if (rc)
            return rc;
    }
    /* the data section starts at the next multiple of the alignment */
    uint64_t off = r.pos + (g->alignment - r.pos % g->alignment) % g->alignment;
    if (g->n_tensors == 0) {
        g->data_off = off < g->size ? off : g->size; /* a vocabulary-only file may end here */
        return 0;
    }
    if (off > g->size)
        return fail(err, errsz, "the tensor data section starts past the end of the file");
    g->data_off = off;
    qsort(g->tensors, g->n_tensors, sizeof *g->tensors, by_name);
    for (uint64_t i = 1; i < g->n_tensors; i++)
        if (by_name(&g->tensors[i - 1], &g->tensors[i]) == 0)
            return fail(err, errsz, "tensor '%s' appears twice",
                        printable(g->tensors[i].name, g->tensors[i].name_len, kb));
    return place_tensors(g, err, errsz);
}

int gguf_parse(const void *data, size_t size, gguf_t *g, char *err, size_t errsz)
{
    memset(g, 0, sizeof *g);
    g->data = data;
    g->size = size;
    int rc = parse(g, err, errsz);
    if (rc) {
        free(g->kv);
        free(g->tensors);
        memset(g, 0, sizeof *g);
    }
    return rc;
}

int gguf_open(const char *path, gguf_t *g, char *err, size_t errsz)
{
    memset(g, 0, sizeof *g);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        return GGUF_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        snprintf(err, errsz, "%s: not a regular non-empty file", path);
        close(fd);
        return GGUF_EIO;
    }
    size_t len = (size_t)st.st_size;
    /* populated: the engine reads every weight, and faulting pages in one by one during the
     * first forward pass costs more than reading the file up front */
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        snprintf(err, errsz, "%s: mmap: %s", path, strerror(errno));
        return GGUF_EIO;
    }
    char e2[200];
    int rc = gguf_parse(m, len, g, e2, sizeof e2);
    if (rc) {
        snprintf(err, errsz, "%s: %s", path, e2);
        munmap(m, len);
        return rc;
    }
    g->map = m;
    g->map_len = len;
    return 0;
}

void gguf_close(gguf_t *g)
{
    free(g->kv);
    free(g->tensors);
    if (g->map)
        munmap(g->map, g->map_len);
    memset(g, 0, sizeof *g);
}

/* ---- lookups ---- */

const gguf_kv_t *gguf_find(const gguf_t *g, const char *key)
{
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (key_is(g->kv[i].key, g->kv[i].key_len, key))
            return &g->kv[i];
    return NULL;
}

int gguf_get_str(const gguf_t *g, const char *key, const char **s, size_t *len)
{
    const gguf_kv_t *kv = gguf_find(g, key);
    if (!kv)
        return GGUF_ENOTFOUND;
    if (kv->type != GGUF_STR)
        return GGUF_ETYPE;
    *len = le(g->data + kv->pos, 8);
    *s = (const char *)g->data + kv->pos + 8;
    return 0;
}

/* The integer at p of type ty; false for non-integer types and u64 above INT64_MAX. */
static bool int_at(const unsigned char *p, uint32_t ty, int64_t *v)
{
    switch (ty) {
    case GGUF_U8:
    case GGUF_BOOL:
        *v = p[0];
        return true;
    case GGUF_I8:
        *v = (int8_t)p[0];
        return true;
    case GGUF_U16:
        *v = (int64_t)le(p, 2);
        return true;
    case GGUF_I16:
        *v = (int16_t)le(p, 2);
        return true;
    case GGUF_U32:
        *v = (int64_t)le(p, 4);
        return true;
    case GGUF_I32:
        *v = (int32_t)le(p, 4);
        return true;
    case GGUF_U64:
    case GGUF_I64: {
        uint64_t u = le(p, 8);
        if (ty == GGUF_U64 && u > (uint64_t)INT64_MAX)
            return false;
        memcpy(v, &u, 8);
        return true;
    }
    default:
        return false;
    }
}

static bool float_at(const unsigned char *p, uint32_t ty, double *v)
{
    if (ty == GGUF_F32) {
        uint32_t b = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &b, 4);
        *v = f;
        return true;
    }
    if (ty == GGUF_F64) {
        uint64_t b = le(p, 8);
        memcpy(v, &b, 8);
        return true;
    }
    int64_t i;
    if (!int_at(p, ty, &i))
        return false;
    *v = (double)i;
    return true;
}

int gguf_get_int(const gguf_t *g, const char *key, int64_t *v)
{
    const gguf_kv_t *kv = gguf_find(g, key);
    if (!kv)
        return GGUF_ENOTFOUND;
    return int_at(g->data + kv->pos, kv->type, v) ? 0 : GGUF_ETYPE;
}

int gguf_get_float(const gguf_t *g, const char *key, double *v)
{
    const gguf_kv_t *kv = gguf_find(g, key);
    if (!kv)
        return GGUF_ENOTFOUND;
    return float_at(g->data + kv->pos, kv->type, v) ? 0 : GGUF_ETYPE;
}

int gguf_get_arr(const gguf_t *g, const char *key, uint32_t *elem_type, uint64_t *n)
{
    const gguf_kv_t *kv = gguf_find(g, key);
    if (!kv)
        return GGUF_ENOTFOUND;
    if (kv->type != GGUF_ARR)
        return GGUF_ETYPE;
    *elem_type = kv->arr_type;
    *n = kv->arr_n;
    return 0;
}

int64_t gguf_arr_int(const gguf_t *g, const gguf_kv_t *kv, uint64_t i)
{
    int64_t v = 0;
    size_t es = scalar_size(kv->arr_type);
    if (kv->type == GGUF_ARR && es && i < kv->arr_n)
        int_at(g->data + kv->pos + i * es, kv->arr_type, &v);
    return v;
}

double gguf_arr_float(const gguf_t *g, const gguf_kv_t *kv, uint64_t i)
{
    double v = 0;
    size_t es = scalar_size(kv->arr_type);
    if (kv->type == GGUF_ARR && es && i < kv->arr_n)
        float_at(g->data + kv->pos + i * es, kv->arr_type, &v);
    return v;
}

void gguf_str_iter_init(gguf_str_iter_t *it, const gguf_t *g, const gguf_kv_t *kv)
{
    it->g = g;
    it->pos = kv->pos;
    it->left = kv->type == GGUF_ARR && kv->arr_type == GGUF_STR ? kv->arr_n : 0;
}

bool gguf_str_iter_next(gguf_str_iter_t *it, const char **s, size_t *len)
{
    if (!it->left)
        return false;
    /* the parse checked every string of the array fits */
    *len = le(it->g->data + it->pos, 8);
    *s = (const char *)it->g->data + it->pos + 8;
    it->pos += 8 + *len;
    it->left--;
    return true;
}

const gguf_tensor_t *gguf_tensor(const gguf_t *g, const char *name)
{
    gguf_tensor_t want = {.name = name, .name_len = strlen(name)};
    if (!g->n_tensors)
        return NULL;
    return bsearch(&want, g->tensors, g->n_tensors, sizeof want, by_name);
}
