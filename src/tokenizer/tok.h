/* tok.h - DeepSeek-family tokenizers: loading, encoding, decoding, counting. */
#ifndef SEEKD_TOKENIZER_TOK_H
#define SEEKD_TOKENIZER_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Error codes (all negative). */
#define TOK_EIO (-1)        /* a file could not be read */
#define TOK_EFORMAT (-2)    /* the data is not a tokenizer we understand */
#define TOK_EFAMILY (-3)    /* unknown family name, or a family the data cannot serve */
#define TOK_ENODEFAULT (-4) /* the embedded default tokenizer was not built in */
#define TOK_EINVAL (-5)     /* bad argument */
#define TOK_ETOOBIG (-6)    /* output exceeded its buffer's cap, or input over TOK_MAX_INPUT */

/* The longest text tok_encode and tok_count take: 512 MiB. The encoder indexes symbols and
 * byte offsets within one fragment in 32 bits, and SentencePiece escaping triples a text of
 * spaces, so this bound keeps every such index under INT32_MAX instead of letting it wrap. */
#define TOK_MAX_INPUT ((size_t)1 << 29)

/** Tokenizer families: each fixes the model kind, the pre-tokenizer splits and the chat
 * template. */
typedef enum {
    TOK_FAM_AUTO = 0,       /* take it from the file (GGUF tokenizer.ggml.pre, or JSON shape) */
    TOK_FAM_DEEPSEEK_V3,    /* DeepSeek-V3 / R1 */
    TOK_FAM_DEEPSEEK_LLM,   /* deepseek-llm (7B/67B base/chat) */
    TOK_FAM_DEEPSEEK_CODER, /* deepseek-coder */
    TOK_FAM_QWEN2,          /* Qwen2 vocabularies, used by DeepSeek-R1-Distill-Qwen */
    TOK_FAM_GPT2,           /* GPT-2 */
    TOK_FAM_LLAMA_SPM,      /* SentencePiece BPE with scores (Llama-2, llama2.c tok512) */
    TOK_FAM_COUNT
} tok_family_t;

/** Parses a family name ("deepseek-v3", "deepseek-r1", "deepseek-llm", "deepseek-coder",
 * "qwen2", "deepseek-r1-qwen", "gpt2"/"gpt-2", "llama-spm"/"llama"). Returns 0 and sets *out,
 * or TOK_EFAMILY. */
int tok_family_parse(const char *name, tok_family_t *out);
/** The canonical name of a family ("deepseek-v3", ...); "auto" for TOK_FAM_AUTO. */
const char *tok_family_name(tok_family_t fam);

/** Token kinds, as GGUF's tokenizer.ggml.token_type numbers them. */
typedef enum {
    TOK_T_UNDEFINED = 0,
    TOK_T_NORMAL = 1,
    TOK_T_UNKNOWN = 2,
    TOK_T_CONTROL = 3,      /* special: matched in text only with TOK_ENC_SPECIAL */
    TOK_T_USER_DEFINED = 4, /* always split out of text before pre-tokenizing */
    TOK_T_UNUSED = 5,
    TOK_T_BYTE = 6, /* SentencePiece byte fallback <0xXX> */
} tok_type_t;

/** A loaded tokenizer. Immutable once loaded: one tok_t may be used from many threads. */
typedef struct tok tok_t;

/** Loads a tokenizer from a file: a GGUF file (its vocabulary only), a HuggingFace
 * tokenizer.json, or a llama2.c tokenizer.bin (recognised by content, not by name). `fam`
 * overrides the family recorded in the file; TOK_FAM_AUTO keeps it. On failure returns a
 * negative code and writes a one-line reason into err (when err is not NULL). */
int tok_load_file(const char *path, tok_family_t fam, tok_t **out, char *err, size_t errsz);
/** Loads from a tokenizer.json held in memory (len bytes; need not be NUL-terminated). */
int tok_load_json(const char *data, size_t len, tok_family_t fam, tok_t **out, char *err,
                  size_t errsz);
/** Loads the vocabulary of a GGUF v2/v3 file held in memory (tensors are ignored). */
int tok_load_gguf(const void *data, size_t len, tok_family_t fam, tok_t **out, char *err,
                  size_t errsz);
/** Loads a llama2.c tokenizer.bin held in memory (vocab_size is its number of entries). */
int tok_load_llama2c(const void *data, size_t len, tok_t **out, char *err, size_t errsz);
/** Loads the compact binary form written by tok_save_blob. The blob must outlive the
 * tokenizer when `borrow` is true (strings are then used in place, not copied). */
int tok_load_blob(const void *data, size_t len, bool borrow, tok_t **out, char *err, size_t errsz);
/** Appends the compact binary form of t to out (used by the build-time converter). */
int tok_save_blob(const tok_t *t, buf_t *out);
/** Frees a tokenizer (NULL is fine). Never call it on tok_default()'s result. */
void tok_free(tok_t *t);

/** The built-in DeepSeek-V3 tokenizer, loaded on first use (thread-safe); NULL when the build
 * had no tokenizer data (node_modules absent at configure time). Never freed by the caller. */
const tok_t *tok_default(void);

/** The family, vocabulary size, BOS and EOS ids (-1 when the vocabulary has none). */
tok_family_t tok_family(const tok_t *t);
int32_t tok_n_vocab(const tok_t *t);
int32_t tok_bos(const tok_t *t);
int32_t tok_eos(const tok_t *t);
/** The id of a token given its exact text (any type), or -1. */
int32_t tok_find(const tok_t *t, const char *text, size_t len);
/** The decoded bytes of one token (its text for control tokens); *len gets the length.
 * NULL for an id out of range. The pointer lives as long as t. */
const char *tok_piece(const tok_t *t, int32_t id, size_t *len);
/** The type of a token (TOK_T_UNDEFINED for an id out of range). */
tok_type_t tok_type(const tok_t *t, int32_t id);

/** A growable array of token ids. Zero-initialise it; free with tok_ids_free. */
typedef struct {
    int32_t *ids;
    size_t len;
    size_t cap;
} tok_ids_t;

void tok_ids_free(tok_ids_t *v);

enum {
    TOK_ENC_SPECIAL = 1, /* recognise control/special token text (e.g. "<｜User｜>") in input */
    TOK_ENC_BOS = 2,     /* prepend BOS when the vocabulary has one */
};

/** Encodes len bytes of text and appends the ids to out. Any byte string is accepted: bytes
 * that are not valid UTF-8 are never matched by a pre-tokenizer pattern and are encoded as
 * their own bytes (byte-level BPE) or byte-fallback tokens (SentencePiece), so decoding gives
 * the input back. Returns the number of ids appended. Thread-safe: scratch space and the word
 * cache are per thread. */
long tok_encode(const tok_t *t, const char *text, size_t len, unsigned flags, tok_ids_t *out);
/** Counts the ids tok_encode would produce, without keeping them. */
long tok_count(const tok_t *t, const char *text, size_t len, unsigned flags);

/** For the gateway: exact token count of a UTF-8 string with the built-in DeepSeek-V3
 * tokenizer, special-token text treated as plain text. TOK_ENODEFAULT when not built in. */
long tok_count_default(const char *text, size_t len);
/** For pre-charging: a fast upper-leaning estimate of the DeepSeek-V3 token count of text,
 * one pass over the bytes, no tokenizer needed. Not a bound: on prose, code and Chinese it
 * measured 1.1-2.1x the exact count (never below); on adversarial strings (long digit runs,
 * rare CJK, emoji) it can be lower. Settle with tok_count_default (docs/tokenizer.md). */
size_t tok_estimate(const char *text, size_t len);

enum {
    TOK_DEC_SKIP_SPECIAL = 1, /* drop control tokens (BOS, EOS, ...) from the output */
};

/** Decodes ids to UTF-8 and appends to out. Bytes that do not form valid UTF-8 become U+FFFD
 * (one per maximal invalid subsequence start byte, as the WHATWG decoder does). Ids out of
 * range are skipped. Returns 0 or TOK_ETOOBIG. */
int tok_decode(const tok_t *t, const int32_t *ids, size_t n, unsigned flags, buf_t *out);
/** Appends the exact bytes of the ids (no UTF-8 repair). */
int tok_decode_raw(const tok_t *t, const int32_t *ids, size_t n, unsigned flags, buf_t *out);

/** Streaming decoder: feed ids one at a time; it emits only complete UTF-8 characters and
 * holds an incomplete tail until the next token completes it. The concatenation of all
 * output after tok_stream_finish equals tok_decode of all ids. */
typedef struct {
    const tok_t *t;
    unsigned flags;
    bool started;          /* a text token has been seen (SentencePiece leading space) */
    unsigned char pend[4]; /* bytes of an incomplete UTF-8 character */
    unsigned npend;
} tok_stream_t;

/** Starts a stream over t with TOK_DEC_* flags. */
void tok_stream_init(tok_stream_t *s, const tok_t *t, unsigned flags);
/** Decodes one id and appends whatever complete characters it finishes. */
int tok_stream_push(tok_stream_t *s, int32_t id, buf_t *out);
/** Ends the stream: a dangling incomplete character becomes U+FFFD. */
int tok_stream_finish(tok_stream_t *s, buf_t *out);

#endif
