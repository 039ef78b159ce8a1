/* local_int.h - the local backend's structs, shared by local.c (the loop side: start, cancel,
 * resume, handing events to the sink), local_sched.c (the scheduler thread) and local_req.c
 * (a request body made into prompt ids and sampling settings). */
#ifndef SEEKD_BACKEND_LOCAL_INT_H
#define SEEKD_BACKEND_LOCAL_INT_H

#include <pthread.h>

#include "backend/local.h"
#include "base/buf.h"
#include "engine/engine.h"
#include "engine/textfilt.h"
#include "tokenizer/tok.h"
#include "tokenizer/tok_chat.h"

#define LOCAL_CACHE_UNIT 64     /* prefix reuse in units of this many tokens, as DeepSeek's */
#define LOCAL_PREFILL_CHUNK 128 /* prompt tokens per scheduler step: decodes are not starved */

typedef struct local_model local_model_t;

/* Tokens a call may sample before the loop takes its outbox: what a sequence runs ahead of its
 * client is bounded, and a client that stops reading pauses its sequence within this many. */
#define LOCAL_OUTBOX_MAX 32

/* One outbox record: an event kind and its text (offsets into the outbox's text buffer). */
typedef struct {
    int type; /* bk_event_type_t */
    size_t off, len;
} local_rec_t;

/* A token's logprob entry: its text and bytes in the outbox's text buffer. */
typedef struct {
    size_t tok_off, tok_len, raw_off, raw_len;
    double lp;
} local_lpent_t;

/* One LOGPROBS record's data: the token and its tops (a range of the outbox's tops). */
typedef struct {
    local_lpent_t tok;
    int top0, ntop;
    bool reasoning;
} local_lp_t;

#define LOCAL_MAX_TOP 20

typedef struct {
    buf_t text;
    local_lp_t *lps; /* a BK_EV_LOGPROBS record's off is its index here */
    int nlps, caplps;
    local_lpent_t *tops;
    int ntops, captops;
    local_rec_t *recs;
    int n, cap;
    bk_usage_t usage;
    int err_status, err_retry;
    const char *err_type;
    int tokens; /* sampled since the loop last took the outbox (text may be held back) */
} local_outbox_t;

/* A KV-cache slot: a sequence and the tokens it holds. */
typedef struct {
    eng_seq_t *seq;
    int32_t *ids;
    int n;
    bool busy;
    int64_t used; /* when it was last released (LRU) */
} local_slot_t;

enum { LC_QUEUED, LC_PREP, LC_PREFILL, LC_DECODE, LC_DONE };

struct bk_call {
    local_model_t *lm;
    bk_sink_t *sink;
    char rid[65];
    bk_kind_t kind;
    char *body;
    size_t body_len;
    struct event *wake;
    bk_call_t *qnext;
    /* shared with the scheduler, under lm->mu */
    bool cancelled;   /* the client left: the scheduler frees the sequence */
    bool paused;      /* the sink is not writable */
    bool delivering;  /* the loop is handing the outbox to the sink: no new tokens meanwhile */
    bool engine_done; /* the scheduler will not touch the call again */
    local_outbox_t out;
    /* the loop's */
    bool ended;  /* sink->end() was called */
    bool served; /* served_by was called */
    /* the scheduler's */
    int state;
    tok_ids_t prompt;
    int fed;  /* prompt tokens in the slot */
    int slot; /* -1: none */
    int hit;  /* prompt tokens reused from the cache */
    eng_sampler_t *smp;
    eng_sampling_t sp;
    tok_stream_t ts;
    eng_stop_t stop;
    eng_think_t think;
    bool split_think; /* reasoning split applies */
    int max_tokens, ngen;
    bool logprobs;    /* the body asked for logprobs */
    int top_logprobs; /* 0..LOCAL_MAX_TOP */
    int32_t next;     /* the sampled token the next decode step feeds */
};

struct local_model {
    local_t *l;
    char *name;
    eng_model_t *m;
    const tok_t *tok;
    bool raw; /* no chat template: message contents concatenated */
    tok_template_t tpl;
    int32_t eos, eot; /* end tokens (eot: <|EOT|> or -1) */
    int32_t fim[3];   /* FIM begin, hole, end ids, or -1 */
    pthread_t th;
    bool th_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bk_call_t *qhead, *qtail; /* waiting for a slot */
    int nqueued, queue_max;
    bk_call_t **active; /* holding a slot (the scheduler's array, changed under mu) */
    int nactive;
    local_slot_t *slots;
    int nslots;
    float *logits; /* nslots rows */
    int64_t tick;
    int rr;        /* round-robin start for prefills */
    int max_batch; /* the most rows one decode step carried */
    local_stats_t st;
};

struct local {
    backend_t be; /* first */
    struct event_base *base;
    local_model_t *models;
    int n;
};

/* local_req.c: parses the call's body into its prompt ids and settings. Returns 0, or an HTTP
 * status with msg (400: the request cannot run on this model). */
int local_req_prepare(local_model_t *lm, bk_call_t *c, char *msg, size_t msglen);

/* local_sched.c */
void *local_sched_main(void *arg);
/* outbox helpers (under lm->mu or before the call is shared) */
void local_out_text(local_outbox_t *o, int type, const char *p, size_t n);
void local_out_reset(local_outbox_t *o);

#endif
