/* local_sched.c - one model's scheduler thread. It owns the model: admits queued requests into
 * free KV slots (the slot sharing the longest prompt prefix, else the least recently used),
 * prefills prompts a chunk per step, runs one batched decode step over every running sequence
 * that is not paused, samples, turns ids into text (stop strings, the think split) and hands
 * the events of each step to the loop with one wake-up per request and step. */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/local_int.h"
#include "base/log.h"
#include "base/mem.h"

void local_out_text(local_outbox_t *o, int type, const char *p, size_t n)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 8;
        o->recs = xrealloc(o->recs, (size_t)o->cap * sizeof *o->recs);
    }
    /* consecutive deltas of one kind merge into one */
    if ((type == BK_EV_CONTENT_DELTA || type == BK_EV_REASONING_DELTA) && o->n &&
        o->recs[o->n - 1].type == type &&
        o->recs[o->n - 1].off + o->recs[o->n - 1].len == o->text.len) {
        buf_append(&o->text, p, n);
        o->recs[o->n - 1].len += n;
        return;
    }
    o->recs[o->n++] = (local_rec_t){type, o->text.len, n};
    if (n)
        buf_append(&o->text, p, n);
}

void local_out_reset(local_outbox_t *o)
{
    buf_reset(&o->text);
    o->n = 0;
    o->nlps = 0;
    o->ntops = 0;
}

/* ---- logprobs ---- */

/* A token's text (repaired UTF-8) and raw bytes into the outbox. */
static local_lpent_t lp_entry(local_model_t *lm, local_outbox_t *o, int32_t id, double lp,
                              bool lead, buf_t *scratch)
{
    local_lpent_t e = {.lp = lp};
    /* decoded alone, a SentencePiece word piece loses its leading space: put it back (but for
     * the answer's first text token, as the stream decoder does), so the tokens' texts add up
     * to the answer */
    size_t plen = 0;
    const char *piece = tok_piece(lm->tok, id, &plen);
    bool space = lead && piece &&
                 ((plen >= 3 && !memcmp(piece, "\xe2\x96\x81", 3)) ||
                  (plen >= 1 && piece[0] == ' ' && tok_family(lm->tok) == TOK_FAM_LLAMA_SPM));
    for (int raw = 0; raw < 2; raw++) {
        buf_reset(scratch);
        if (raw)
            tok_decode_raw(lm->tok, &id, 1, 0, scratch);
        else
            tok_decode(lm->tok, &id, 1, 0, scratch);
        size_t off = o->text.len;
        if (space && (!scratch->len || scratch->data[0] != ' '))
            buf_append(&o->text, " ", 1);
        if (scratch->len)
            buf_append(&o->text, scratch->data, scratch->len);
        if (raw) {
            e.raw_off = off;
            e.raw_len = o->text.len - off;
        } else {
            e.tok_off = off;
            e.tok_len = o->text.len - off;
        }
    }
    return e;
}

/* The chosen token's log-probability under the model's distribution (the raw logits'
 * softmax) and the top_logprobs most likely tokens, as a LOGPROBS record (under mu). */
static void emit_logprobs(local_model_t *lm, bk_call_t *c, const float *x, int32_t id, bool lead,
                          buf_t *scratch)
{
    int nv = eng_model_hparams(lm->m)->n_vocab;
    float mx = x[0];
    for (int i = 1; i < nv; i++)
        if (x[i] > mx)
            mx = x[i];
    double sum = 0;
    for (int i = 0; i < nv; i++)
        sum += exp((double)x[i] - mx);
    double lz = mx + log(sum);
    int top[LOCAL_MAX_TOP], k = c->top_logprobs, nt = 0;
    for (int i = 0; i < nv && k > 0; i++) { /* insertion into the k best, ties to the lower id */
        if (nt == k && !(x[i] > x[top[nt - 1]]))
            continue;
        int j = nt < k ? nt++ : nt - 1;
        while (j > 0 && x[i] > x[top[j - 1]]) {
            top[j] = top[j - 1];
            j--;
        }
        top[j] = i;
    }
    local_outbox_t *o = &c->out;
    if (o->nlps == o->caplps) {
        o->caplps = o->caplps ? o->caplps * 2 : 8;
        o->lps = xrealloc(o->lps, (size_t)o->caplps * sizeof *o->lps);
    }
    if (o->ntops + nt > o->captops) {
        o->captops = (o->captops + nt) * 2;
        o->tops = xrealloc(o->tops, (size_t)o->captops * sizeof *o->tops);
    }
    local_lp_t *lp = &o->lps[o->nlps];
    lp->tok = lp_entry(lm, o, id, (double)x[id] - lz, lead, scratch);
    lp->top0 = o->ntops;
    lp->ntop = nt;
    lp->reasoning = c->split_think && eng_think_reasoning(&c->think);
    for (int t = 0; t < nt; t++)
        o->tops[o->ntops++] = lp_entry(lm, o, top[t], (double)x[top[t]] - lz, lead, scratch);
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 8;
        o->recs = xrealloc(o->recs, (size_t)o->cap * sizeof *o->recs);
    }
    o->recs[o->n++] = (local_rec_t){BK_EV_LOGPROBS, (size_t)o->nlps++, 0};
}

/* ---- per-step scratch: what a step produced for a call, before it goes to the outbox ---- */

typedef struct {
    buf_t piece, stopped, reasoning, content;
} step_bufs_t;

static void bufs_init(step_bufs_t *b)
{
    buf_init(&b->piece, 1u << 20);
    buf_init(&b->stopped, 1u << 20);
    buf_init(&b->reasoning, 1u << 20);
    buf_init(&b->content, 1u << 20);
}

static void bufs_free(step_bufs_t *b)
{
    buf_free(&b->piece);
    buf_free(&b->stopped);
    buf_free(&b->reasoning);
    buf_free(&b->content);
}

/* Appends a step's text to the call's outbox (under mu). */
static void emit_text(bk_call_t *c, step_bufs_t *b)
{
    if (b->reasoning.len)
        local_out_text(&c->out, BK_EV_REASONING_DELTA, b->reasoning.data, b->reasoning.len);
    if (b->content.len)
        local_out_text(&c->out, BK_EV_CONTENT_DELTA, b->content.data, b->content.len);
    buf_reset(&b->reasoning);
    buf_reset(&b->content);
}

/* Text after the stop filter goes through the think split (chat) or straight to content. */
static void route_text(bk_call_t *c, step_bufs_t *b)
{
    if (!b->stopped.len)
        return;
    if (c->split_think)
        eng_think_feed(&c->think, b->stopped.data, b->stopped.len, &b->reasoning, &b->content);
    else
        buf_append(&b->content, b->stopped.data, b->stopped.len);
    buf_reset(&b->stopped);
}

/* ---- slots ---- */

static void slot_push(local_slot_t *s, int32_t id, int ctx)
{
    if (s->n < ctx)
        s->ids[s->n++] = id;
}

/* Gives the call a slot: among the free ones, the one whose tokens share the longest reusable
 * prefix with the prompt, else the least recently used. There is always a free one: the
 * scheduler admits no more calls than slots. */
static void take_slot(local_model_t *lm, bk_call_t *c)
{
    int best = -1, best_hit = -1;
    for (int i = 0; i < lm->nslots; i++) {
        local_slot_t *s = &lm->slots[i];
        if (s->busy)
            continue;
        int hit = s->seq ? eng_prefix_reuse(s->ids, s->n, c->prompt.ids, (int)c->prompt.len,
                                            LOCAL_CACHE_UNIT)
                         : 0;
        if (hit > best_hit || (hit == best_hit && s->used < lm->slots[best].used)) {
            best = i;
            best_hit = hit;
        }
    }
    local_slot_t *s = &lm->slots[best];
    if (!s->seq) {
        s->seq = eng_seq_new(lm->m);
        s->ids = xmalloc((size_t)eng_model_hparams(lm->m)->ctx * sizeof *s->ids);
        s->n = 0;
    }
    s->busy = true;
    eng_seq_truncate(s->seq, best_hit);
    s->n = best_hit;
    c->slot = best;
    c->hit = best_hit;
    c->fed = best_hit;
}

/* ---- finishing ---- */

/* Ends the answer: what the filters hold back, the finish reason and the usage (under mu). */
static void finish(local_model_t *lm, bk_call_t *c, const char *reason, step_bufs_t *b,
                   bool stop_matched)
{
    if (!stop_matched)
        eng_stop_flush(&c->stop, &b->stopped);
    route_text(c, b);
    if (c->split_think)
        eng_think_flush(&c->think, &b->reasoning, &b->content);
    emit_text(c, b);
    local_out_text(&c->out, BK_EV_FINISH, reason, strlen(reason));
    bk_usage_t *u = &c->out.usage;
    u->has = BK_USAGE_PROMPT | BK_USAGE_COMPLETION | BK_USAGE_TOTAL | BK_USAGE_CACHE_HIT |
             BK_USAGE_CACHE_MISS;
    u->prompt_tokens = (int64_t)c->prompt.len;
    u->completion_tokens = c->ngen;
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
    u->prompt_cache_hit_tokens = c->hit;
    u->prompt_cache_miss_tokens = (int64_t)c->prompt.len - c->hit;
    local_out_text(&c->out, BK_EV_USAGE, NULL, 0);
    c->state = LC_DONE;
    lm->st.finished++;
}

static void fail(local_model_t *lm, bk_call_t *c, int status, const char *type, const char *msg)
{
    local_out_reset(&c->out);
    c->out.err_status = status;
    c->out.err_type = type;
    local_out_text(&c->out, BK_EV_ERROR, msg, strlen(msg));
    c->state = LC_DONE;
    (void)lm;
}

/* A sampled token: text out, and whether the answer is over (under mu). */
static void on_token(local_model_t *lm, bk_call_t *c, const float *logits_row, step_bufs_t *b)
{
    int nv = eng_model_hparams(lm->m)->n_vocab;
    float *row = lm->logits + (size_t)nv * (size_t)lm->nslots; /* the spare row */
    memcpy(row, logits_row, (size_t)nv * sizeof *row);
    int32_t id = eng_sample(c->smp, row);
    if (id == lm->eos || id == lm->eot) {
        finish(lm, c, "stop", b, false);
        return;
    }
    eng_sampler_accept(c->smp, id);
    c->ngen++;
    c->out.tokens++;
    buf_reset(&b->piece);
    bool lead = c->ts.started; /* a text token came before this one */
    tok_stream_push(&c->ts, id, &b->piece);
    bool stopped =
        eng_stop_feed(&c->stop, b->piece.data ? b->piece.data : "", b->piece.len, &b->stopped);
    if (stopped) {
        finish(lm, c, "stop", b, true);
        return;
    }
    route_text(c, b);
    emit_text(c, b);
    if (c->logprobs) {
        emit_logprobs(lm, c, logits_row, id, lead, &b->piece);
    }
    local_slot_t *s = &lm->slots[c->slot];
    if (c->ngen >= c->max_tokens || eng_seq_pos(s->seq) + 1 >= eng_model_hparams(lm->m)->ctx) {
        buf_reset(&b->piece);
        tok_stream_finish(&c->ts, &b->piece);
        if (b->piece.len)
            eng_stop_feed(&c->stop, b->piece.data, b->piece.len, &b->stopped);
        finish(lm, c, "length", b, false);
        return;
    }
    c->next = id;
    c->state = LC_DECODE;
}

/* Lets go of a call's slot (its KV cache stays for reuse) and of what the scheduler held. */
static void release(local_model_t *lm, bk_call_t *c)
{
    if (c->slot >= 0) {
        lm->slots[c->slot].busy = false;
        lm->slots[c->slot].used = ++lm->tick;
        c->slot = -1;
    }
    eng_sampler_free(c->smp);
    c->smp = NULL;
    eng_stop_free(&c->stop);
    eng_think_free(&c->think);
    tok_ids_free(&c->prompt);
}

/* ---- the loop ---- */

static bool runnable(const bk_call_t *c)
{
    return c->cancelled || c->state == LC_DONE ||
           (!c->paused && !c->delivering && c->out.tokens < LOCAL_OUTBOX_MAX &&
            c->state != LC_QUEUED);
}

static bool has_work(local_model_t *lm)
{
    if (lm->qhead && lm->nactive < lm->nslots)
        return true;
    for (int i = 0; i < lm->nactive; i++)
        if (runnable(lm->active[i]))
            return true;
    return false;
}

/* Hands a call's new records to the loop; a finished or cancelled call leaves the scheduler's
 * hands here (under mu). */
static void hand_back(local_model_t *lm, bk_call_t *c, int idx)
{
    bool done = c->state == LC_DONE || c->cancelled;
    if (done) {
        if (c->cancelled && c->state != LC_DONE) {
            lm->st.cancelled++;
            log_info("req=%s local model %s: cancelled after %d tokens; sequence freed (slot %d "
                     "released)",
                     c->rid, lm->name, c->ngen, c->slot);
        }
        release(lm, c);
        lm->active[idx] = lm->active[--lm->nactive];
        c->engine_done = true;
    }
    if (c->out.n || done)
        event_active(c->wake, EV_READ, 0);
}

void *local_sched_main(void *arg)
{
    local_model_t *lm = arg;
    const eng_hparams_t *hp = eng_model_hparams(lm->m);
    int nv = hp->n_vocab;
    eng_seq_t **seqs = xcalloc((size_t)lm->nslots, sizeof *seqs);
    bk_call_t **batch = xcalloc((size_t)lm->nslots, sizeof *batch);
    int32_t *ids = xcalloc((size_t)lm->nslots, sizeof *ids);
    step_bufs_t b;
    bufs_init(&b);
    pthread_mutex_lock(&lm->mu);
    for (;;) {
        while (!lm->stop && !has_work(lm))
            pthread_cond_wait(&lm->cv, &lm->mu);
        if (lm->stop)
            break;
        /* admit */
        while (lm->qhead && lm->nactive < lm->nslots) {
            bk_call_t *c = lm->qhead;
            lm->qhead = c->qnext;
            if (!lm->qhead)
                lm->qtail = NULL;
            lm->nqueued--;
            c->state = LC_PREP;
            lm->active[lm->nactive++] = c;
        }
        /* the ones that left, or were over */
        for (int i = lm->nactive - 1; i >= 0; i--) {
            bk_call_t *c = lm->active[i];
            if (c->cancelled || c->state == LC_DONE)
                hand_back(lm, c, i);
        }
        /* what runs this step: decided under mu, run without it */
        bk_call_t *prep = NULL, *pre = NULL;
        int nb = 0;
        for (int k = 0; k < lm->nactive; k++) {
            bk_call_t *c = lm->active[(k + lm->rr) % lm->nactive];
            if (!runnable(c))
                continue; /* paused, or its client has not taken what it has */
            if (c->state == LC_PREP && !prep)
                prep = c;
            else if (c->state == LC_PREFILL && !pre)
                pre = c;
            else if (c->state == LC_DECODE)
                batch[nb++] = c;
        }
        lm->rr++;
        pthread_mutex_unlock(&lm->mu);

        char msg[512];
        int st = 0;
        if (prep) {
            st = local_req_prepare(lm, prep, msg, sizeof msg);
            if (!st) {
                prep->smp = eng_sampler_new(&prep->sp, nv);
                tok_stream_init(&prep->ts, lm->tok, TOK_DEC_SKIP_SPECIAL);
                eng_think_init(&prep->think, lm->tpl == TOK_TPL_DEEPSEEK_R1);
            }
        }
        pthread_mutex_lock(&lm->mu);
        if (prep && st) {
            fail(lm, prep, st, "invalid_request_error", msg);
        } else if (prep) {
            take_slot(lm, prep);
            lm->st.prompt_tokens += (long)prep->prompt.len;
            lm->st.cache_hit_tokens += prep->hit;
            prep->state = LC_PREFILL;
            local_out_text(&prep->out, BK_EV_ROLE, NULL, 0);
        }
        int pre_slot = pre ? pre->slot : -1;
        pthread_mutex_unlock(&lm->mu);

        /* one forward pass: a chunk of one prompt and a decode step for every running
         * sequence, so the decodes advance while a prompt is processed */
        bool pre_last = false;
        int np = 0;
        local_slot_t *ps = pre ? &lm->slots[pre_slot] : NULL;
        if (pre) {
            np = (int)pre->prompt.len - pre->fed;
            int room = eng_model_batch(lm->m) - nb;
            if (np > LOCAL_PREFILL_CHUNK)
                np = LOCAL_PREFILL_CHUNK;
            if (np > room)
                np = room;
            pre_last = pre->fed + np == (int)pre->prompt.len;
        }
        for (int i = 0; i < nb; i++) {
            seqs[i] = lm->slots[batch[i]->slot].seq;
            ids[i] = batch[i]->next;
        }
        bool step_ok = true;
        if (nb || np)
            step_ok = eng_step(ps ? ps->seq : NULL, pre ? pre->prompt.ids + pre->fed : NULL, np,
                               pre_last, seqs, nb, ids, lm->logits) == 0;
        if (step_ok) {
            for (int i = 0; i < np; i++)
                slot_push(ps, pre->prompt.ids[pre->fed + i], hp->ctx);
            if (pre)
                pre->fed += np;
            for (int i = 0; i < nb; i++)
                slot_push(&lm->slots[batch[i]->slot], ids[i], hp->ctx);
        } else {
            pre_last = false;
            if (pre)
                pre->fed = -1;
            nb = -nb;
        }

        pthread_mutex_lock(&lm->mu);
        if (pre && pre->fed < 0) {
            fail(lm, pre, 500, "api_error", "the engine could not run the prompt");
        } else if (pre && pre_last && !pre->cancelled) {
            on_token(lm, pre, lm->logits + (size_t)nv * (size_t)(nb < 0 ? -nb : nb), &b);
        }
        if (nb > 0) {
            lm->st.decode_steps++;
            lm->st.decode_rows += nb;
            if (nb > lm->max_batch) {
                lm->max_batch = nb;
                log_info("local model %s: %d sequences decoded in one step (the most so far)",
                         lm->name, nb);
            }
        }
        for (int i = 0; i < (nb < 0 ? -nb : nb); i++) {
            bk_call_t *c = batch[i];
            if (nb < 0)
                fail(lm, c, 500, "api_error", "the engine could not run a decode step");
            else if (!c->cancelled)
                on_token(lm, c, lm->logits + (size_t)nv * (size_t)i, &b);
        }
        for (int i = lm->nactive - 1; i >= 0; i--)
            hand_back(lm, lm->active[i], i);
    }
    pthread_mutex_unlock(&lm->mu);
    bufs_free(&b);
    free(seqs);
    free(batch);
    free(ids);
    return NULL;
}
