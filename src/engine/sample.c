/* sample.c - picks the next token: argmax at temperature 0, else temperature, top-p and the
 * OpenAI presence/frequency penalties, with a seeded generator of our own (same seed, same
 * logits: same choice on every machine). */
#include <math.h>
#include <stdlib.h>

#include "base/mem.h"
#include "engine/engine.h"

typedef struct {
    float p;
    int32_t id;
} cand_t;

struct eng_sampler {
    eng_sampling_t o;
    int n_vocab;
    uint64_t state;
    cand_t *cand;     /* (n_vocab) */
    uint32_t *counts; /* (n_vocab) times each id was generated */
    bool penalised;
};

/* splitmix64: a tiny generator with good statistics, fixed by the seed. */
static uint64_t next_u64(eng_sampler_t *s)
{
    uint64_t z = (s->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double next_unit(eng_sampler_t *s) /* [0, 1) with 53 random bits */
{
    return (double)(next_u64(s) >> 11) * 0x1p-53;
}

eng_sampler_t *eng_sampler_new(const eng_sampling_t *p, int n_vocab)
{
    eng_sampler_t *s = xcalloc(1, sizeof *s);
    s->o = *p;
    s->n_vocab = n_vocab;
    s->state = p->seed;
    s->cand = xmalloc((size_t)n_vocab * sizeof *s->cand);
    s->counts = xcalloc((size_t)n_vocab, sizeof *s->counts);
    s->penalised = p->presence != 0 || p->frequency != 0;
    return s;
}

void eng_sampler_free(eng_sampler_t *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->counts);
    free(s);
}

void eng_sampler_accept(eng_sampler_t *s, int32_t id)
{
    if (id >= 0 && id < s->n_vocab && s->counts[id] < UINT32_MAX)
        s->counts[id]++;
}

/* The first id of the largest value; NaNs are never chosen over a number. */
static int32_t argmax(const float *v, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best] || (v[best] != v[best] && v[i] == v[i]))
            best = i;
    return best;
}

static int by_prob_desc(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int32_t eng_sample(eng_sampler_t *s, float *logits)
{
    int n = s->n_vocab;
    if (s->penalised)
        for (int i = 0; i < n; i++)
            if (s->counts[i])
                logits[i] -= s->o.presence + s->o.frequency * (float)s->counts[i];
    if (!(s->o.temp > 0))
        return argmax(logits, n);
    /* NaN or +infinity (a broken model) leaves no distribution to draw from, nor does a row
     * of -infinity: take the argmax of what is there */
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (logits[i] != logits[i] || logits[i] == INFINITY)
            return argmax(logits, n);
        mx = logits[i] > mx ? logits[i] : mx;
    }
    if (mx == -INFINITY)
        return argmax(logits, n);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        logits[i] = expf((logits[i] - mx) / s->o.temp);
        sum += logits[i];
    }
    float top_p = s->o.top_p > 0 && s->o.top_p < 1 ? s->o.top_p : 1;
    int nc = 0;
    if (top_p >= 1) {
        double r = next_unit(s) * sum, c = 0;
        for (int i = 0; i < n; i++) {
            c += logits[i];
            if (r < c)
                return i;
        }
        return n - 1;
    }
    /* top-p: only tokens that can be in the nucleus need sorting; one below (1 - p) / (n - 1)
     * of the mass cannot be, since the others would already sum past p before it */
    float cut = (float)((1.0 - top_p) / (n > 1 ? n - 1 : 1) * sum);
    for (int i = 0; i < n; i++)
        if (logits[i] >= cut)
            s->cand[nc++] = (cand_t){logits[i], i};
    qsort(s->cand, (size_t)nc, sizeof *s->cand, by_prob_desc);
    double want = top_p * sum, c = 0;
    int last = nc - 1;
    for (int i = 0; i < nc; i++) {
        c += s->cand[i].p;
        if (c >= want) {
            last = i;
            break;
        }
    }
    double mass = 0;
    for (int i = 0; i <= last; i++)
        mass += s->cand[i].p;
    double r = next_unit(s) * mass;
    c = 0;
    for (int i = 0; i <= last; i++) {
        c += s->cand[i].p;
        if (r < c)
            return s->cand[i].id;
    }
    return s->cand[last].id;
}
