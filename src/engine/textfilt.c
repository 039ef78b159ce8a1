/* textfilt.c - stop strings, the think-tag split and prefix reuse (textfilt.h). */
#include "engine/textfilt.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

void eng_stop_init(eng_stop_t *s, const char *const *stops, int n)
{
    memset(s, 0, sizeof *s);
    buf_init(&s->hold, 1u << 20);
    for (int i = 0; i < n && s->n < ENG_MAX_STOPS; i++) {
        size_t l = strlen(stops[i]);
        if (!l)
            continue;
        s->stop[s->n] = xstrdup(stops[i]);
        s->len[s->n++] = l;
        if (l > s->maxlen)
            s->maxlen = l;
    }
}

void eng_stop_free(eng_stop_t *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->stop[i]);
    buf_free(&s->hold);
    memset(s, 0, sizeof *s);
}

/* The longest k < len such that the last k bytes of h start some stop string. */
static size_t partial_tail(const eng_stop_t *s, const char *h, size_t len)
{
    size_t k = len < s->maxlen ? len : s->maxlen - 1;
    for (; k > 0; k--)
        for (int i = 0; i < s->n; i++)
            if (s->len[i] > k && memcmp(h + len - k, s->stop[i], k) == 0)
                return k;
    return 0;
}

bool eng_stop_feed(eng_stop_t *s, const char *text, size_t len, buf_t *out)
{
    if (!s->n) {
        if (len)
            buf_append(out, text, len);
        return false;
    }
    buf_append(&s->hold, text, len);
    const char *h = s->hold.data;
    size_t hl = s->hold.len;
    size_t first = hl;
    for (int i = 0; i < s->n; i++) {
        const char *p = hl >= s->len[i] ? memmem(h, hl, s->stop[i], s->len[i]) : NULL;
        if (p && (size_t)(p - h) < first)
            first = (size_t)(p - h);
    }
    if (first < hl) {
        buf_append(out, h, first);
        buf_reset(&s->hold);
        return true;
    }
    size_t keep = partial_tail(s, h, hl);
    buf_append(out, h, hl - keep);
    if (hl - keep)
        buf_consume(&s->hold, hl - keep);
    return false;
}

void eng_stop_flush(eng_stop_t *s, buf_t *out)
{
    buf_append(out, s->hold.data, s->hold.len);
    buf_reset(&s->hold);
}

enum { TH_START, TH_REASON_START, TH_REASON_LEAD, TH_REASON, TH_CONTENT_START, TH_CONTENT };

static const char OPEN[] = "<think>", CLOSE[] = "</think>";

void eng_think_init(eng_think_t *t, bool in_reasoning)
{
    t->state = in_reasoning ? TH_REASON_START : TH_START;
    buf_init(&t->hold, 1u << 20);
}

void eng_think_free(eng_think_t *t)
{
    buf_free(&t->hold);
}

bool eng_think_reasoning(const eng_think_t *t)
{
    return t->state == TH_REASON_START || t->state == TH_REASON_LEAD || t->state == TH_REASON;
}

/* Drops n bytes from the front of the held text. */
static void drop(buf_t *b, size_t n)
{
    if (n)
        buf_consume(b, n);
}

void eng_think_feed(eng_think_t *t, const char *text, size_t len, buf_t *reasoning, buf_t *content)
{
    buf_append(&t->hold, text, len);
    buf_t *h = &t->hold;
    for (;;) {
        switch (t->state) {
        case TH_START:
        case TH_REASON_START: {
            if (!h->len)
                return;
            size_t n = h->len < 7 ? h->len : 7;
            if (memcmp(h->data, OPEN, n) != 0) { /* not an opening tag */
                t->state = t->state == TH_START ? TH_CONTENT : TH_REASON_LEAD;
                continue;
            }
            if (n < 7)
                return; /* could still become "<think>" */
            drop(h, 7);
            t->state = TH_REASON_LEAD;
            continue;
        }
        case TH_REASON_LEAD: /* the newlines after "<think>" are not reasoning */
            while (h->len && h->data[0] == '\n')
                drop(h, 1);
            if (!h->len)
                return;
            t->state = TH_REASON;
            continue;
        case TH_REASON: {
            const char *p = h->len >= 8 ? memmem(h->data, h->len, CLOSE, 8) : NULL;
            if (p) {
                size_t at = (size_t)(p - h->data);
                buf_append(reasoning, h->data, at);
                drop(h, at + 8);
                t->state = TH_CONTENT_START;
                continue;
            }
            size_t keep = h->len < 7 ? h->len : 7;
            for (; keep > 0; keep--)
                if (memcmp(h->data + h->len - keep, CLOSE, keep) == 0)
                    break;
            buf_append(reasoning, h->data, h->len - keep);
            drop(h, h->len - keep);
            return;
        }
        case TH_CONTENT_START:
            while (h->len && h->data[0] == '\n')
                drop(h, 1);
            if (!h->len)
                return;
            t->state = TH_CONTENT;
            continue;
        default:
            buf_append(content, h->data, h->len);
            buf_reset(h);
            return;
        }
    }
}

void eng_think_flush(eng_think_t *t, buf_t *reasoning, buf_t *content)
{
    bool r = eng_think_reasoning(t);
    buf_append(r ? reasoning : content, t->hold.data, t->hold.len);
    buf_reset(&t->hold);
}

int eng_prefix_reuse(const int32_t *have, int nhave, const int32_t *want, int nwant, int unit)
{
    int lim = nhave < nwant - 1 ? nhave : nwant - 1;
    int n = 0;
    while (n < lim && have[n] == want[n])
        n++;
    return unit > 1 ? n / unit * unit : n;
}
