/* http_parse.c - request heads per RFC 9112, strict where leniency lets requests be
 * smuggled (folded lines, spaces before colons, Content-Length beside chunked). */
#include "http/http_parse.h"

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

int http_parse_head(char *buf, size_t len, http_head_t *h)
{
    memset(h, 0, sizeof *h);
    h->content_length = -1;
    if (memchr(buf, '\0', len))
        return 400;
    size_t pos = 0;
    while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n'))
        pos++;
    char *line = next_line(buf, len, &pos);
    if (!line)
        return 400;
    int rc = parse_request_line(line, h);
    if (rc)
        return rc;
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
        if (strcasecmp(line, "Content-Length") == 0) {
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
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            if (h->chunked || strcasecmp(v, "chunked") != 0)
                return 501;
            h->chunked = true;
        } else if (strcasecmp(line, "Connection") == 0) {
            close |= has_token(v, "close");
            keep |= has_token(v, "keep-alive");
        } else if (strcasecmp(line, "Expect") == 0) {
            h->expect_continue |= strcasecmp(v, "100-continue") == 0;
        }
    }
    if (h->chunked && h->content_length >= 0)
        return 400; /* both framings: a smuggling attempt or a broken client */
    h->keep_alive = h->minor == 1 ? !close : keep && !close;
    return 0;
}
