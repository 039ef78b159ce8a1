/* tok_pretok.c - each family's pre-tokenizer: a chain of PCRE2 (JIT) split patterns. */
#include <string.h>

#include "tokenizer/tok_internal.h"

/* The split patterns of each family, applied in order; every pattern splits the pieces the
 * previous one produced, keeping both matches and the text between them ("Isolated"). They
 * are the patterns of the families' tokenizer.json files (and llama.cpp's equivalents). */
static const char *const re_deepseek_v3[] = {
    "\\p{N}{1,3}",
    "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
    "|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
    "| ?[\\p{P}\\p{S}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};

static const char *const re_deepseek_llm[] = {
    "[\\r\\n]",
    /* cased letters, as listed in deepseek-llm's tokenizer.json */
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-"
    "\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}"
    "-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-"
    "\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-"
    "\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-"
    "\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"
    "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}"
    "\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-"
    "\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-"
    "\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}"
    "\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}"
    "-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-"
    "\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-"
    "\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
    "\\s+$",
    "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
    "\\p{N}+",
    NULL,
};

static const char *const re_deepseek_coder[] = {
    "[\\r\\n]",    "\\s?\\p{L}+",
    "\\s?\\p{P}+", "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
    "\\p{N}",      NULL,
};

static const char *const re_qwen2[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};

static const char *const re_gpt2[] = {
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    NULL,
};

static const char *const *family_patterns(tok_family_t fam)
{
    switch (fam) {
    case TOK_FAM_DEEPSEEK_V3:
        return re_deepseek_v3;
    case TOK_FAM_DEEPSEEK_LLM:
        return re_deepseek_llm;
    case TOK_FAM_DEEPSEEK_CODER:
        return re_deepseek_coder;
    case TOK_FAM_QWEN2:
        return re_qwen2;
    case TOK_FAM_GPT2:
        return re_gpt2;
    default:
        return NULL;
    }
}

int tok_pretok_compile(tok_t *t, char *err, size_t errsz)
{
    if (t->kind != TOK_KIND_BPE)
        return 0;
    const char *const *pats = family_patterns(t->family);
    if (!pats) {
        tok_err(err, errsz, "family %s has no byte-level BPE pre-tokenizer",
                tok_family_name(t->family));
        return TOK_EFAMILY;
    }
    for (int i = 0; pats[i] && i < TOK_MAX_RE; i++) {
        int ec;
        PCRE2_SIZE off;
        /* MATCH_INVALID_UTF: invalid bytes never match and simply fall into the gaps.
         * DOLLAR_ENDONLY: "$" is the end of the piece, not before a final newline. */
        pcre2_code *re =
            pcre2_compile((PCRE2_SPTR)pats[i], PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY,
                          &ec, &off, NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            tok_err(err, errsz, "pattern %d of %s: %s at %zu", i, tok_family_name(t->family),
                    (const char *)msg, (size_t)off);
            return TOK_EFORMAT;
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if absent */
        t->re[t->n_re++] = re;
    }
    return 0;
}

static void split_level(const tok_t *t, pcre2_match_data *md, int level, const char *p, size_t n,
                        tok_word_fn fn, void *ctx)
{
    if (n == 0)
        return;
    if (level == t->n_re) {
        fn(ctx, p, n);
        return;
    }
    const pcre2_code *re = t->re[level];
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t pos = 0, gap = 0;
    while (pos < n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)p, n, pos, 0, md, NULL);
        if (rc < 0)
            break;
        size_t s = ov[0], e = ov[1];
        if (e == s) { /* none of our patterns can match empty; guard anyway */
            pos = s + 1;
            continue;
        }
        split_level(t, md, level + 1, p + gap, s - gap, fn, ctx);
        split_level(t, md, level + 1, p + s, e - s, fn, ctx);
        pos = gap = e;
    }
    split_level(t, md, level + 1, p + gap, n - gap, fn, ctx);
}

void tok_pretok_split(const tok_t *t, pcre2_match_data *md, const char *p, size_t n, tok_word_fn fn,
                      void *ctx)
{
    split_level(t, md, 0, p, n, fn, ctx);
}
