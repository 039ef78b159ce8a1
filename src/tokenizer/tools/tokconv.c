/* tokconv.c - build-time converter: any tokenizer file seekd reads -> the compact blob. */
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer/tok.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: tokconv INPUT OUTPUT.blob [FAMILY]\n");
        return 2;
    }
    tok_family_t fam = TOK_FAM_AUTO;
    if (argc == 4 && tok_family_parse(argv[3], &fam) < 0) {
        fprintf(stderr, "tokconv: unknown family %s\n", argv[3]);
        return 2;
    }
    char err[256];
    tok_t *t = NULL;
    if (tok_load_file(argv[1], fam, &t, err, sizeof err) < 0) {
        fprintf(stderr, "tokconv: %s\n", err);
        return 1;
    }
    buf_t b;
    buf_init(&b, (size_t)1 << 30);
    int rc = tok_save_blob(t, &b);
    tok_free(t);
    FILE *f = rc == 0 ? fopen(argv[2], "wb") : NULL;
    if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
        fprintf(stderr, "tokconv: cannot write %s\n", argv[2]);
        buf_free(&b);
        return 1;
    }
    buf_free(&b);
    return 0;
}
