/* step.c - one forward pass that mixes a prompt chunk of one sequence with one decode token of
 * each of several others: the serving scheduler's step, so running decodes advance in the same
 * pass (the same weight reads) as a prompt being processed. */
#include "engine/model_int.h"

int eng_model_batch(const eng_model_t *m)
{
    return m->batch;
}

int eng_step(eng_seq_t *pre, const int32_t *pids, int np, bool want_last, eng_seq_t *const *seqs,
             int nseq, const int32_t *ids, float *logits)
{
    if (nseq < 0 || np < 0 || (np > 0 && !pre) || nseq + np < 1)
        return ENG_EINVAL;
    eng_model_t *m = pre ? pre->m : seqs[0]->m;
    if (nseq + np > m->batch)
        return ENG_EINVAL;
    /* zeroed: gcc cannot see that the first nseq + np rows are all eng_forward reads */
    eng_seq_t *rs[ENG_MAX_BATCH] = {0};
    int pos[ENG_MAX_BATCH] = {0};
    int32_t rid[ENG_MAX_BATCH] = {0};
    bool want[ENG_MAX_BATCH] = {0};
    for (int i = 0; i < nseq; i++) {
        eng_seq_t *s = seqs[i];
        if (s->m != m || s == pre || ids[i] < 0 || ids[i] >= m->hp.n_vocab)
            return ENG_EINVAL;
        if (s->pos >= m->hp.ctx)
            return ENG_EFULL;
        for (int j = 0; j < i; j++)
            if (seqs[j] == s)
                return ENG_EINVAL;
        rs[i] = s;
        pos[i] = s->pos;
        rid[i] = ids[i];
        want[i] = true;
    }
    if (np > 0) {
        if (np > m->hp.ctx - pre->pos)
            return ENG_EFULL;
        for (int i = 0; i < np; i++) {
            if (pids[i] < 0 || pids[i] >= m->hp.n_vocab)
                return ENG_EINVAL;
            rs[nseq + i] = pre;
            pos[nseq + i] = pre->pos + i;
            rid[nseq + i] = pids[i];
            want[nseq + i] = want_last && i == np - 1;
        }
    }
    eng_forward(m, rs, pos, rid, nseq + np, want, logits);
    for (int i = 0; i < nseq; i++)
        seqs[i]->pos++;
    if (np > 0)
        pre->pos += np;
    return 0;
}
