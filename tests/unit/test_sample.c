/* test_sample.c - the engine's sampler: exact argmax, seeded reproducibility, the temperature
 * distribution, the top-p nucleus, and the presence/frequency penalties. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"

static int32_t draw(eng_sampler_t *s, const float *logits, int n)
{
    float tmp[8];
    memcpy(tmp, logits, (size_t)n * sizeof *tmp);
    return eng_sample(s, tmp);
}

static void temperature_zero_is_argmax_ties_to_lowest(void **state)
{
    (void)state;
    eng_sampler_t *s = eng_sampler_new(&(eng_sampling_t){.temp = 0, .top_p = 0.5f}, 6);
    const float a[6] = {1, 3, -2, 3, 0.5f, 2.9999f};
    assert_int_equal(draw(s, a, 6), 1);
    const float b[6] = {-INFINITY, -1e30f, -5, -5, -6, -7};
    assert_int_equal(draw(s, b, 6), 2);
    const float c[6] = {NAN, 1, NAN, 2, 2, NAN}; /* NaNs are never the answer */
    assert_int_equal(draw(s, c, 6), 3);
    eng_sampler_free(s);
    /* a distribution that cannot be drawn from falls back to the argmax */
    s = eng_sampler_new(&(eng_sampling_t){.temp = 1, .top_p = 0.9f, .seed = 1}, 6);
    const float d[6] = {0, INFINITY, 1, NAN, 2, 0};
    assert_int_equal(draw(s, d, 6), 1);
    eng_sampler_free(s);
}

static void same_seed_same_choices(void **state)
{
    (void)state;
    const float l[5] = {0.1f, 0.2f, 0.3f, 0.0f, -0.1f};
    eng_sampling_t p = {.temp = 1, .top_p = 1, .seed = 42};
    eng_sampler_t *a = eng_sampler_new(&p, 5), *b = eng_sampler_new(&p, 5);
    p.seed = 43;
    eng_sampler_t *c = eng_sampler_new(&p, 5);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        int32_t x = draw(a, l, 5), y = draw(b, l, 5), z = draw(c, l, 5);
        assert_int_equal(x, y);
        differ += x != z;
    }
    assert_true(differ > 50); /* another seed, another sequence */
    eng_sampler_free(a);
    eng_sampler_free(b);
    eng_sampler_free(c);
}

/* probabilities 0.5, 0.3, 0.2: temperature 1 draws them in those proportions; top-p 0.75
 * keeps the first two (0.8 >= 0.75) renormalised to 5/8, 3/8; top-p 0.4 only the first. */
static void distribution_and_nucleus(void **state)
{
    (void)state;
    const float l[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    const struct {
        float top_p;
        double want[3];
    } cases[] = {{1, {0.5, 0.3, 0.2}}, {0.75f, {0.625, 0.375, 0}}, {0.4f, {1, 0, 0}}};
    for (size_t k = 0; k < 3; k++) {
        eng_sampler_t *s =
            eng_sampler_new(&(eng_sampling_t){.temp = 1, .top_p = cases[k].top_p, .seed = 7}, 3);
        int count[3] = {0};
        const int n = 40000;
        for (int i = 0; i < n; i++)
            count[draw(s, l, 3)]++;
        for (int j = 0; j < 3; j++) {
            double f = (double)count[j] / n;
            if (fabs(f - cases[k].want[j]) > 0.01)
                printf("  top_p %.2f id %d: %.4f, want %.4f\n", cases[k].top_p, j, f,
                       cases[k].want[j]);
            assert_true(fabs(f - cases[k].want[j]) <= 0.01);
        }
        eng_sampler_free(s);
    }
}

static void penalties_push_repeats_down(void **state)
{
    (void)state;
    const float l[3] = {1.0f, 0.9f, 0.0f};
    eng_sampler_t *s = eng_sampler_new(&(eng_sampling_t){.temp = 0, .presence = 0.2f}, 3);
    assert_int_equal(draw(s, l, 3), 0);
    eng_sampler_accept(s, 0); /* 1.0 - 0.2 < 0.9 */
    assert_int_equal(draw(s, l, 3), 1);
    eng_sampler_free(s);
    s = eng_sampler_new(&(eng_sampling_t){.temp = 0, .frequency = 0.06f}, 3);
    eng_sampler_accept(s, 0);
    assert_int_equal(draw(s, l, 3), 0); /* 1.0 - 0.06 > 0.9 */
    eng_sampler_accept(s, 0);
    assert_int_equal(draw(s, l, 3), 1); /* 1.0 - 0.12 < 0.9 */
    eng_sampler_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(temperature_zero_is_argmax_ties_to_lowest),
        cmocka_unit_test(same_seed_same_choices),
        cmocka_unit_test(distribution_and_nucleus),
        cmocka_unit_test(penalties_push_repeats_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
