/* blocks.h - the one event flow cut into the blocks Anthropic and Responses answers are made
 * of: a reasoning text, a text, a tool call each. Both encoders stream from the same steps and
 * build their whole answers from the same kept blocks. */
#ifndef SEEKD_API_BLOCKS_H
#define SEEKD_API_BLOCKS_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/event.h"
#include "base/buf.h"

/* More blocks than this in one answer is refused (an answer alternates a few times at most). */
#define API_BLOCKS_MAX 256

typedef enum {
    API_BLK_REASONING,
    API_BLK_TEXT,
    API_BLK_TOOL,
} api_blk_kind_t;

typedef struct {
    api_blk_kind_t kind;
    int tool_index; /* the backend's tool-call index (API_BLK_TOOL) */
    buf_t text;     /* reasoning, text, or the tool call's arguments */
    buf_t id, name; /* API_BLK_TOOL: the call's id and function name */
} api_blk_t;

/** One answer's blocks, its identity, finish reason and usage. */
typedef struct {
    api_blk_t *b;
    int n;
    int open; /* the block deltas go to now, or -1 */
    size_t max_answer;
    buf_t id, model; /* from the backend's META, else the fallbacks given at init */
    int64_t created;
    char finish[40]; /* the backend's finish_reason ("" until it comes) */
    bk_usage_t usage;
    bool has_usage;
} api_blocks_t;

typedef enum {
    API_BLK_OPEN,  /* block blk starts (a tool call's id and name are known) */
    API_BLK_DELTA, /* text was added to block blk */
    API_BLK_CLOSE, /* block blk is complete */
} api_blk_step_t;

/** Called for each step while events are fed; returns 0, or -1 to stop (out of room). */
typedef int (*api_blk_fn)(void *ud, api_blk_step_t step, int blk, slice_t delta);

/** Prepares blocks; id and model are the fallbacks when the backend names none; each text is
 * capped at max_answer bytes. */
void api_blocks_init(api_blocks_t *k, const char *id, const char *model, int64_t created,
                     size_t max_answer);
void api_blocks_free(api_blocks_t *k);

/** Takes the identity from the META events of a batch (done before anything is written, so
 * an answer's first event can name it). Returns -1 when an id or model is over 255 bytes. */
int api_blocks_meta(api_blocks_t *k, const bk_event_t *ev, int n);

/** Feeds one batch (choice 0; other choices are dropped, as DeepSeek serves one): opens,
 * extends and closes blocks, calling fn (may be NULL) for each step. Empty texts open
 * nothing. Returns 0, or -1 when a text is over its cap, there are too many blocks, or fn
 * said stop. */
int api_blocks_feed(api_blocks_t *k, const bk_event_t *ev, int n, api_blk_fn fn, void *ud);

/** Closes the open block, if any (fn as for feed). */
int api_blocks_close(api_blocks_t *k, api_blk_fn fn, void *ud);

/** Appends a JSON string: prefix, the answer's id, and "_<item>" when item >= 0. */
int api_blocks_id(const api_blocks_t *k, const char *prefix, int item, buf_t *out);

/** Prompt tokens that were not read from the cache, cache hits, and output tokens, from the
 * usage as reported: a missing cache figure counts as 0. */
int64_t api_usage_uncached(const bk_usage_t *u);
int64_t api_usage_cache_hit(const bk_usage_t *u);

#endif
