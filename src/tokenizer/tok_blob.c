/* tok_blob.c - the compact binary form of a tokenizer (what the build embeds), and the built-in
 * default. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tokenizer/tok_internal.h"

/* Layout, little-endian, every array starting on an 8-byte boundary:
 *   "SEEKTOK1", then 12 uint32: family, kind, n, n_merges, strs_len, has_pieces, bos, eos,
 *   unk, add_space_prefix, add_bos, reserved
 *   key_off[n+1] u32, piece_off[n+1] u32 (has_pieces), type[n] u8, score[n] f32 (SPM),
 *   merges[2*n_merges] i32, strs[strs_len] plus a NUL. */
#define BLOB_MAGIC "SEEKTOK1"
#define HDR_WORDS 12
#define HDR_SIZE (8 + 4 * HDR_WORDS)

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static void put_pad(buf_t *o)
{
    static const char z[8] = {0};
    buf_append(o, z, align8(o->len) - o->len);
}

int tok_save_blob(const tok_t *t, buf_t *o)
{
    uint32_t h[HDR_WORDS] = {
        (uint32_t)t->family,   (uint32_t)t->kind,    (uint32_t)t->n,   t->n_merges,
        (uint32_t)t->strs_len, t->piece_off != NULL, (uint32_t)t->bos, (uint32_t)t->eos,
        (uint32_t)t->unk,      t->add_space_prefix,  t->add_bos,       0,
    };
    size_t n1 = (size_t)t->n + 1;
    int rc = 0;
    rc |= buf_append(o, BLOB_MAGIC, 8);
    rc |= buf_append(o, h, sizeof h);
    put_pad(o);
    rc |= buf_append(o, t->key_off, n1 * 4);
    put_pad(o);
    if (t->piece_off) {
        rc |= buf_append(o, t->piece_off, n1 * 4);
        put_pad(o);
    }
    rc |= buf_append(o, t->type, (size_t)t->n);
    put_pad(o);
    if (t->kind == TOK_KIND_SPM) {
        rc |= buf_append(o, t->score, (size_t)t->n * 4);
        put_pad(o);
    }
    if (t->n_merges)
        rc |= buf_append(o, t->merges, (size_t)t->n_merges * 8);
    put_pad(o);
    rc |= buf_append(o, t->strs, t->strs_len + 1);
    put_pad(o);
    /* the pads are not checked one by one: a refused one fails the buffer (buf.h) */
    return rc || buf_failed(o) ? TOK_ETOOBIG : 0;
}

/* Takes the next array of `size` bytes; NULL when the blob is too short. */
static const unsigned char *take(const unsigned char *p, size_t len, size_t *pos, size_t size)
{
    if (*pos > len || size > len - *pos)
        return NULL;
    const unsigned char *r = p + *pos;
    *pos = align8(*pos + size);
    return r;
}

static bool offsets_ok(const uint32_t *off, size_t n1, size_t limit)
{
    if (off[0] != 0 && limit == 0)
        return false;
    for (size_t i = 1; i < n1; i++)
        if (off[i] < off[i - 1])
            return false;
    return off[n1 - 1] <= limit;
}

static void *dup_or_borrow(const void *p, size_t n, bool borrow)
{
    if (borrow)
        return (void *)p;
    void *d = xmalloc(n ? n : 1);
    memcpy(d, p, n);
    return d;
}

int tok_load_blob(const void *data, size_t len, bool borrow, tok_t **out, char *err, size_t errsz)
{
    const unsigned char *p = data;
    if (len < HDR_SIZE || memcmp(p, BLOB_MAGIC, 8) != 0) {
        tok_err(err, errsz, "not a seekd tokenizer blob");
        return TOK_EFORMAT;
    }
    if (borrow && ((uintptr_t)p & 7) != 0)
        borrow = false; /* arrays are read in place only when aligned */
    uint32_t h[HDR_WORDS];
    memcpy(h, p + 8, sizeof h);
    uint32_t fam = h[0], kind = h[1], n = h[2], nm = h[3], sl = h[4], hp = h[5];
    if (fam == 0 || fam >= TOK_FAM_COUNT || (kind != TOK_KIND_BPE && kind != TOK_KIND_SPM) ||
        n == 0 || n > (1u << 24) || nm > (1u << 25) || hp > 1 || (kind == TOK_KIND_SPM) != hp) {
        tok_err(err, errsz, "tokenizer blob header invalid");
        return TOK_EFORMAT;
    }
    size_t pos = align8(HDR_SIZE), n1 = (size_t)n + 1;
    const unsigned char *koff = take(p, len, &pos, n1 * 4);
    const unsigned char *poff = hp ? take(p, len, &pos, n1 * 4) : NULL;
    const unsigned char *type = take(p, len, &pos, n);
    const unsigned char *score = kind == TOK_KIND_SPM ? take(p, len, &pos, (size_t)n * 4) : NULL;
    const unsigned char *merges = take(p, len, &pos, (size_t)nm * 8);
    const unsigned char *strs = take(p, len, &pos, (size_t)sl + 1);
    if (!koff || (hp && !poff) || !type || (kind == TOK_KIND_SPM && !score) || !merges || !strs ||
        strs[sl] != 0) {
        tok_err(err, errsz, "tokenizer blob truncated");
        return TOK_EFORMAT;
    }
    tok_t *t = xcalloc(1, sizeof *t);
    t->family = (tok_family_t)fam;
    t->kind = (int)kind;
    t->n = (int32_t)n;
    t->n_merges = nm;
    t->strs_len = sl;
    t->borrowed = borrow;
    t->key_off = dup_or_borrow(koff, n1 * 4, borrow);
    t->piece_off = poff ? dup_or_borrow(poff, n1 * 4, borrow) : NULL;
    t->type = dup_or_borrow(type, n, borrow);
    t->score = score ? dup_or_borrow(score, (size_t)n * 4, borrow) : NULL;
    t->merges = dup_or_borrow(merges, (size_t)nm * 8, borrow);
    t->strs = dup_or_borrow(strs, (size_t)sl + 1, borrow);
    t->bos = (int32_t)h[6];
    t->eos = (int32_t)h[7];
    t->unk = (int32_t)h[8];
    t->add_space_prefix = h[9] != 0;
    t->add_bos = h[10] != 0;
    bool ok = offsets_ok(t->key_off, n1, sl) && (!t->piece_off || offsets_ok(t->piece_off, n1, sl));
    for (uint32_t i = 0; ok && i < n; i++)
        ok = t->type[i] <= TOK_T_BYTE;
    if (t->bos < -1 || t->bos >= t->n || t->eos < -1 || t->eos >= t->n || t->unk < -1 ||
        t->unk >= t->n)
        ok = false;
    if (!ok) {
        tok_free(t);
        tok_err(err, errsz, "tokenizer blob inconsistent");
        return TOK_EFORMAT;
    }
    int rc = tok_finish(t, err, errsz);
    if (rc < 0) {
        tok_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- the built-in default ---- */

/* Provided by the build (cmake/tokenizer.cmake): the converted DeepSeek-V3 vocabulary, or a
 * stub of length 0 when the data was absent at configure time. */
extern const unsigned char tok_default_blob[];
extern const unsigned long tok_default_blob_len;

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static tok_t *default_tok;

static void default_load(void)
{
    if (tok_default_blob_len == 0)
        return;
    tok_t *t = NULL;
    if (tok_load_blob(tok_default_blob, tok_default_blob_len, true, &t, NULL, 0) == 0)
        default_tok = t;
}

const tok_t *tok_default(void)
{
    pthread_once(&default_once, default_load);
    return default_tok;
}
