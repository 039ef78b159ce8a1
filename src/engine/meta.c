/* meta.c - a loaded model's metadata strings (general.name, tokenizer.chat_template), for the
 * serving side. */
#include "engine/model_int.h"

const char *eng_model_meta_str(const eng_model_t *m, const char *key, size_t *len)
{
    const char *s;
    size_t n;
    if (gguf_get_str(&m->g, key, &s, &n) != 0)
        return NULL;
    if (len)
        *len = n;
    return s;
}
