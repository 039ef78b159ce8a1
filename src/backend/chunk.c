/* chunk.c - OpenAI/DeepSeek answer JSON to events. Deltas and whole messages have the same
 * fields, so one walker serves streamed and non-streamed answers. */
#include "backend/chunk.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define MAX_EVENTS 64

void bk_chunk_state_init(bk_chunk_state_t *st)
{
    memset(st, 0, sizeof *st);
    buf_init(&st->bytes, 1 << 20);
}

void bk_chunk_state_free(bk_chunk_state_t *st)
{
    free(st->lp);
    free(st->top);
    buf_free(&st->bytes);
}

static slice_t jslice(const json_t *s)
{
    if (!json_is_string(s))
        return (slice_t){"", 0};
    return (slice_t){json_string_value(s), json_string_length(s)};
}

static int64_t jint(const json_t *v)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v)) {
        /* an upstream may send 1e300 where a count belongs: clamp, never overflow the cast */
        double d = json_real_value(v);
        if (!(d > -9.2e18))
            return d != d ? 0 : INT64_MIN;
        return d < 9.2e18 ? (int64_t)d : INT64_MAX;
    }
    return 0;
}

static void read_usage(const json_t *u, bk_usage_t *out)
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
        json_t *v = json_object_get(u, fields[i].key);
        if (json_is_number(v)) {
            out->has |= fields[i].bit;
            *(int64_t *)((char *)out + fields[i].off) = jint(v);
        }
    }
    json_t *v = json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens");
    if (json_is_number(v)) {
        out->has |= BK_USAGE_CACHED;
        out->cached_tokens = jint(v);
    }
    v = json_object_get(json_object_get(u, "completion_tokens_details"), "reasoning_tokens");
    if (json_is_number(v)) {
        out->has |= BK_USAGE_REASONING;
        out->reasoning_tokens = jint(v);
    }
}

/* Counts what a choice's logprobs need so scratch can be sized before any pointer is taken. */
static void count_lp(const json_t *list, size_t *items, size_t *tops, size_t *bytes)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        (*items)++;
        *bytes += json_array_size(json_object_get(e, "bytes"));
        size_t j;
        json_t *t;
        json_array_foreach(json_object_get(e, "top_logprobs"), j, t)
        {
            (*tops)++;
            *bytes += json_array_size(json_object_get(t, "bytes"));
        }
    }
}

/* Sizes the scratch for every logprob entry of the chunk; returns -1 when it is too big. */
static int prepare_scratch(bk_chunk_state_t *st, const json_t *choices)
{
    size_t items = 0, tops = 0, bytes = 0, i;
    json_t *c;
    json_array_foreach(choices, i, c)
    {
        json_t *lp = json_object_get(c, "logprobs");
        count_lp(json_object_get(lp, "content"), &items, &tops, &bytes);
        count_lp(json_object_get(lp, "reasoning_content"), &items, &tops, &bytes);
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
static void read_lp(bk_chunk_state_t *st, const json_t *e, bk_top_logprob_t *out)
{
    out->token = jslice(json_object_get(e, "token"));
    out->logprob = json_number_value(json_object_get(e, "logprob"));
    json_t *bytes = json_object_get(e, "bytes");
    out->has_bytes = json_is_array(bytes);
    out->bytes = (slice_t){st->bytes.data ? st->bytes.data + st->bytes.len : "", 0};
    size_t i;
    json_t *b;
    json_array_foreach(bytes, i, b)
    {
        unsigned char c = (unsigned char)jint(b);
        buf_append(&st->bytes, &c, 1);
        out->bytes.len++;
    }
}

/* Turns a logprobs list ({"content":[...]} or {"reasoning_content":[...]}) into one event. */
static int read_logprobs(bk_chunk_state_t *st, int *lp_used, int *top_used, const json_t *list,
                         bool reasoning, bk_event_t *ev, int choice)
{
    size_t n = json_array_size(list);
    if (n == 0)
        return 0;
    bk_logprob_t *items = st->lp + *lp_used;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        bk_logprob_t *lp = &items[i];
        read_lp(st, e, &lp->tok);
        lp->top = st->top ? st->top + *top_used : NULL;
        lp->ntop = 0;
        size_t j;
        json_t *te;
        json_array_foreach(json_object_get(e, "top_logprobs"), j, te)
        {
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

int bk_chunk_deliver(bk_chunk_state_t *st, const char *json, size_t len, bk_sink_t *sink, char *why,
                     size_t whylen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        snprintf(why, whylen, "%s", root ? "answer is not a JSON object" : jerr.text);
        json_decref(root);
        return BK_CHUNK_MALFORMED;
    }
    bk_event_t evs[MAX_EVENTS];
    int n = 0, lp_used = 0, top_used = 0;
    st->chunks++;

    json_t *error = json_object_get(root, "error");
    if (json_is_object(error)) {
        bk_event_t *ev = &evs[n++];
        memset(ev, 0, sizeof *ev);
        ev->type = BK_EV_ERROR;
        ev->error.status = 502;
        ev->error.type = "api_error";
        json_t *m = json_object_get(error, "message");
        ev->error.message = json_is_string(m) ? jslice(m) : SLICE_LIT("upstream reported an error");
        goto deliver;
    }

    json_t *choices = json_object_get(root, "choices");
    json_t *usage = json_object_get(root, "usage");
    if (!json_is_array(choices) && !json_is_object(usage)) {
        snprintf(why, whylen, "answer has neither choices nor usage");
        json_decref(root);
        return BK_CHUNK_MALFORMED;
    }
    if (prepare_scratch(st, choices)) {
        snprintf(why, whylen, "logprobs too large");
        json_decref(root);
        return BK_CHUNK_MALFORMED;
    }
    if (!st->meta_sent) {
        bk_event_t *ev = &evs[n++];
        memset(ev, 0, sizeof *ev);
        ev->type = BK_EV_META;
        ev->meta.id = jslice(json_object_get(root, "id"));
        ev->meta.model = jslice(json_object_get(root, "model"));
        json_t *c = json_object_get(root, "created");
        ev->meta.has_created = json_is_integer(c);
        ev->meta.created = jint(c);
        json_t *fp = json_object_get(root, "system_fingerprint");
        ev->meta.has_fingerprint = json_is_string(fp);
        ev->meta.fingerprint = jslice(fp);
        st->meta_sent = true;
    }

    size_t ci;
    json_t *choice;
    json_array_foreach(choices, ci, choice)
    {
        int idx = (int)jint(json_object_get(choice, "index"));
        json_t *d = json_object_get(choice, "delta");
        if (!json_is_object(d))
            d = json_object_get(choice, "message");
        json_t *text = json_object_get(choice, "text"); /* text_completion */
        if (n + 8 > MAX_EVENTS)
            break;
        if (json_is_object(d)) {
            json_t *role = json_object_get(d, "role");
            if (json_is_string(role)) {
                bk_event_t *ev = &evs[n++];
                memset(ev, 0, sizeof *ev);
                ev->type = BK_EV_ROLE;
                ev->choice = idx;
            }
            json_t *rc = json_object_get(d, "reasoning_content");
            if (json_is_string(rc) && json_string_length(rc)) {
                bk_event_t *ev = &evs[n++];
                memset(ev, 0, sizeof *ev);
                ev->type = BK_EV_REASONING_DELTA;
                ev->choice = idx;
                ev->text = jslice(rc);
            }
            json_t *content = json_object_get(d, "content");
            if (json_is_string(content) && json_string_length(content)) {
                bk_event_t *ev = &evs[n++];
                memset(ev, 0, sizeof *ev);
                ev->type = BK_EV_CONTENT_DELTA;
                ev->choice = idx;
                ev->text = jslice(content);
            }
            size_t ti;
            json_t *tc;
            json_array_foreach(json_object_get(d, "tool_calls"), ti, tc)
            {
                if (n + 4 > MAX_EVENTS)
                    break;
                bk_event_t *ev = &evs[n++];
                memset(ev, 0, sizeof *ev);
                ev->type = BK_EV_TOOL_CALL_DELTA;
                ev->choice = idx;
                json_t *ix = json_object_get(tc, "index");
                ev->tool.index = json_is_integer(ix) ? (int)jint(ix) : (int)ti;
                json_t *id = json_object_get(tc, "id");
                ev->tool.has_id = json_is_string(id);
                ev->tool.id = jslice(id);
                ev->tool.type = jslice(json_object_get(tc, "type"));
                json_t *fn = json_object_get(tc, "function");
                json_t *name = json_object_get(fn, "name");
                json_t *args = json_object_get(fn, "arguments");
                ev->tool.has_name = json_is_string(name);
                ev->tool.name = jslice(name);
                ev->tool.has_args = json_is_string(args);
                ev->tool.args = jslice(args);
            }
        } else if (json_is_string(text) && json_string_length(text)) {
            bk_event_t *ev = &evs[n++];
            memset(ev, 0, sizeof *ev);
            ev->type = BK_EV_CONTENT_DELTA;
            ev->choice = idx;
            ev->text = jslice(text);
        }
        json_t *lp = json_object_get(choice, "logprobs");
        if (json_is_object(lp)) {
            n += read_logprobs(st, &lp_used, &top_used, json_object_get(lp, "reasoning_content"),
                               true, &evs[n], idx);
            n += read_logprobs(st, &lp_used, &top_used, json_object_get(lp, "content"), false,
                               &evs[n], idx);
        }
        json_t *fr = json_object_get(choice, "finish_reason");
        if (json_is_string(fr)) {
            bk_event_t *ev = &evs[n++];
            memset(ev, 0, sizeof *ev);
            ev->type = BK_EV_FINISH;
            ev->choice = idx;
            ev->text = jslice(fr);
            st->finished = true;
        }
    }
    if (json_is_object(usage)) {
        bk_event_t *ev = &evs[n++];
        memset(ev, 0, sizeof *ev);
        ev->type = BK_EV_USAGE;
        read_usage(usage, &ev->usage);
    }

deliver:;
    int rc = n ? sink->events(sink, evs, n) : 0;
    json_decref(root);
    return rc ? BK_CHUNK_STOP : 0;
}
