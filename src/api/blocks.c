/* blocks.c - events to blocks (reasoning, text, tool call), shared by the Anthropic and
 * Responses encoders. */
#include "api/blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "json/jw.h"

void api_blocks_init(api_blocks_t *k, const char *id, const char *model, int64_t created,
                     size_t max_answer)
{
    memset(k, 0, sizeof *k);
    k->open = -1;
    k->max_answer = max_answer;
    buf_init(&k->id, 256);
    buf_init(&k->model, 256);
    buf_puts(&k->id, id);
    buf_puts(&k->model, model);
    k->created = created;
}

void api_blocks_free(api_blocks_t *k)
{
    for (int i = 0; i < k->n; i++) {
        buf_free(&k->b[i].text);
        buf_free(&k->b[i].id);
        buf_free(&k->b[i].name);
    }
    free(k->b);
    buf_free(&k->id);
    buf_free(&k->model);
    memset(k, 0, sizeof *k);
    k->open = -1;
}

int api_blocks_meta(api_blocks_t *k, const bk_event_t *ev, int n)
{
    for (int i = 0; i < n; i++) {
        if (ev[i].type != BK_EV_META)
            continue;
        if (ev[i].meta.id.len) {
            buf_reset(&k->id);
            buf_append(&k->id, ev[i].meta.id.ptr, ev[i].meta.id.len);
        }
        if (ev[i].meta.model.len) {
            buf_reset(&k->model);
            buf_append(&k->model, ev[i].meta.model.ptr, ev[i].meta.model.len);
        }
        if (ev[i].meta.has_created)
            k->created = ev[i].meta.created;
    }
    return buf_failed(&k->id) || buf_failed(&k->model) ? -1 : 0;
}

int api_blocks_close(api_blocks_t *k, api_blk_fn fn, void *ud)
{
    if (k->open < 0)
        return 0;
    int blk = k->open;
    k->open = -1;
    return fn ? fn(ud, API_BLK_CLOSE, blk, (slice_t){"", 0}) : 0;
}

static int open_block(api_blocks_t *k, api_blk_kind_t kind, const bk_event_t *ev, api_blk_fn fn,
                      void *ud)
{
    if (api_blocks_close(k, fn, ud))
        return -1;
    if (k->n >= API_BLOCKS_MAX)
        return -1;
    k->b = xrealloc(k->b, (size_t)(k->n + 1) * sizeof *k->b);
    api_blk_t *b = &k->b[k->n];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    buf_init(&b->text, k->max_answer);
    buf_init(&b->id, 256);
    buf_init(&b->name, 256);
    if (kind == API_BLK_TOOL) {
        b->tool_index = ev->tool.index;
        int rc = 0;
        if (ev->tool.has_id)
            rc |= buf_append(&b->id, ev->tool.id.ptr, ev->tool.id.len);
        if (ev->tool.has_name)
            rc |= buf_append(&b->name, ev->tool.name.ptr, ev->tool.name.len);
        if (rc) {
            k->n++; /* freed with the rest */
            return -1;
        }
    }
    k->open = k->n++;
    return fn ? fn(ud, API_BLK_OPEN, k->open, (slice_t){"", 0}) : 0;
}

static int add_text(api_blocks_t *k, slice_t t, api_blk_fn fn, void *ud)
{
    if (t.len == 0)
        return 0;
    api_blk_t *b = &k->b[k->open];
    if (buf_append(&b->text, t.ptr, t.len))
        return -1;
    return fn ? fn(ud, API_BLK_DELTA, k->open, t) : 0;
}

int api_blocks_feed(api_blocks_t *k, const bk_event_t *ev, int n, api_blk_fn fn, void *ud)
{
    for (int i = 0; i < n; i++) {
        const bk_event_t *e = &ev[i];
        if (e->choice != 0 && e->type != BK_EV_META && e->type != BK_EV_USAGE)
            continue;
        switch (e->type) {
        case BK_EV_REASONING_DELTA:
        case BK_EV_CONTENT_DELTA: {
            if (e->text.len == 0)
                break;
            api_blk_kind_t kind =
                e->type == BK_EV_REASONING_DELTA ? API_BLK_REASONING : API_BLK_TEXT;
            if ((k->open < 0 || k->b[k->open].kind != kind) && open_block(k, kind, e, fn, ud))
                return -1;
            if (add_text(k, e->text, fn, ud))
                return -1;
            break;
        }
        case BK_EV_TOOL_CALL_DELTA: {
            /* a call continues while the index stays; a new index (or a new id) starts one */
            bool same = k->open >= 0 && k->b[k->open].kind == API_BLK_TOOL &&
                        k->b[k->open].tool_index == e->tool.index &&
                        !(e->tool.has_id && e->tool.id.len && k->b[k->open].id.len);
            if (!same && open_block(k, API_BLK_TOOL, e, fn, ud))
                return -1;
            if (same && e->tool.has_name && !k->b[k->open].name.len &&
                buf_append(&k->b[k->open].name, e->tool.name.ptr, e->tool.name.len))
                return -1;
            if (add_text(k, e->tool.args, fn, ud))
                return -1;
            break;
        }
        case BK_EV_FINISH:
            snprintf(k->finish, sizeof k->finish, "%.*s", (int)e->text.len, e->text.ptr);
            break;
        case BK_EV_USAGE:
            k->usage = e->usage;
            k->has_usage = true;
            break;
        case BK_EV_META:
        case BK_EV_ROLE:
        case BK_EV_LOGPROBS:
        case BK_EV_ERROR:
            break;
        }
    }
    return 0;
}

int64_t api_usage_cache_hit(const bk_usage_t *u)
{
    if (u->has & BK_USAGE_CACHE_HIT)
        return u->prompt_cache_hit_tokens;
    if (u->has & BK_USAGE_CACHED)
        return u->cached_tokens;
    return 0;
}

int64_t api_usage_uncached(const bk_usage_t *u)
{
    if (u->has & BK_USAGE_CACHE_MISS)
        return u->prompt_cache_miss_tokens;
    int64_t p = (u->has & BK_USAGE_PROMPT) ? u->prompt_tokens : 0;
    int64_t hit = api_usage_cache_hit(u);
    return p > hit ? p - hit : 0;
}

int api_blocks_id(const api_blocks_t *k, const char *prefix, int item, buf_t *out)
{
    buf_t tmp;
    buf_init(&tmp, 512);
    buf_puts(&tmp, prefix);
    slice_t id = buf_slice(&k->id);
    if (id.len)
        buf_append(&tmp, id.ptr, id.len);
    if (item >= 0)
        buf_printf(&tmp, "_%d", item);
    int rc = buf_failed(&tmp) ? -1 : jw_slice(out, buf_slice(&tmp));
    buf_free(&tmp);
    return rc;
}
