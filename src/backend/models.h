/* models.h - model lists as GET /models answers them: an upstream's answer read and bounded,
 * configured names made into model objects, lists merged by id. Pure: no I/O here; the
 * fetching and caching is catalog.c's. */
#ifndef SEEKD_BACKEND_MODELS_H
#define SEEKD_BACKEND_MODELS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/slice.h"

/* What one upstream's GET /models answer may be: an answer beyond any of these is refused
 * whole (the upstream keeps the list it had). */
#define MODELS_MAX_BODY (512u * 1024) /* bytes of the answer */
#define MODELS_MAX_COUNT 1024         /* models in it (also the most a merged list holds) */
#define MODELS_MAX_ID 256             /* bytes of one id */
#define MODELS_MAX_OBJECT 4096        /* bytes of one model object, as seekd writes it */
#define MODELS_MAX_DEPTH 8            /* nesting inside one model object */
/* The most bytes of model objects a merged list holds: below the default max_output (1 MiB),
 * so GET /models always fits one answer. */
#define MODELS_MAX_LIST_BYTES (768u * 1024)

/** One model: its id and its whole object as compact JSON (both NUL-terminated, owned). */
typedef struct {
    char *id;
    size_t id_len;
    char *json;
    size_t json_len;
} model_t;

/** A list of models in order, ids unique. Zero-initialized is empty. */
typedef struct {
    model_t *v;
    int n, cap;
    size_t bytes; /* sum of json_len */
    int *slots;   /* the id index (models.c) */
} models_list_t;

/** Reads an upstream's GET /models answer, `{"data":[{"id":"...", ...}, ...]}`, into out
 * (emptied first). Each object is kept whole, in its own key order, written compactly; one
 * without `object` gets `"object":"model"` and one without `owned_by` gets
 * `"owned_by":"deepseek"`, as DeepSeek shapes them. An id met again is kept once, the first.
 * Returns 0, or -1 with out empty and `why` (for the log) when the answer is not such a list
 * or breaks a bound above. */
int models_parse(const char *body, size_t len, models_list_t *out, char *why, size_t whylen);

/** Appends {"id":NAME,"object":"model","owned_by":"deepseek"} for each name not held yet
 * ("*" is skipped: it stands for every model, not for one). */
void models_add_names(models_list_t *l, const char *const *names, int n);

/** Appends each model of `from` whose id `to` does not hold yet, while `to` stays within
 * MODELS_MAX_COUNT and MODELS_MAX_LIST_BYTES. Returns how many were left out for those
 * bounds. */
int models_merge(models_list_t *to, const models_list_t *from);

/** The model whose id is exactly `id`, or NULL. */
const model_t *models_find(const models_list_t *l, slice_t id);

/** Appends `{"object":"list","data":[...]}` to b; the caller checks b once. */
void models_write_list(const models_list_t *l, buf_t *b);

/** A deep copy of `from` into `to` (emptied first). */
void models_copy(models_list_t *to, const models_list_t *from);

/** Frees every model; the list is empty and reusable. */
void models_free(models_list_t *l);

#endif
