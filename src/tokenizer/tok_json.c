/* tok_json.c - loads a HuggingFace tokenizer.json (byte-level BPE models) with jansson. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "tokenizer/tok_internal.h"

/* Which family a tokenizer.json's pre-tokenizer describes. */
static tok_family_t detect_family(json_t *root)
{
    json_t *pre = json_object_get(root, "pre_tokenizer");
    char *s = pre ? json_dumps(pre, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    tok_family_t fam = TOK_FAM_AUTO;
    if (s) {
        if (strstr(s, "\\\\p{N}{1,3}") && strstr(s, "\\u4e00"))
            fam = TOK_FAM_DEEPSEEK_V3;
        else if (strstr(s, "(?i:'s|'t|'re|'ve|'m|'ll|'d)") && strstr(s, "|\\\\p{N}|"))
            fam = TOK_FAM_QWEN2;
        else if (strstr(s, "[\\r\\n]") && strstr(s, "\\\\s?\\\\p{L}+"))
            fam = TOK_FAM_DEEPSEEK_CODER;
        else if (strstr(s, "[\\r\\n]") && strstr(s, "\\\\s+$"))
            fam = TOK_FAM_DEEPSEEK_LLM;
        else if (strstr(s, "ByteLevel"))
            fam = TOK_FAM_GPT2;
        free(s);
    }
    return fam;
}

/* Added tokens that are not flagged special but are written like control tokens
 * ("<｜tool▁sep｜>", "<|EOT|>") are treated as control tokens, as llama.cpp's converter does. */
static bool looks_special(const char *s, size_t n)
{
    if (n >= 4 && s[0] == '<' && s[1] == '|' && s[n - 2] == '|' && s[n - 1] == '>')
        return true;
    static const char fw[] = "\xEF\xBD\x9C"; /* U+FF5C fullwidth vertical line */
    return n >= 8 && s[0] == '<' && memcmp(s + 1, fw, 3) == 0 && memcmp(s + n - 4, fw, 3) == 0 &&
           s[n - 1] == '>';
}

typedef struct {
    const char *s;
    size_t len;
    tok_type_t type;
    bool raw;
} slot_t;

static int32_t json_id(json_t *v)
{
    if (!json_is_integer(v))
        return -1;
    json_int_t i = json_integer_value(v);
    return i >= 0 && i < (1 << 24) ? (int32_t)i : -1;
}

static int32_t vocab_id(json_t *vocab, const char *s, size_t n, buf_t *tmp)
{
    buf_reset(tmp);
    if (buf_append(tmp, s, n) < 0 || memchr(s, 0, n))
        return -1;
    return json_id(json_object_get(vocab, tmp->data ? tmp->data : ""));
}

int tok_load_json(const char *data, size_t len, tok_family_t fam, tok_t **out, char *err,
                  size_t errsz)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_ALLOW_NUL, &je);
    if (!root) {
        tok_err(err, errsz, "tokenizer.json: %s (line %d)", je.text, je.line);
        return TOK_EFORMAT;
    }
    int rc = TOK_EFORMAT;
    slot_t *slots = NULL;
    int32_t *merges = NULL;
    buf_t tmp;
    buf_init(&tmp, 1 << 20);
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *jm = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(vocab) || (mtype && strcmp(mtype, "BPE") != 0)) {
        tok_err(err, errsz, "tokenizer.json: only BPE models with a vocab object are supported");
        goto out;
    }
    if (fam == TOK_FAM_AUTO)
        fam = detect_family(root);
    if (fam == TOK_FAM_AUTO || fam == TOK_FAM_LLAMA_SPM) {
        tok_err(err, errsz,
                "tokenizer.json: pre-tokenizer not recognised as a byte-level "
                "family; pass --family");
        rc = TOK_EFAMILY;
        goto out;
    }

    int32_t n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val)
    {
        int32_t id = json_id(val);
        if (id < 0) {
            tok_err(err, errsz, "tokenizer.json: bad id for '%s'", key);
            goto out;
        }
        if (id + 1 > n)
            n = id + 1;
    }
    size_t ai;
    json_array_foreach(added, ai, val)
    {
        int32_t id = json_id(json_object_get(val, "id"));
        if (id >= 0 && id + 1 > n)
            n = id + 1;
    }
    if (n == 0) {
        tok_err(err, errsz, "tokenizer.json: empty vocabulary");
        goto out;
    }
    if ((size_t)n > 2 * (json_object_size(vocab) + json_array_size(added)) + 1024) {
        tok_err(err, errsz, "tokenizer.json: token ids are too sparse (largest %d)", n - 1);
        goto out;
    }
    slots = xcalloc((size_t)n, sizeof *slots);
    json_object_foreach(vocab, key, val)
    {
        int32_t id = json_id(val);
        slots[id] = (slot_t){key, strlen(key), TOK_T_NORMAL, false};
    }
    json_array_foreach(added, ai, val)
    {
        int32_t id = json_id(json_object_get(val, "id"));
        json_t *c = json_object_get(val, "content");
        if (id < 0 || !json_is_string(c))
            continue;
        const char *s = json_string_value(c);
        size_t sl = json_string_length(c);
        bool special = json_is_true(json_object_get(val, "special")) || looks_special(s, sl);
        slots[id] = (slot_t){s, sl, special ? TOK_T_CONTROL : TOK_T_USER_DEFINED, true};
    }

    tok_builder_t b;
    tok_builder_init(&b, fam, TOK_KIND_BPE, n);
    for (int32_t i = 0; i < n; i++)
        tok_builder_add(&b, slots[i].s ? slots[i].s : "", slots[i].len,
                        slots[i].s ? slots[i].type : TOK_T_UNUSED, 0, slots[i].raw);
    rc = tok_build(&b, err, errsz);
    if (rc < 0)
        goto out;
    tok_t *t = b.t;

    size_t nmj = json_array_size(jm);
    merges = xmalloc((nmj ? nmj : 1) * 2 * sizeof(int32_t));
    uint32_t nm = 0;
    json_array_foreach(jm, ai, val)
    {
        int32_t a = -1, c = -1;
        if (json_is_string(val)) { /* "left right" */
            const char *s = json_string_value(val);
            size_t sl = json_string_length(val);
            const char *sp = memchr(s, ' ', sl);
            if (sp) {
                a = vocab_id(vocab, s, (size_t)(sp - s), &tmp);
                c = vocab_id(vocab, sp + 1, sl - (size_t)(sp - s) - 1, &tmp);
            }
        } else if (json_is_array(val) && json_array_size(val) == 2) { /* ["left", "right"] */
            json_t *l = json_array_get(val, 0), *r = json_array_get(val, 1);
            if (json_is_string(l) && json_is_string(r)) {
                a = vocab_id(vocab, json_string_value(l), json_string_length(l), &tmp);
                c = vocab_id(vocab, json_string_value(r), json_string_length(r), &tmp);
            }
        }
        if (a < 0 || c < 0)
            continue;
        merges[2 * nm] = a;
        merges[2 * nm + 1] = c;
        nm++;
    }

    static const char *const bos_names[] = {"<｜begin▁of▁sentence｜>", "<|begin_of_text|>", NULL};
    static const char *const eos_names[] = {"<｜end▁of▁sentence｜>", "<|endoftext|>", NULL};
    for (int i = 0; bos_names[i] && t->bos < 0; i++)
        t->bos = tok_smap_get(t, bos_names[i], strlen(bos_names[i]));
    for (int i = 0; eos_names[i] && t->eos < 0; i++)
        t->eos = tok_smap_get(t, eos_names[i], strlen(eos_names[i]));
    t->add_bos = t->bos >= 0 && fam == TOK_FAM_DEEPSEEK_V3;
    rc = tok_build_done(t, merges, nm, err, errsz);
    merges = NULL;
    if (rc == 0)
        *out = t;
out:
    free(merges);
    free(slots);
    buf_free(&tmp);
    json_decref(root);
    return rc;
}
