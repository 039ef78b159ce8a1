/* models.c - model lists: an upstream's GET /models answer read within bounds, configured
 * names made into model objects, lists merged by id through a small hash index. */
#include "backend/models.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "json/jr.h"
#include "json/jw.h"

/* ---- the list and its id index ---- */

/* Open addressing over ids: 2x the most models a list holds, so probe sequences stay short.
 * Slots hold index + 1; 0 is empty. */
#define SLOTS (2 * MODELS_MAX_COUNT)

/* FNV-1a from a start chosen per process: an upstream cannot pick ids that collide. */
static uint32_t id_hash(const char *p, size_t n)
{
    static uint32_t seed;
    if (!seed && (getentropy(&seed, sizeof seed) != 0 || !seed))
        seed = 2166136261u;
    uint32_t h = seed;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

/* The slot of id: the one holding it, or the empty one where it would go. */
static int *slot_of(const models_list_t *l, const char *id, size_t n)
{
    uint32_t i = id_hash(id, n) & (SLOTS - 1);
    for (;;) {
        int *s = &l->slots[i];
        if (*s == 0)
            return s;
        const model_t *m = &l->v[*s - 1];
        if (m->id_len == n && memcmp(m->id, id, n) == 0)
            return s;
        i = (i + 1) & (SLOTS - 1);
    }
}

static bool holds(const models_list_t *l, const char *id, size_t n)
{
    return l->slots && *slot_of(l, id, n) != 0;
}

/* Appends a model (id and json copied); the caller checked the bounds and that id is new. */
static void push(models_list_t *l, const char *id, size_t id_len, const char *json, size_t json_len)
{
    if (!l->slots)
        l->slots = xcalloc(SLOTS, sizeof *l->slots);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    model_t *m = &l->v[l->n++];
    m->id = xstrndup(id, id_len);
    m->id_len = id_len;
    m->json = xstrndup(json, json_len);
    m->json_len = json_len;
    l->bytes += json_len;
    *slot_of(l, id, id_len) = l->n;
}

void models_free(models_list_t *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].id);
        free(l->v[i].json);
    }
    free(l->v);
    free(l->slots);
    memset(l, 0, sizeof *l);
}

const model_t *models_find(const models_list_t *l, slice_t id)
{
    if (!l->slots)
        return NULL;
    int s = *slot_of(l, id.ptr, id.len);
    return s ? &l->v[s - 1] : NULL;
}

int models_merge(models_list_t *to, const models_list_t *from)
{
    int left_out = 0;
    for (int i = 0; i < from->n; i++) {
        const model_t *m = &from->v[i];
        if (holds(to, m->id, m->id_len))
            continue;
        if (to->n >= MODELS_MAX_COUNT || to->bytes + m->json_len > MODELS_MAX_LIST_BYTES) {
            left_out++;
            continue;
        }
        push(to, m->id, m->id_len, m->json, m->json_len);
    }
    return left_out;
}

void models_copy(models_list_t *to, const models_list_t *from)
{
    models_free(to);
    for (int i = 0; i < from->n; i++)
        push(to, from->v[i].id, from->v[i].id_len, from->v[i].json, from->v[i].json_len);
}

void models_add_names(models_list_t *l, const char *const *names, int n)
{
    buf_t b;
    buf_init(&b, MODELS_MAX_OBJECT);
    for (int i = 0; i < n && l->n < MODELS_MAX_COUNT; i++) {
        size_t len = strlen(names[i]);
        if (strcmp(names[i], "*") == 0 || holds(l, names[i], len))
            continue;
        buf_reset(&b);
        buf_puts(&b, "{\"id\":");
        jw_str(&b, names[i], len);
        buf_puts(&b, ",\"object\":\"model\",\"owned_by\":\"deepseek\"}");
        if (!buf_failed(&b))
            push(l, names[i], len, b.data, b.len);
    }
    buf_free(&b);
}

void models_write_list(const models_list_t *l, buf_t *b)
{
    buf_puts(b, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i < l->n; i++) {
        if (i)
            buf_puts(b, ",");
        buf_append(b, l->v[i].json, l->v[i].json_len);
    }
    buf_puts(b, "]}");
}

/* ---- an upstream's answer ---- */

/* Writes the value v compactly; -1 when it nests deeper than MODELS_MAX_DEPTH. A full b is
 * the caller's to see (buf_failed). */
static int write_value(const jr_doc_t *d, jr_val_t v, buf_t *b, int depth)
{
    if (depth > MODELS_MAX_DEPTH)
        return -1;
    const jr_node_t *n = &d->n[v];
    switch (jr_type(d, v)) {
    case JR_NULL:
        buf_puts(b, "null");
        return 0;
    case JR_FALSE:
        buf_puts(b, "false");
        return 0;
    case JR_TRUE:
        buf_puts(b, "true");
        return 0;
    case JR_INT:
    case JR_REAL:
        buf_append(b, d->src + n->off, n->len); /* the literal as the upstream wrote it */
        return 0;
    case JR_STR:
        jw_slice(b, jr_str(d, v));
        return 0;
    case JR_ARR:
        buf_puts(b, "[");
        for (jr_val_t e = jr_first(d, v); e >= 0; e = jr_next(d, v, e)) {
            if (e != v + 1)
                buf_puts(b, ",");
            if (write_value(d, e, b, depth + 1))
                return -1;
        }
        buf_puts(b, "]");
        return 0;
    case JR_OBJ:
        buf_puts(b, "{");
        for (jr_val_t k = jr_first_key(d, v); k >= 0; k = jr_next_key(d, v, k)) {
            if (k != v + 1)
                buf_puts(b, ",");
            jw_slice(b, jr_str(d, k));
            buf_puts(b, ":");
            if (write_value(d, k + 1, b, depth + 1))
                return -1;
        }
        buf_puts(b, "}");
        return 0;
    default:
        return -1;
    }
}

/* Checks one entry of "data" and writes it into b. Returns 0, or -1 with why. */
static int read_entry(const jr_doc_t *d, jr_val_t e, int i, buf_t *b, char *why, size_t whylen)
{
    if (!jr_is(d, e, JR_OBJ)) {
        snprintf(why, whylen, "data[%d] is not an object", i);
        return -1;
    }
    jr_val_t idv = jr_get(d, e, "id");
    slice_t id = jr_str(d, idv);
    if (!jr_is(d, idv, JR_STR) || id.len == 0 || id.len > MODELS_MAX_ID) {
        snprintf(why, whylen, "data[%d] has no id of 1 to %d bytes", i, MODELS_MAX_ID);
        return -1;
    }
    for (size_t c = 0; c < id.len; c++) {
        if ((unsigned char)id.ptr[c] < 0x20 || id.ptr[c] == 0x7f) {
            snprintf(why, whylen, "data[%d]'s id has a control character", i);
            return -1;
        }
    }
    jr_val_t obj = jr_get(d, e, "object"), owner = jr_get(d, e, "owned_by");
    if (obj >= 0 && !slice_eq_cstr(jr_str(d, obj), "model")) {
        snprintf(why, whylen, "data[%d] is not a model (\"object\" is not \"model\")", i);
        return -1;
    }
    if (owner >= 0 && !jr_is(d, owner, JR_STR)) {
        snprintf(why, whylen, "data[%d]'s owned_by is not a string", i);
        return -1;
    }
    buf_reset(b);
    if (write_value(d, e, b, 1)) {
        snprintf(why, whylen, "data[%d] nests deeper than %d levels", i, MODELS_MAX_DEPTH);
        return -1;
    }
    if (obj < 0 || owner < 0) {
        b->len--; /* reopen the object: it is never empty, it has an id */
        if (obj < 0)
            buf_puts(b, ",\"object\":\"model\"");
        if (owner < 0)
            buf_puts(b, ",\"owned_by\":\"deepseek\"");
        buf_puts(b, "}");
    }
    if (buf_failed(b)) {
        snprintf(why, whylen, "data[%d] is larger than %d bytes", i, MODELS_MAX_OBJECT);
        return -1;
    }
    return 0;
}

int models_parse(const char *body, size_t len, models_list_t *out, char *why, size_t whylen)
{
    models_free(out);
    if (len > MODELS_MAX_BODY) {
        snprintf(why, whylen, "the answer is larger than %u bytes", MODELS_MAX_BODY);
        return -1;
    }
    jr_doc_t d;
    jr_init(&d);
    buf_t b;
    buf_init(&b, MODELS_MAX_OBJECT);
    int rc = -1;
    const char *err = NULL;
    size_t at = 0;
    jr_val_t root = jr_parse(&d, body, len, &err, &at);
    jr_val_t data = jr_get(&d, root, "data");
    if (root < 0) {
        snprintf(why, whylen, "the answer is not JSON (%s at byte %zu)", err, at);
        goto out;
    }
    if (!jr_is(&d, data, JR_ARR)) {
        snprintf(why, whylen, "the answer has no \"data\" array");
        goto out;
    }
    if (jr_len(&d, data) > MODELS_MAX_COUNT) {
        snprintf(why, whylen, "the answer lists %zu models, more than %d", jr_len(&d, data),
                 MODELS_MAX_COUNT);
        goto out;
    }
    int i = 0;
    for (jr_val_t e = jr_first(&d, data); e >= 0; e = jr_next(&d, data, e), i++) {
        if (read_entry(&d, e, i, &b, why, whylen))
            goto out;
        slice_t id = jr_str(&d, jr_get(&d, e, "id"));
        if (!holds(out, id.ptr, id.len))
            push(out, id.ptr, id.len, b.data, b.len);
    }
    rc = 0;
out:
    if (rc)
        models_free(out);
    buf_free(&b);
    jr_free(&d);
    return rc;
}
