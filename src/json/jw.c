/* jw.c - JSON string escaping and number formatting into buf_t. */
#include "json/jw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence starting at p (max n bytes), or 0 when invalid. */
static size_t utf8_valid_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t need;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    unsigned cp = c & (0xff >> (need + 1));
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

int jw_str(buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t start = 0, i = 0;
    if (buf_append(b, "\"", 1))
        return BUF_ETOOBIG;
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_valid_len(p + i, len - i);
            if (n) {
                i += n;
                continue;
            }
        }
        if (i > start && buf_append(b, s + start, i - start))
            return BUF_ETOOBIG;
        char esc[8];
        const char *e = esc;
        size_t elen = 2;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            if (c >= 0x80) {
                e = "\xef\xbf\xbd"; /* U+FFFD for a byte that is not valid UTF-8 */
                elen = 3;
            } else {
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                elen = 6;
            }
        }
        if (buf_append(b, e, elen))
            return BUF_ETOOBIG;
        i++;
        start = i;
    }
    if (i > start && buf_append(b, s + start, i - start))
        return BUF_ETOOBIG;
    return buf_append(b, "\"", 1);
}

int jw_cstr_or_null(buf_t *b, const char *s)
{
    return s ? jw_str(b, s, strlen(s)) : buf_append(b, "null", 4);
}

int jw_int(buf_t *b, int64_t v)
{
    /* digits from the right; an answer writes several counts, and printf costs more than
     * all of this */
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (v < 0)
        *--p = '-';
    return buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

int jw_double(buf_t *b, double v)
{
    if (!isfinite(v))
        return buf_append(b, "null", 4);
    /* 15 significant digits read back exactly for nearly every double (and drop the noise of
     * binary fractions: 0.7, not 0.69999999999999996); 16 or 17 only when they must. */
    char tmp[32];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (prec == 17 || strtod(tmp, NULL) == v)
            break;
    }
    return buf_append(b, tmp, (size_t)n);
}

int jw_key(buf_t *b, const char *key)
{
    size_t n = strlen(key);
    if (buf_append(b, "\"", 1) || buf_append(b, key, n))
        return BUF_ETOOBIG;
    return buf_append(b, "\":", 2);
}
