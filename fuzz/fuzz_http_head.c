/* fuzz_http_head.c - any bytes as the start of a connection's input: http_head_len finds a head
 * that ends with an empty line inside the input (or none), and http_parse_head on a writable,
 * exact-size copy of it returns 0 or a refusal status, and on 0 only points inside the copy at
 * NUL-terminated strings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_parse.h"

static void check_str(const char *s, const char *b, size_t len, int nonempty)
{
    if (!s || s < b || s >= b + len)
        abort();
    if (!memchr(s, '\0', (size_t)(b + len - s)))
        abort();
    if (nonempty && !*s)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t hl = http_head_len(in, size);
    if (hl == 0)
        return 0;
    if (hl > size || hl < 2 || in[hl - 1] != '\n')
        abort(); /* a head ends with the LF of its empty line */
    if (in[hl - 2] != '\n' && !(hl >= 3 && in[hl - 2] == '\r' && in[hl - 3] == '\n'))
        abort();
    if (http_head_len(in, hl) != hl)
        abort(); /* the same head when nothing follows it */
    char *b = malloc(hl);
    memcpy(b, in, hl);
    http_head_t h;
    int rc = http_parse_head(b, hl, &h);
    if (rc != 0 && rc != 400 && rc != 431 && rc != 501 && rc != 505)
        abort();
    if (rc == 0) {
        check_str(h.method, b, hl, 1);
        check_str(h.target, b, hl, 1);
        if (h.minor != 0 && h.minor != 1)
            abort();
        if (h.nhdrs < 0 || h.nhdrs > HTTP_MAX_HEADERS)
            abort();
        for (int i = 0; i < h.nhdrs; i++) {
            check_str(h.hdrs[i].name, b, hl, 1);
            check_str(h.hdrs[i].value, b, hl, 0);
            const char *v = h.hdrs[i].value;
            size_t vl = strlen(v);
            if (vl && (v[0] == ' ' || v[0] == '\t' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                abort(); /* OWS is trimmed */
            for (size_t k = 0; k < vl; k++)
                if (((unsigned char)v[k] < ' ' && v[k] != '\t') || v[k] == 0x7f)
                    abort(); /* no control bytes reach a handler */
        }
        if (h.content_length < -1)
            abort();
        if (h.chunked && h.content_length != -1)
            abort(); /* never both framings */
        if (h.minor == 0 && h.keep_alive) {
            /* HTTP/1.0 persists only when asked to */
            int asked = 0;
            for (int i = 0; i < h.nhdrs; i++)
                asked |= strcasecmp(h.hdrs[i].name, "Connection") == 0;
            if (!asked)
                abort();
        }
    }
    free(b);
    return 0;
}
