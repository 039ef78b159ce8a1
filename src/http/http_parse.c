/* http_parse.c - request heads per RFC 9112, strict where leniency lets requests be
 * smuggled (folded lines, spaces before colons, Content-Length beside chunked). */
#include "http/http_parse.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

size_t http_head_len(const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        if (!nl)
            return 0;
        i = (size_t)(nl - buf) + 1;
        if (i < len && buf[i] == '\n')
            return i + 1;
        if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
            return i + 2;
    }
    return 0;
}

/* Cuts the line at buf[*pos..len): NUL over its end (CRLF or LF); returns its start and moves
 * *pos past it, or NULL when no line end is left. */
static char *next_line(char *buf, size_t len, size_t *pos)
{
    char *s = buf + *pos;
    char *nl = memchr(s, '\n', len - *pos);
    if (!nl)
        return NULL;
    *pos = (size_t)(nl - buf) + 1;
    if (nl > s && nl[-1] == '\r')
        nl--;
    *nl = '\0';
    return s;
}

/* Whether the comma-separated list s holds token tok (case-insensitive). */
static bool has_token(const char *s, const char *tok)
{
    size_t n = strlen(tok);
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - s) == n && strncasecmp(s, tok, n) == 0)
            return true;
        s = e;
    }
    return false;
}

static int parse_request_line(char *line, http_head_t *h)
{
    char *p = line;
    while (is_tchar((unsigned char)*p))
        p++;
    if (p == line || *p != ' ')
        return 400;
    *p++ = '\0';
    h->method = line;
    char *target = p;
    while ((unsigned char)*p > ' ' && *p != 0x7f)
        p++;
    if (p == target || *p != ' ')
        return 400;
    *p++ = '\0';
    h->target = target;
    if (strncmp(p, "HTTP/", 5) != 0 || !(p[5] >= '0' && p[5] <= '9') || p[6] != '.' ||
        !(p[7] >= '0' && p[7] <= '9') || p[8] != '\0')
        return 400;
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return 505;
    h->minor = p[7] - '0';
    return 0;
}

/* The header fields after the start line, from pos to the empty line; framing and
 * persistence rules shared by requests and responses. */
static int parse_fields(char *buf, size_t len, size_t pos, http_head_t *h)
{
    char *line;
    bool close = false, keep = false;
    for (;;) {
        line = next_line(buf, len, &pos);
        if (!line)
            return 400;
        if (!*line)
            break; /* the empty line: end of the head */
        if (*line == ' ' || *line == '\t')
            return 400; /* obsolete line folding */
        char *p = line;
        while (is_tchar((unsigned char)*p))
            p++;
        if (p == line || *p != ':')
            return 400;
        size_t nlen = (size_t)(p - line);
        *p++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        char *v = p, *end = p;
        for (; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if ((c < ' ' && c != '\t') || c == 0x7f)
                return 400; /* control bytes, a lone CR among them */
            if (c != ' ' && c != '\t')
                end = p + 1;
        }
        *end = '\0';
        if (h->nhdrs == HTTP_MAX_HEADERS)
            return 431;
        h->hdrs[h->nhdrs++] = (http_hdr_t){line, v};
        /* the names that matter, told apart by length first: most headers are none of them */
        if (nlen == 14 && strcasecmp(line, "Content-Length") == 0) {
            int64_t n = 0;
            const char *d = v;
            if (!*d)
                return 400;
            for (; *d; d++) {
                if (*d < '0' || *d > '9' || n > (INT64_MAX - 9) / 10)
                    return 400;
                n = n * 10 + (*d - '0');
            }
            if (h->content_length >= 0 && h->content_length != n)
                return 400;
            h->content_length = n;
        } else if (nlen == 17 && strcasecmp(line, "Transfer-Encoding") == 0) {
            if (h->chunked || strcasecmp(v, "chunked") != 0)
                return 501;
            h->chunked = true;
        } else if (nlen == 10 && strcasecmp(line, "Connection") == 0) {
            close |= has_token(v, "close");
            keep |= has_token(v, "keep-alive");
        } else if (nlen == 6 && strcasecmp(line, "Expect") == 0) {
            h->expect_continue |= strcasecmp(v, "100-continue") == 0;
        }
    }
    if (h->chunked && h->content_length >= 0)
        return 400; /* both framings: a smuggling attempt or a broken client */
    h->keep_alive = h->minor == 1 ? !close : keep && !close;
    if (h->minor == 0 && h->chunked)
        h->keep_alive = false; /* RFC 9112 §6.1: the framing may have been misread: close after */
    return 0;
}

/* Clears h and finds the start line (after leading empty lines), NUL-terminated. The header
 * array (1.6 KB) is left as it was: the parse fills its first nhdrs entries, nothing reads
 * the others. */
static char *start_line(char *buf, size_t len, http_head_t *h, size_t *pos)
{
    memset(h, 0, offsetof(http_head_t, hdrs));
    memset((char *)h + offsetof(http_head_t, nhdrs), 0, sizeof *h - offsetof(http_head_t, nhdrs));
    h->content_length = -1;
    if (memchr(buf, '\0', len))
        return NULL;
    *pos = 0;
    while (*pos < len && (buf[*pos] == '\r' || buf[*pos] == '\n'))
        (*pos)++;
    return next_line(buf, len, pos);
}

int http_parse_head(char *buf, size_t len, http_head_t *h)
{
    size_t pos;
    char *line = start_line(buf, len, h, &pos);
    if (!line)
        return 400;
    int rc = parse_request_line(line, h);
    return rc ? rc : parse_fields(buf, len, pos, h);
}

const char *http_head_get(const http_head_t *h, const char *name)
{
    for (int i = 0; i < h->nhdrs; i++)
        if (strcasecmp(h->hdrs[i].name, name) == 0)
            return h->hdrs[i].value;
    return NULL;
}

int http_parse_response_head(char *buf, size_t len, http_head_t *h)
{
    size_t pos;
    char *p = start_line(buf, len, h, &pos);
    /* HTTP/1.x SP 3DIGIT SP reason, the reason possibly empty (and its space missing) */
    if (!p || strncmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return -1;
    h->minor = p[7] - '0';
    p += 9;
    for (int i = 0; i < 3; i++, p++) {
        if (*p < '0' || *p > '9')
            return -1;
        h->status = h->status * 10 + (*p - '0');
    }
    if ((*p && *p != ' ') || h->status < 100)
        return -1;
    return parse_fields(buf, len, pos, h) ? -1 : 0;
}

long http_dechunk(http_dechunk_t *d, const char *in, size_t len, const char **data, size_t *dlen)
{
    *dlen = 0;
    d->announced = 0;
    if (d->state == DC_DONE || len == 0)
        return 0;
    if (d->state == DC_DATA) {
        size_t n = len < d->left ? len : (size_t)d->left;
        *data = in;
        *dlen = n;
        d->left -= n;
        if (!d->left)
            d->state = DC_DATA_END;
        return (long)n;
    }
    const char *nl =
        memchr(in, '\n', len < HTTP_CHUNK_LINE_MAX + 1 ? len : HTTP_CHUNK_LINE_MAX + 1);
    if (!nl)
        return len > HTTP_CHUNK_LINE_MAX ? -1 : 0;
    size_t ll = (size_t)(nl - in); /* the line without its LF */
    size_t text = ll && in[ll - 1] == '\r' ? ll - 1 : ll;
    if (d->state == DC_DATA_END) {
        if (text)
            return -1;
        d->state = DC_SIZE;
    } else if (d->state == DC_SIZE) {
        uint64_t size = 0;
        size_t i = 0;
        for (; i < text; i++) {
            char ch = in[i];
            int v = ch >= '0' && ch <= '9'   ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
            if (v < 0)
                break;
            if (size > (UINT64_MAX >> 4))
                return -1;
            size = size << 4 | (uint64_t)v;
        }
        size_t j = i; /* BWS, then nothing or the extensions */
        while (j < text && (in[j] == ' ' || in[j] == '\t'))
            j++;
        if (i == 0 || (j < text && in[j] != ';'))
            return -1;
        d->announced = size;
        d->left = size;
        d->state = size ? DC_DATA : DC_TRAILER;
    } else if (text == 0) { /* DC_TRAILER: the empty line ends the body */
        d->state = DC_DONE;
    }
    return (long)ll + 1;
}
