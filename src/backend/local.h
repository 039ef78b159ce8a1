/* local.h - the local backend: GGUF models served by seekd's own engine (src/engine/), behind
 * the same backend_t as the upstream relay. Each model has a scheduler thread that owns it,
 * batches the decode steps of its running requests, keeps finished sequences' KV caches for
 * prefix reuse, and hands events back to the loop; the loop never runs inference. */
#ifndef SEEKD_BACKEND_LOCAL_H
#define SEEKD_BACKEND_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/backend.h"

struct event_base;

#define LOCAL_MAX_MODELS 8

typedef struct {
    const char *name;          /* the model name clients ask for; NULL: general.name, else the
                                  file's base name without .gguf */
    const char *path;          /* the GGUF file */
    int threads;               /* engine threads; 0: 1 */
    int ctx;                   /* tokens per sequence; 0: the file's, at most 4096 */
    const char *chat_template; /* NULL: from the file; "raw" or a tok_template_parse name */
    int slots;                 /* sequences: running at once plus kept for reuse; 0: 4 */
    int queue;                 /* requests waiting for a slot; 0: 16 */
} local_model_def_t;

typedef struct local local_t;

/** Loads every model (on the calling thread, before serving) and starts its scheduler.
 * Returns NULL with err set when a file does not load or two models share a name. */
local_t *local_new(struct event_base *base, const local_model_def_t *defs, int n, char *err,
                   size_t errsz);
/** Stops the schedulers; calls in flight must have ended or been cancelled. */
void local_free(local_t *l);
backend_t *local_backend(local_t *l);
/** Whether model is one of the local names. */
bool local_serves(const local_t *l, const char *model);
int local_count(const local_t *l);
const char *local_name(const local_t *l, int i);

struct eng_model;
/** The chat template a model runs with: name ("raw" sets *raw) when given, else the one its
 * file asks for (tokenizer.chat_template recognised, else its tokenizer family's). Returns 0,
 * or -1 for an unknown name. */
int local_template(const struct eng_model *m, const char *name, bool *raw, int *tpl);

/** Counters for /metrics and tests. */
typedef struct {
    long requests, finished, cancelled, rejected;
    long decode_steps, decode_rows; /* batched steps and the rows they carried */
    long prompt_tokens, cache_hit_tokens;
} local_stats_t;
void local_stats(local_t *l, local_stats_t *out);

#endif
