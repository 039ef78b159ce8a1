/* chunk.c - OpenAI/DeepSeek answer JSON to events. Deltas and whole messages have the same
 * fields, so one walker serves streamed and non-streamed answers. */
#include "backend/chunk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "json/jr.h"

#define MAX_EVENTS 64

void bk_chunk_state_init(bk_chunk_state_t *st)
{
    memset(st, 0, sizeof *st);
    buf_init(&st->bytes, 1 << 20);
    jr_init(&st->doc);
}

void bk_chunk_state_free(bk_chunk_state_t *st)
{
    free(st->lp);
    free(st->top);
    buf_free(&st->bytes);
    jr_free(&st->doc);
}

static void read_usage(const jr_doc_t *d, jr_val_t u, bk_usage_t *out)
{
    memset(out, 0, sizeof *out);
    const struct {
        const char *key;
        unsigned bit;
        size_t off;
    } fields[] = {
        {"prompt_tokens", BK_USAGE_PROMPT, offsetof(bk_usage_t, prompt_tokens)},
        {"completion_tokens", BK_USAGE_COMPLETION, offsetof(bk_usage_t, completion_tokens)},
        {"total_tokens", BK_USAGE_TOTAL, offsetof(bk_usage_t, total_tokens)},
        {"prompt_cache_hit_tokens", BK_USAGE_CACHE_HIT,
         offsetof(bk_usage_t, prompt_cache_hit_tokens)},
        {"prompt_cache_miss_tokens", BK_USAGE_CACHE_MISS,
         offsetof(bk_usage_t, prompt_cache_miss_tokens)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        jr_val_t v = jr_get(d, u, fields[i].key);
        if (jr_is_num(d, v)) {
            out->has |= fields[i].bit;
            *(int64_t *)((char *)out + fields[i].off) = jr_int(d, v);
        }
    }
    jr_val_t v = jr_get(d, jr_get(d, u, "prompt_tokens_details"), "cached_tokens");
    if (jr_is_num(d, v)) {
        out->has |= BK_USAGE_CACHED;
        out->cached_tokens = jr_int(d, v);
    }
    v = jr_get(d, jr_get(d, u, "completion_tokens_details"), "reasoning_tokens");
    if (jr_is_num(d, v)) {
        out->has |= BK_USAGE_REASONING;
        out->reasoning_tokens = jr_int(d, v);
    }
    jr_val_t stu = jr_get(d, u, "server_tool_use");
    jr_val_t ws = jr_get(d, stu, "web_search_requests"), wf = jr_get(d, stu, "web_fetch_requests");
    if (jr_is_num(d, ws) || jr_is_num(d, wf)) {
        out->has |= BK_USAGE_SERVER_TOOLS;
        out->web_search_requests = jr_is_num(d, ws) ? jr_int(d, ws) : 0;
        out->web_fetch_requests = jr_is_num(d, wf) ? jr_int(d, wf) : 0;
    }
}

/* Counts what a choice's logprobs need so scratch can be sized before any pointer is taken. */
static void count_lp(const jr_doc_t *d, jr_val_t list, size_t *items, size_t *tops, size_t *bytes)
{
    for (jr_val_t e = jr_first(d, list); e >= 0; e = jr_next(d, list, e)) {
        (*items)++;
        *bytes += jr_len(d, jr_get(d, e, "bytes"));
        jr_val_t tl = jr_get(d, e, "top_logprobs");
        for (jr_val_t t = jr_first(d, tl); t >= 0; t = jr_next(d, tl, t)) {
            (*tops)++;
            *bytes += jr_len(d, jr_get(d, t, "bytes"));
        }
    }
}

/* Sizes the scratch for every logprob entry of the chunk; returns -1 when it is too big. */
static int prepare_scratch(bk_chunk_state_t *st, jr_val_t choices)
{
    const jr_doc_t *d = &st->doc;
    size_t items = 0, tops = 0, bytes = 0;
    for (jr_val_t c = jr_first(d, choices); c >= 0; c = jr_next(d, choices, c)) {
        jr_val_t lp = jr_get(d, c, "logprobs");
        count_lp(d, jr_get(d, lp, "content"), &items, &tops, &bytes);
        count_lp(d, jr_get(d, lp, "reasoning_content"), &items, &tops, &bytes);
    }
    if (items > (size_t)st->lp_cap) {
        st->lp_cap = (int)items;
        st->lp = xrealloc(st->lp, items * sizeof *st->lp);
    }
    if (tops > (size_t)st->top_cap) {
        st->top_cap = (int)tops;
        st->top = xrealloc(st->top, tops * sizeof *st->top);
    }
    buf_reset(&st->bytes);
    return buf_reserve(&st->bytes, bytes) ? -1 : 0;
}

/* Reads one logprob entry; its bytes land in st->bytes, which was reserved and cannot move. */
static void read_lp(bk_chunk_state_t *st, jr_val_t e, bk_top_logprob_t *out)
{
    const jr_doc_t *d = &st->doc;
    out->token = jr_str(d, jr_get(d, e, "token"));
    out->logprob = jr_num(d, jr_get(d, e, "logprob"));
    jr_val_t bytes = jr_get(d, e, "bytes");
    out->has_bytes = jr_is(d, bytes, JR_ARR);
    out->bytes = (slice_t){st->bytes.data ? st->bytes.data + st->bytes.len : "", 0};
    for (jr_val_t b = jr_first(d, bytes); b >= 0; b = jr_next(d, bytes, b)) {
        unsigned char c = (unsigned char)jr_int(d, b);
        if (buf_append(&st->bytes, &c, 1) == 0) /* reserved: cannot fail, but never overcount */
            out->bytes.len++;
    }
}

/* Turns a logprobs list ({"content":[...]} or {"reasoning_content":[...]}) into one event. */
static int read_logprobs(bk_chunk_state_t *st, int *lp_used, int *top_used, jr_val_t list,
                         bool reasoning, bk_event_t *ev, int choice)
{
    const jr_doc_t *d = &st->doc;
    size_t n = jr_is(d, list, JR_ARR) ? jr_len(d, list) : 0;
    if (n == 0)
        return 0;
    bk_logprob_t *items = st->lp + *lp_used;
    size_t i = 0;
    for (jr_val_t e = jr_first(d, list); e >= 0; e = jr_next(d, list, e), i++) {
        bk_logprob_t *lp = &items[i];
        read_lp(st, e, &lp->tok);
        lp->top = st->top ? st->top + *top_used : NULL;
        lp->ntop = 0;
        jr_val_t tl = jr_get(d, e, "top_logprobs");
        for (jr_val_t te = jr_first(d, tl); te >= 0; te = jr_next(d, tl, te)) {
            read_lp(st, te, &st->top[(*top_used)++]);
            lp->ntop++;
        }
    }
    *lp_used += (int)n;
    memset(ev, 0, sizeof *ev);
    ev->type = BK_EV_LOGPROBS;
    ev->choice = choice;
    ev->logprobs.reasoning = reasoning;
    ev->logprobs.items = items;
    ev->logprobs.n = (int)n;
    return 1;
}

static bk_event_t *next_event(bk_event_t *evs, int *n, bk_event_type_t type, int choice)
{
    bk_event_t *ev = &evs[(*n)++];
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->choice = choice;
    return ev;
}

/* Whether v is a non-empty string. */
static bool nonempty_str(const jr_doc_t *d, jr_val_t v)
{
    return jr_is(d, v, JR_STR) && d->n[v].len > 0;
}

int bk_chunk_deliver(bk_chunk_state_t *st, const char *json, size_t len, bk_sink_t *sink, char *why,
                     size_t whylen)
{
    jr_doc_t *d = &st->doc;
    const char *perr = NULL;
    size_t at = 0;
    jr_val_t root = jr_parse(d, json, len, &perr, &at);
    if (!jr_is(d, root, JR_OBJ)) {
        if (root < 0)
            snprintf(why, whylen, "%s at byte %zu", perr, at);
        else
            snprintf(why, whylen, "answer is not a JSON object");
        return BK_CHUNK_MALFORMED;
    }
    bk_event_t evs[MAX_EVENTS];
    int n = 0, lp_used = 0, top_used = 0;
    st->chunks++;

    jr_val_t error = jr_get(d, root, "error");
    if (jr_is(d, error, JR_OBJ)) {
        bk_event_t *ev = next_event(evs, &n, BK_EV_ERROR, 0);
        ev->error.status = 502;
        ev->error.type = "api_error";
        jr_val_t m = jr_get(d, error, "message");
        ev->error.message =
            jr_is(d, m, JR_STR) ? jr_str(d, m) : SLICE_LIT("upstream reported an error");
        goto deliver;
    }

    jr_val_t choices = jr_get(d, root, "choices");
    jr_val_t usage = jr_get(d, root, "usage");
    if (!jr_is(d, choices, JR_ARR) && !jr_is(d, usage, JR_OBJ)) {
        snprintf(why, whylen, "answer has neither choices nor usage");
        return BK_CHUNK_MALFORMED;
    }
    if (prepare_scratch(st, choices)) {
        snprintf(why, whylen, "logprobs too large");
        return BK_CHUNK_MALFORMED;
    }
    if (!st->meta_sent) {
        bk_event_t *ev = next_event(evs, &n, BK_EV_META, 0);
        ev->meta.id = jr_str(d, jr_get(d, root, "id"));
        ev->meta.model = jr_str(d, jr_get(d, root, "model"));
        jr_val_t c = jr_get(d, root, "created");
        ev->meta.has_created = jr_is(d, c, JR_INT);
        ev->meta.created = jr_int(d, c);
        jr_val_t fp = jr_get(d, root, "system_fingerprint");
        ev->meta.has_fingerprint = jr_is(d, fp, JR_STR);
        ev->meta.fingerprint = jr_str(d, fp);
        st->meta_sent = true;
    }

    for (jr_val_t choice = jr_first(d, choices); choice >= 0;
         choice = jr_next(d, choices, choice)) {
        int idx = (int)jr_int(d, jr_get(d, choice, "index"));
        jr_val_t m = jr_get(d, choice, "delta");
        if (!jr_is(d, m, JR_OBJ))
            m = jr_get(d, choice, "message");
        jr_val_t text = jr_get(d, choice, "text"); /* text_completion */
        if (n + 8 > MAX_EVENTS)
            break;
        if (jr_is(d, m, JR_OBJ)) {
            if (jr_is(d, jr_get(d, m, "role"), JR_STR))
                next_event(evs, &n, BK_EV_ROLE, idx);
            /* An empty string is kept as an event: it is part of the delta's shape (a
             * thinking answer opens with reasoning_content "", and DeepSeek's last chunk
             * carries content ""), which the encoder reproduces. null is no event. */
            jr_val_t rc = jr_get(d, m, "reasoning_content");
            if (jr_is(d, rc, JR_STR))
                next_event(evs, &n, BK_EV_REASONING_DELTA, idx)->text = jr_str(d, rc);
            jr_val_t content = jr_get(d, m, "content");
            if (jr_is(d, content, JR_STR))
                next_event(evs, &n, BK_EV_CONTENT_DELTA, idx)->text = jr_str(d, content);
            jr_val_t tcs = jr_get(d, m, "tool_calls");
            int ti = 0;
            for (jr_val_t tc = jr_first(d, tcs); tc >= 0; tc = jr_next(d, tcs, tc), ti++) {
                if (n + 4 > MAX_EVENTS)
                    break;
                bk_event_t *ev = next_event(evs, &n, BK_EV_TOOL_CALL_DELTA, idx);
                jr_val_t ix = jr_get(d, tc, "index");
                ev->tool.index = jr_is(d, ix, JR_INT) ? (int)jr_int(d, ix) : ti;
                jr_val_t id = jr_get(d, tc, "id");
                ev->tool.has_id = jr_is(d, id, JR_STR);
                ev->tool.id = jr_str(d, id);
                ev->tool.type = jr_str(d, jr_get(d, tc, "type"));
                jr_val_t fn = jr_get(d, tc, "function");
                jr_val_t name = jr_get(d, fn, "name");
                jr_val_t args = jr_get(d, fn, "arguments");
                ev->tool.has_name = jr_is(d, name, JR_STR);
                ev->tool.name = jr_str(d, name);
                ev->tool.has_args = jr_is(d, args, JR_STR);
                ev->tool.args = jr_str(d, args);
            }
        } else if (nonempty_str(d, text)) {
            next_event(evs, &n, BK_EV_CONTENT_DELTA, idx)->text = jr_str(d, text);
        }
        jr_val_t lp = jr_get(d, choice, "logprobs");
        if (jr_is(d, lp, JR_OBJ)) {
            n += read_logprobs(st, &lp_used, &top_used, jr_get(d, lp, "reasoning_content"), true,
                               &evs[n], idx);
            n += read_logprobs(st, &lp_used, &top_used, jr_get(d, lp, "content"), false, &evs[n],
                               idx);
        }
        jr_val_t fr = jr_get(d, choice, "finish_reason");
        if (jr_is(d, fr, JR_STR)) {
            next_event(evs, &n, BK_EV_FINISH, idx)->text = jr_str(d, fr);
            st->finished = true;
        }
    }
    if (jr_is(d, usage, JR_OBJ))
        read_usage(d, usage, &next_event(evs, &n, BK_EV_USAGE, 0)->usage);

deliver:
    return n && sink->events(sink, evs, n) ? BK_CHUNK_STOP : 0;
}
