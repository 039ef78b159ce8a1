/* tok_load.c - loading a tokenizer from a file (format by content) and llama2.c vocabularies. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "tokenizer/tok_internal.h"

int tok_load_llama2c(const void *data, size_t len, tok_t **out, char *err, size_t errsz)
{
    const unsigned char *p = data;
    if (len < 4) {
        tok_err(err, errsz, "llama2.c tokenizer too short");
        return TOK_EFORMAT;
    }
    /* int32 max_token_length, then per token: float32 score, int32 length, bytes */
    size_t pos = 4, count = 0;
    while (pos < len) {
        uint32_t l;
        if (len - pos < 8)
            break;
        memcpy(&l, p + pos + 4, 4);
        if (l > len - pos - 8)
            break;
        pos += 8 + l;
        count++;
    }
    if (pos != len || count == 0 || count > INT32_MAX / 2) {
        tok_err(err, errsz, "not a llama2.c tokenizer file");
        return TOK_EFORMAT;
    }
    tok_builder_t b;
    tok_builder_init(&b, TOK_FAM_LLAMA_SPM, TOK_KIND_SPM, (int32_t)count);
    buf_t text;
    buf_init(&text, 1 << 20);
    pos = 4;
    for (size_t i = 0; i < count; i++) {
        float sc;
        uint32_t l;
        memcpy(&sc, p + pos, 4);
        memcpy(&l, p + pos + 4, 4);
        const char *s = (const char *)p + pos + 8;
        pos += 8 + l;
        tok_type_t ty = TOK_T_NORMAL;
        if (l == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>')
            ty = TOK_T_BYTE;
        else if (i == 0) /* SentencePiece's fixed ids: <unk>, then <s> and </s> */
            ty = TOK_T_UNKNOWN;
        else if (i == 1 || i == 2)
            ty = TOK_T_CONTROL;
        /* llama2.c's export wrote U+2581 as a plain space: restore SentencePiece text */
        buf_reset(&text);
        for (uint32_t k = 0; k < l; k++) {
            if (s[k] == ' ')
                buf_append(&text, "\xE2\x96\x81", 3);
            else
                buf_append(&text, s + k, 1);
        }
        if (buf_failed(&text)) {
            buf_free(&text);
            tok_builder_abort(&b);
            tok_err(err, errsz, "llama2.c tokenizer: token %zu is over 1 MiB", i);
            return TOK_EFORMAT;
        }
        tok_builder_add(&b, text.data ? text.data : "", text.len, ty, sc, false);
    }
    buf_free(&text);
    b.t->unk = count > 0 ? 0 : -1;
    b.t->bos = count > 1 ? 1 : -1;
    b.t->eos = count > 2 ? 2 : -1;
    b.t->add_space_prefix = true;
    b.t->add_bos = true;
    int rc = tok_build(&b, err, errsz);
    if (rc < 0)
        return rc;
    tok_t *t = b.t;
    rc = tok_build_done(t, NULL, 0, err, errsz);
    if (rc < 0)
        return rc;
    *out = t;
    return 0;
}

int tok_load_file(const char *path, tok_family_t fam, tok_t **out, char *err, size_t errsz)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tok_err(err, errsz, "%s: %s", path, strerror(errno));
        return TOK_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        tok_err(err, errsz, "%s: not a regular non-empty file", path);
        close(fd);
        return TOK_EIO;
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        tok_err(err, errsz, "%s: %s", path, strerror(errno));
        return TOK_EIO;
    }
    const unsigned char *p = map;
    size_t i = 0;
    while (i < len && i < 64 && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    int rc;
    if (len >= 4 && memcmp(p, "GGUF", 4) == 0) {
        rc = tok_load_gguf(map, len, fam, out, err, errsz);
    } else if (len >= 8 && memcmp(p, "SEEKTOK", 7) == 0) {
        rc = tok_load_blob(map, len, false, out, err, errsz);
    } else if (i < len && p[i] == '{') {
        rc = tok_load_json(map, len, fam, out, err, errsz);
    } else {
        rc = tok_load_llama2c(map, len, out, err, errsz);
        if (rc == 0 && fam != TOK_FAM_AUTO && fam != TOK_FAM_LLAMA_SPM) {
            tok_free(*out);
            *out = NULL;
            tok_err(err, errsz, "%s holds a llama-spm vocabulary", path);
            rc = TOK_EFAMILY;
        }
    }
    munmap(map, len);
    return rc;
}
