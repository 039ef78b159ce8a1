/* tok_internal.h - the tokenizer's private data layout, shared by the files of src/tokenizer/. */
#ifndef SEEKD_TOKENIZER_TOK_INTERNAL_H
#define SEEKD_TOKENIZER_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdarg.h>

#include "tokenizer/tok.h"

enum { TOK_KIND_BPE = 1, TOK_KIND_SPM = 2 };

#define TOK_MAX_RE 6

/* A loaded vocabulary. `key` is the form looked up while encoding (raw bytes for byte-level
 * BPE, SentencePiece text with U+2581 for SPM); `piece` is the decoded bytes. Both live in
 * one string arena, each token's two ranges given by offsets. */
struct tok {
    tok_family_t family;
    int kind;
    int32_t n;
    char *strs; /* arena holding every key and piece */
    size_t strs_len;
    uint32_t *key_off;   /* n+1 offsets: key of id i is strs[key_off[i]..key_off[i+1]) */
    uint32_t *piece_off; /* n+1 offsets, or NULL when piece == key */
    uint8_t *type;       /* tok_type_t per id */
    float *score;        /* SPM only */
    int32_t *merges;     /* BPE: n_merges pairs (left id, right id) in rank order */
    uint32_t n_merges;
    int32_t bos, eos, unk;
    bool add_space_prefix;
    bool add_bos;
    bool borrowed; /* the arrays above point into a blob we do not own */

    /* derived at load: */
    uint32_t *vmap; /* open addressing: id+1 of "encodable" tokens by key; 0 empty */
    uint32_t vmask;
    uint32_t *smap; /* special-ish tokens (control, user-defined, unknown) by key */
    uint32_t smask;
    uint64_t *mkey; /* merges by (left<<32|right)+1; 0 empty */
    uint64_t *mval; /* rank<<32 | result id */
    uint32_t mmask;
    int32_t byte_id[256];
    /* special matching, [0] without TOK_ENC_SPECIAL (user-defined only), [1] with */
    uint8_t spec_first[2][32];
    uint32_t *spec_lens[2]; /* distinct lengths, longest first */
    int n_spec_lens[2];
    pcre2_code *re[TOK_MAX_RE];
    int n_re;
    uint64_t uid; /* distinguishes tokenizers in per-thread caches */
};

/* ---- building (tok_core.c) ---- */

/* The byte-level BPE mapping: byte -> code point and back (-1 when not a mapped char). */
uint32_t tok_byte_to_cp(unsigned b);
int tok_cp_to_byte(uint32_t cp);

/* A tokenizer under construction: loaders fill strings, then tok_build finishes it. */
typedef struct {
    tok_t *t;
    buf_t keys;   /* concatenated keys */
    buf_t pieces; /* concatenated pieces */
    uint32_t *kofs, *pofs;
    int32_t cap;
} tok_builder_t;

void tok_builder_init(tok_builder_t *b, tok_family_t fam, int kind, int32_t n);
/* Adds token id b->t->n (in order). For byte-level BPE, `text` is the vocabulary's
 * byte-encoded form, or raw text when `raw` (added/control tokens). For SPM, the stored
 * SentencePiece text. */
void tok_builder_add(tok_builder_t *b, const char *text, size_t len, tok_type_t type, float score,
                     bool raw);
/* Packs the strings and builds the token lookup tables; b->t is then usable with
 * tok_vmap_get (to resolve merges). Returns 0, or a code (builder freed). */
int tok_build(tok_builder_t *b, char *err, size_t errsz);
/* Completes t: takes the merges (pairs of ids in rank order, ownership passes), builds the
 * merge table and compiles the pre-tokenizer. On failure frees t. */
int tok_build_done(tok_t *t, int32_t *merges, uint32_t n_merges, char *err, size_t errsz);
/* Byte-level decoding of a vocabulary string into o; false when a character is not mapped. */
bool tok_bytelevel_to_bytes(const char *s, size_t n, buf_t *o);
void tok_builder_abort(tok_builder_t *b);
/* Finishes a tokenizer whose arrays are set (used by the blob loader). */
int tok_finish(tok_t *t, char *err, size_t errsz);

/* Looks up a key among encodable tokens / special tokens; -1 when absent. */
int32_t tok_vmap_get(const tok_t *t, const char *s, size_t len);
int32_t tok_smap_get(const tok_t *t, const char *s, size_t len);

static inline const char *tok_key(const tok_t *t, int32_t id, size_t *len)
{
    *len = t->key_off[id + 1] - t->key_off[id];
    return t->strs + t->key_off[id];
}

uint64_t tok_hash(const void *p, size_t n);
void tok_err(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- pre-tokenizer (tok_pretok.c) ---- */

/* Compiles the family's split patterns into t->re. */
int tok_pretok_compile(tok_t *t, char *err, size_t errsz);

typedef void (*tok_word_fn)(void *ctx, const char *p, size_t n);
/* Splits text with the family's patterns (each applied to the pieces of the one before, both
 * matches and gaps kept) and calls fn for every resulting word, in order. */
void tok_pretok_split(const tok_t *t, pcre2_match_data *md, const char *p, size_t n, tok_word_fn fn,
                      void *ctx);

#endif
