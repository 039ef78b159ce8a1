/* local.c - the local backend on the loop's side: loading the models, start/cancel/resume,
 * and handing each call's events from its outbox to the sink when the scheduler wakes it.
 *
 * Ownership of a call: the loop creates it; the scheduler (local_sched.c) holds it from admission
 * until it sets engine_done (under the model's mutex) and never touches it after; the loop frees
 * it once engine_done is set and the sink has had its end() (or the call was cancelled). */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/local_int.h"
#include "base/log.h"
#include "base/mem.h"

/* ---- the loop side of a call ---- */

static void call_free(bk_call_t *c)
{
    event_free(c->wake);
    free(c->body);
    buf_free(&c->out.text);
    free(c->out.recs);
    free(c->out.lps);
    free(c->out.tops);
    free(c);
}

static bk_top_logprob_t lp_slice(const local_outbox_t *o, const local_lpent_t *e)
{
    const char *t = o->text.data ? o->text.data : "";
    return (bk_top_logprob_t){.token = {t + e->tok_off, e->tok_len},
                              .logprob = e->lp,
                              .bytes = {t + e->raw_off, e->raw_len},
                              .has_bytes = true};
}

/* The scheduler woke the call: deliver what its outbox holds. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bk_call_t *c = arg;
    local_model_t *lm = c->lm;
    local_outbox_t o = {0};
    pthread_mutex_lock(&lm->mu);
    o = c->out;
    c->out.recs = NULL;
    c->out.n = c->out.cap = 0;
    c->out.lps = NULL;
    c->out.nlps = c->out.caplps = 0;
    c->out.tops = NULL;
    c->out.ntops = c->out.captops = 0;
    c->out.tokens = 0;
    buf_init(&c->out.text, 1u << 26);
    bool done = c->engine_done;
    c->delivering = !done; /* until the sink said whether it can take more */
    pthread_mutex_unlock(&lm->mu);
    if (!c->ended && o.n) {
        bk_event_t *ev = xcalloc((size_t)o.n, sizeof *ev);
        bk_logprob_t *items = o.nlps ? xcalloc((size_t)o.nlps, sizeof *items) : NULL;
        bk_top_logprob_t *tops = o.ntops ? xcalloc((size_t)o.ntops, sizeof *tops) : NULL;
        for (int i = 0; i < o.ntops; i++)
            tops[i] = lp_slice(&o, &o.tops[i]);
        for (int i = 0; i < o.n; i++) {
            ev[i].type = (bk_event_type_t)o.recs[i].type;
            ev[i].text = (slice_t){o.text.data ? o.text.data + o.recs[i].off : "", o.recs[i].len};
            if (ev[i].type == BK_EV_USAGE)
                ev[i].usage = o.usage;
            if (ev[i].type == BK_EV_LOGPROBS) {
                const local_lp_t *lp = &o.lps[o.recs[i].off];
                bk_logprob_t *it = &items[o.recs[i].off];
                it->tok = lp_slice(&o, &lp->tok);
                it->top = tops ? tops + lp->top0 : NULL;
                it->ntop = lp->ntop;
                ev[i].logprobs.reasoning = lp->reasoning;
                ev[i].logprobs.items = it;
                ev[i].logprobs.n = 1;
                ev[i].text = (slice_t){"", 0};
            }
            if (ev[i].type == BK_EV_ERROR) {
                ev[i].error.status = o.err_status;
                ev[i].error.type = o.err_type;
                ev[i].error.message = ev[i].text;
                ev[i].error.retry_after_s = o.err_retry;
                ev[i].text = (slice_t){"", 0};
            }
        }
        if (o.recs[0].type != BK_EV_ERROR && c->sink->served_by && !c->served) {
            c->served = true;
            c->sink->served_by(c->sink, "local", lm->name);
        }
        int rc = c->sink->events(c->sink, ev, o.n);
        free(ev);
        free(items);
        free(tops);
        if (rc < 0 && !done) { /* the consumer wants no more: stop the sequence */
            pthread_mutex_lock(&lm->mu);
            c->cancelled = true;
            pthread_cond_signal(&lm->cv);
            done = c->engine_done;
            pthread_mutex_unlock(&lm->mu);
            c->ended = true;
            c->sink->end(c->sink);
        }
    }
    buf_free(&o.text);
    free(o.recs);
    free(o.lps);
    free(o.tops);
    if (done && !c->ended) {
        c->ended = true;
        c->sink->end(c->sink);
    } else if (!done) {
        /* the scheduler waits on this call until it knows: paused, or go on */
        bool slow = !c->ended && c->sink->writable && !c->sink->writable(c->sink);
        pthread_mutex_lock(&lm->mu);
        c->paused |= slow;
        c->delivering = false;
        pthread_cond_signal(&lm->cv);
        pthread_mutex_unlock(&lm->mu);
        if (slow)
            log_debug("req=%s local model %s: paused, the client is slow", c->rid, lm->name);
    }
    if (done && c->ended)
        call_free(c);
}

static local_model_t *find(const local_t *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (name && !strcmp(l->models[i].name, name))
            return &l->models[i];
    return NULL;
}

static bk_call_t *local_start(backend_t *be, const bk_request_t *r, bk_sink_t *sink)
{
    local_t *l = (local_t *)be;
    local_model_t *lm = find(l, r->model);
    if (!lm)
        lm = &l->models[0]; /* the router sends only local names here */
    bk_call_t *c = xcalloc(1, sizeof *c);
    c->lm = lm;
    c->sink = sink;
    c->slot = -1;
    c->kind = r->kind;
    slice_copy_cstr(c->rid, sizeof c->rid, slice_of(r->request_id ? r->request_id : "-"));
    c->body_len = r->raw_body.len;
    c->body = xmalloc(c->body_len + 1);
    memcpy(c->body, r->raw_body.ptr, c->body_len);
    c->body[c->body_len] = 0;
    buf_init(&c->out.text, 1u << 26);
    c->wake = event_new(l->base, -1, 0, on_wake, c);
    pthread_mutex_lock(&lm->mu);
    lm->st.requests++;
    /* running and waiting together: admission may lag behind start */
    if (lm->nactive + lm->nqueued >= lm->nslots + lm->queue_max) {
        lm->st.rejected++;
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Server Overloaded: model %s is running %d requests and %d more are waiting",
                 lm->name, lm->nactive, lm->nqueued);
        c->out.err_status = 503;
        c->out.err_type = "server_overloaded";
        c->out.err_retry = 1;
        local_out_text(&c->out, BK_EV_ERROR, msg, strlen(msg));
        c->engine_done = true;
        event_active(c->wake, EV_READ, 0); /* delivered on the next loop turn, not in start */
    } else {
        c->state = LC_QUEUED;
        if (lm->qtail)
            lm->qtail->qnext = c;
        else
            lm->qhead = c;
        lm->qtail = c;
        lm->nqueued++;
        pthread_cond_signal(&lm->cv);
    }
    pthread_mutex_unlock(&lm->mu);
    log_debug("req=%s local model %s: queued", c->rid, lm->name);
    return c;
}

static void local_cancel(bk_call_t *c)
{
    local_model_t *lm = c->lm;
    c->ended = true; /* the sink hears nothing more */
    pthread_mutex_lock(&lm->mu);
    if (!c->engine_done && c->state == LC_QUEUED) {
        bk_call_t **pp = &lm->qhead, *prev = NULL;
        while (*pp && *pp != c) {
            prev = *pp;
            pp = &(*pp)->qnext;
        }
        if (*pp) {
            *pp = c->qnext;
            if (lm->qtail == c)
                lm->qtail = prev;
            lm->nqueued--;
            c->engine_done = true;
            lm->st.cancelled++;
        }
    }
    c->cancelled = true;
    bool done = c->engine_done;
    pthread_cond_signal(&lm->cv);
    pthread_mutex_unlock(&lm->mu);
    log_debug("req=%s local model %s: cancel asked", c->rid, lm->name);
    if (done)
        call_free(c);
}

static void local_resume(bk_call_t *c)
{
    local_model_t *lm = c->lm;
    pthread_mutex_lock(&lm->mu);
    c->paused = false;
    pthread_cond_signal(&lm->cv);
    pthread_mutex_unlock(&lm->mu);
    log_debug("req=%s local model %s: resumed", c->rid, lm->name);
}

/* ---- models ---- */

/* The chat template a file asks for: its tokenizer.chat_template recognised by what it
 * contains, else its tokenizer family's. */
static tok_template_t template_of(const eng_model_t *m, const tok_t *tok)
{
    size_t n = 0;
    const char *t = eng_model_meta_str(m, "tokenizer.chat_template", &n);
    if (t && n) {
        char *s = xmalloc(n + 1);
        memcpy(s, t, n);
        s[n] = 0;
        tok_template_t r = 0;
        if (strstr(s, "<｜Assistant｜>") && strstr(s, "<think>"))
            r = TOK_TPL_DEEPSEEK_R1;
        else if (strstr(s, "<｜Assistant｜>"))
            r = TOK_TPL_DEEPSEEK_V3;
        else if (strstr(s, "### Instruction") || strstr(s, "### Response"))
            r = TOK_TPL_DEEPSEEK_CODER;
        else if (strstr(s, "[INST]"))
            r = TOK_TPL_LLAMA2;
        free(s);
        if (r)
            return r;
    }
    return tok_template_for_family(tok_family(tok));
}

int local_template(const eng_model_t *m, const char *name, bool *raw, int *tpl)
{
    *raw = false;
    if (name && !strcmp(name, "raw")) {
        *raw = true;
        *tpl = 0;
        return 0;
    }
    tok_template_t t;
    if (name) {
        if (tok_template_parse(name, &t) != 0)
            return -1;
    } else {
        t = template_of(m, eng_model_tok(m));
    }
    *tpl = (int)t;
    return 0;
}

static int load_model(local_t *l, local_model_t *lm, const local_model_def_t *d, char *err,
                      size_t errsz)
{
    lm->l = l;
    char e[400];
    eng_opts_t eo = {.threads = d->threads, .ctx = d->ctx};
    if (eng_model_load(d->path, &eo, &lm->m, e, sizeof e) != 0) {
        snprintf(err, errsz, "model %s: %s", d->path, e);
        return -1;
    }
    lm->tok = eng_model_tok(lm->m);
    if (!lm->tok) {
        snprintf(err, errsz, "model %s: the file has no tokenizer", d->path);
        return -1;
    }
    if (d->name && *d->name) {
        lm->name = xstrdup(d->name);
    } else {
        size_t n = 0;
        const char *g = eng_model_meta_str(lm->m, "general.name", &n);
        if (g && n && n < 128) {
            lm->name = xmalloc(n + 1);
            memcpy(lm->name, g, n);
            lm->name[n] = 0;
        } else {
            const char *b = strrchr(d->path, '/');
            lm->name = xstrdup(b ? b + 1 : d->path);
            size_t k = strlen(lm->name);
            if (k > 5 && !strcmp(lm->name + k - 5, ".gguf"))
                lm->name[k - 5] = 0;
        }
    }
    if (d->chat_template && !strcmp(d->chat_template, "raw")) {
        lm->raw = true;
    } else if (d->chat_template) {
        if (tok_template_parse(d->chat_template, &lm->tpl) != 0) {
            snprintf(err, errsz,
                     "model %s: unknown chat template '%s' (raw, deepseek-v3, deepseek-r1, "
                     "deepseek-coder, llama2)",
                     lm->name, d->chat_template);
            return -1;
        }
    } else {
        lm->tpl = template_of(lm->m, lm->tok);
    }
    lm->eos = tok_eos(lm->tok);
    lm->eot = tok_find(lm->tok, "<|EOT|>", 7);
    static const char *const fim[3] = {"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"};
    for (int i = 0; i < 3; i++)
        lm->fim[i] = tok_find(lm->tok, fim[i], strlen(fim[i]));
    if (lm->fim[0] < 0 || lm->fim[1] < 0 || lm->fim[2] < 0)
        lm->fim[0] = lm->fim[1] = lm->fim[2] = -1;
    lm->nslots = d->slots > 0 ? d->slots : 4;
    lm->queue_max = d->queue > 0 ? d->queue : 16;
    lm->slots = xcalloc((size_t)lm->nslots, sizeof *lm->slots);
    lm->active = xcalloc((size_t)lm->nslots, sizeof *lm->active);
    const eng_hparams_t *hp = eng_model_hparams(lm->m);
    lm->logits = xmalloc((size_t)hp->n_vocab * ((size_t)lm->nslots + 2) * sizeof(float));
    pthread_mutex_init(&lm->mu, NULL);
    pthread_cond_init(&lm->cv, NULL);
    if (pthread_create(&lm->th, NULL, local_sched_main, lm) != 0) {
        snprintf(err, errsz, "model %s: cannot start its scheduler thread", lm->name);
        return -1;
    }
    lm->th_started = true;
    log_info("local model %s: %s, %d layers, dim %d, vocab %d, ctx %d, template %s, %d slots",
             lm->name, d->path, hp->n_layers, hp->dim, hp->n_vocab, hp->ctx,
             lm->raw                             ? "raw"
             : lm->tpl == TOK_TPL_DEEPSEEK_R1    ? "deepseek-r1"
             : lm->tpl == TOK_TPL_DEEPSEEK_CODER ? "deepseek-coder"
             : lm->tpl == TOK_TPL_LLAMA2         ? "llama2"
                                                 : "deepseek-v3",
             lm->nslots);
    return 0;
}

local_t *local_new(struct event_base *base, const local_model_def_t *defs, int n, char *err,
                   size_t errsz)
{
    local_t *l = xcalloc(1, sizeof *l);
    l->be.name = "local";
    l->be.start = local_start;
    l->be.cancel = local_cancel;
    l->be.resume = local_resume;
    l->base = base;
    l->models = xcalloc((size_t)(n > 0 ? n : 1), sizeof *l->models);
    for (int i = 0; i < n; i++) {
        l->n = i + 1;
        if (load_model(l, &l->models[i], &defs[i], err, errsz) != 0) {
            local_free(l);
            return NULL;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(l->models[j].name, l->models[i].name)) {
                snprintf(err, errsz, "two local models are named '%s' (use --model-name)",
                         l->models[i].name);
                local_free(l);
                return NULL;
            }
    }
    return l;
}

void local_free(local_t *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++) {
        local_model_t *lm = &l->models[i];
        if (lm->th_started) {
            pthread_mutex_lock(&lm->mu);
            lm->stop = true;
            pthread_cond_signal(&lm->cv);
            pthread_mutex_unlock(&lm->mu);
            pthread_join(lm->th, NULL);
            pthread_mutex_destroy(&lm->mu);
            pthread_cond_destroy(&lm->cv);
        }
        /* calls a forced stop cancelled before the scheduler let go of them */
        for (int k = 0; k < lm->nactive; k++)
            if (lm->active[k]->ended)
                call_free(lm->active[k]);
        log_info("local model %s: %ld requests, %ld finished, %ld cancelled, %ld refused; %ld "
                 "decode steps carried %ld rows; %ld prompt tokens, %ld from the cache",
                 lm->name, lm->st.requests, lm->st.finished, lm->st.cancelled, lm->st.rejected,
                 lm->st.decode_steps, lm->st.decode_rows, lm->st.prompt_tokens,
                 lm->st.cache_hit_tokens);
        for (int k = 0; k < lm->nslots; k++) {
            if (lm->slots[k].seq)
                eng_seq_free(lm->slots[k].seq);
            free(lm->slots[k].ids);
        }
        free(lm->slots);
        free(lm->active);
        free(lm->logits);
        if (lm->m)
            eng_model_free(lm->m);
        free(lm->name);
    }
    free(l->models);
    free(l);
}

backend_t *local_backend(local_t *l)
{
    return &l->be;
}

bool local_serves(const local_t *l, const char *model)
{
    return l && find(l, model) != NULL;
}

int local_count(const local_t *l)
{
    return l ? l->n : 0;
}

const char *local_name(const local_t *l, int i)
{
    return l->models[i].name;
}

void local_stats(local_t *l, local_stats_t *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; l && i < l->n; i++) {
        local_model_t *lm = &l->models[i];
        pthread_mutex_lock(&lm->mu);
        out->requests += lm->st.requests;
        out->finished += lm->st.finished;
        out->cancelled += lm->st.cancelled;
        out->rejected += lm->st.rejected;
        out->decode_steps += lm->st.decode_steps;
        out->decode_rows += lm->st.decode_rows;
        out->prompt_tokens += lm->st.prompt_tokens;
        out->cache_hit_tokens += lm->st.cache_hit_tokens;
        pthread_mutex_unlock(&lm->mu);
    }
}
