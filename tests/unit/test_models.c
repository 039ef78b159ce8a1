/* test_models.c - model lists: reading an upstream's GET /models answer within its bounds,
 * configured names, merging by id (backend/models.c). Inputs in tests/data/models/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backend/models.h"
#include "test_util.h"

#define DATA SEEKD_SOURCE_DIR "/tests/data/models/"

/* Parses a data file into l; fails the test when it does not parse. */
static void parse_file(const char *name, models_list_t *l)
{
    size_t len = 0;
    char *body = test_slurp(name, &len);
    assert_non_null(body);
    char why[256] = "";
    if (models_parse(body, len, l, why, sizeof why))
        fail_msg("%s: %s", name, why);
    free(body);
}

/* Parses text that must be refused; checks the list is empty and why contains want. */
static void expect_refused(const char *text, size_t len, const char *want)
{
    models_list_t l = {0};
    models_add_names(&l, (const char *const[]){"stale"}, 1);
    char why[256] = "";
    assert_int_equal(models_parse(text, len, &l, why, sizeof why), -1);
    assert_int_equal(l.n, 0);
    if (!strstr(why, want))
        fail_msg("got '%s', want it to contain '%s'", why, want);
    models_free(&l);
}

static void deepseek_objects_are_kept_whole_and_compact(void **state)
{
    (void)state;
    models_list_t l = {0};
    parse_file(DATA "deepseek.json", &l);
    size_t len;
    char *want = test_slurp(DATA "deepseek.expected", &len);
    assert_non_null(want);
    assert_int_equal(l.n, 2);
    char *second = strchr(want, '\n');
    *second++ = '\0';
    second[strcspn(second, "\n")] = '\0';
    assert_string_equal(l.v[0].id, "deepseek-flash");
    assert_string_equal(l.v[0].json, want);
    assert_string_equal(l.v[1].id, "deepseek-v4-pro");
    assert_string_equal(l.v[1].json, second);
    assert_int_equal(l.bytes, strlen(want) + strlen(second));
    free(want);
    models_free(&l);
}

static void vllm_objects_keep_their_own_fields(void **state)
{
    (void)state;
    models_list_t l = {0};
    parse_file(DATA "vllm.json", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].id, "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B");
    assert_string_equal(
        l.v[0].json, "{\"id\":\"deepseek-ai/DeepSeek-R1-Distill-Qwen-7B\",\"object\":\"model\","
                     "\"created\":1760000000,\"owned_by\":\"vllm\",\"root\":\"/models/r1\","
                     "\"parent\":null,\"max_model_len\":32768,\"permission\":[{\"id\":"
                     "\"modelperm-1\",\"object\":\"model_permission\",\"allow_sampling\":true}]}");
    models_free(&l);
}

/* A bare {"id"} gets DeepSeek's object and owner; an id met twice is kept once, the first. */
static void bare_objects_are_shaped_as_deepseek_and_ids_kept_once(void **state)
{
    (void)state;
    models_list_t l = {0};
    parse_file(DATA "bare.json", &l);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].json,
                        "{\"id\":\"local-r1\",\"object\":\"model\",\"owned_by\":\"deepseek\"}");
    assert_string_equal(l.v[1].id, "caf\xc3\xa9 \"q\"");
    assert_string_equal(l.v[1].json, "{\"id\":\"caf\xc3\xa9 \\\"q\\\"\",\"object\":\"model\","
                                     "\"owned_by\":\"deepseek\"}");
    assert_ptr_equal(models_find(&l, SLICE_LIT("local-r1")), &l.v[0]);
    assert_null(models_find(&l, SLICE_LIT("local-r")));
    models_free(&l);
}

static void answers_that_are_no_model_list_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"<html>502</html>", "the answer is not JSON"},
        {"{\"data\":[", "the answer is not JSON"},
        {"{\"object\":\"list\"}", "no \"data\" array"},
        {"{\"data\":{\"id\":\"x\"}}", "no \"data\" array"},
        {"{\"data\":[{\"id\":\"a\"},\"b\"]}", "data[1] is not an object"},
        {"{\"data\":[{\"name\":\"a\"}]}", "data[0] has no id of 1 to 256 bytes"},
        {"{\"data\":[{\"id\":\"\"}]}", "data[0] has no id"},
        {"{\"data\":[{\"id\":7}]}", "data[0] has no id"},
        {"{\"data\":[{\"id\":\"a\\nb\"}]}", "data[0]'s id has a control character"},
        {"{\"data\":[{\"id\":\"a\",\"object\":\"file\"}]}", "data[0] is not a model"},
        {"{\"data\":[{\"id\":\"a\",\"owned_by\":1}]}", "data[0]'s owned_by is not a string"},
        {"{\"data\":[{\"id\":\"a\",\"x\":[[[[[[[[1]]]]]]]]}]}", "data[0] nests deeper than 8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_refused(cases[i].text, strlen(cases[i].text), cases[i].want);
    /* seven levels inside the object are fine */
    models_list_t l = {0};
    char why[256];
    const char *deep = "{\"data\":[{\"id\":\"a\",\"x\":[[[[[[1]]]]]]}]}";
    assert_int_equal(models_parse(deep, strlen(deep), &l, why, sizeof why), 0);
    models_free(&l);
}

/* Writes {"data":[{"id":"<prefix>0"},...]} with n models, each id padded to id_len bytes and
 * each object carrying `extra` bytes of filler. */
static char *make_prefixed(const char *prefix, int n, size_t id_len, size_t extra, size_t *len)
{
    buf_t b;
    buf_init(&b, 64u << 20);
    buf_puts(&b, "{\"data\":[");
    for (int i = 0; i < n; i++) {
        char id[1024];
        int k = snprintf(id, sizeof id, "%s%d", prefix, i);
        while ((size_t)k < id_len)
            id[k++] = 'x';
        id[k] = '\0';
        buf_printf(&b, "%s{\"id\":\"%s\",\"pad\":\"", i ? "," : "", id);
        for (size_t j = 0; j < extra; j++)
            buf_puts(&b, "p");
        buf_puts(&b, "\"}");
    }
    buf_puts(&b, "]}");
    assert_false(buf_failed(&b));
    *len = b.len;
    return b.data;
}

static char *make_answer(int n, size_t id_len, size_t extra, size_t *len)
{
    return make_prefixed("m", n, id_len, extra, len);
}

static void bounds_are_kept_and_the_edge_passes(void **state)
{
    (void)state;
    size_t len;
    models_list_t l = {0};
    char why[256];
    /* exactly at every bound: 1024 models, 256-byte ids */
    char *at = make_answer(MODELS_MAX_COUNT, MODELS_MAX_ID, 0, &len);
    assert_true(len <= MODELS_MAX_BODY);
    assert_int_equal(models_parse(at, len, &l, why, sizeof why), 0);
    assert_int_equal(l.n, MODELS_MAX_COUNT);
    assert_int_equal(l.v[MODELS_MAX_COUNT - 1].id_len, MODELS_MAX_ID);
    models_free(&l);
    free(at);
    /* one beyond each */
    char *many = make_answer(MODELS_MAX_COUNT + 1, 0, 0, &len);
    expect_refused(many, len, "the answer lists 1025 models, more than 1024");
    free(many);
    char *long_id = make_answer(1, MODELS_MAX_ID + 1, 0, &len);
    expect_refused(long_id, len, "data[0] has no id of 1 to 256 bytes");
    free(long_id);
    char *big_obj = make_answer(2, 4, MODELS_MAX_OBJECT, &len);
    expect_refused(big_obj, len, "data[0] is larger than 4096 bytes");
    free(big_obj);
    char *big = make_answer(200, 8, 3000, &len);
    assert_true(len > MODELS_MAX_BODY);
    expect_refused(big, len, "the answer is larger than 524288 bytes");
    free(big);
}

/* The first list to name an id wins its object; the merged list stays within its bounds. */
static void merge_keeps_the_first_and_stays_bounded(void **state)
{
    (void)state;
    models_list_t a = {0}, b = {0}, m = {0};
    models_add_names(&a, (const char *const[]){"deepseek-flash", "*", "deepseek-flash"}, 3);
    assert_int_equal(a.n, 1);
    parse_file(DATA "deepseek.json", &b);
    assert_int_equal(models_merge(&m, &a), 0);
    assert_int_equal(models_merge(&m, &b), 0);
    assert_int_equal(m.n, 2);
    assert_string_equal(
        m.v[0].json, "{\"id\":\"deepseek-flash\",\"object\":\"model\",\"owned_by\":\"deepseek\"}");
    assert_string_equal(m.v[1].id, "deepseek-v4-pro");
    buf_t out;
    buf_init(&out, 4096);
    models_write_list(&m, &out);
    assert_string_equal(out.data, "{\"object\":\"list\",\"data\":[{\"id\":\"deepseek-flash\","
                                  "\"object\":\"model\",\"owned_by\":\"deepseek\"},{\"id\":"
                                  "\"deepseek-v4-pro\",\"object\":\"model\",\"owned_by\":"
                                  "\"deepseek\"}]}");
    buf_reset(&out);
    models_list_t empty = {0};
    models_write_list(&empty, &out);
    assert_string_equal(out.data, "{\"object\":\"list\",\"data\":[]}");
    buf_free(&out);
    models_free(&a);
    models_free(&b);

    /* count: 1024 from one upstream, then another's 10 new ones are left out */
    size_t len;
    char why[256];
    char *full = make_answer(MODELS_MAX_COUNT, 0, 0, &len);
    assert_int_equal(models_parse(full, len, &a, why, sizeof why), 0);
    free(full);
    models_add_names(&b, (const char *const[]){"m0", "n1", "n2"}, 3);
    models_free(&m);
    assert_int_equal(models_merge(&m, &a), 0);
    assert_int_equal(models_merge(&m, &b), 2); /* m0 is held already: not counted as left out */
    assert_int_equal(m.n, MODELS_MAX_COUNT);
    models_free(&a);
    models_free(&b);
    models_free(&m);

    /* bytes: three answers of about 300 KiB each; not all of the third fits */
    int left = 0;
    for (int i = 0; i < 3; i++) {
        char prefix[2] = {(char)('a' + i), 0};
        char *big = make_prefixed(prefix, 100, 8, 3000, &len);
        assert_int_equal(models_parse(big, len, &a, why, sizeof why), 0);
        free(big);
        left = models_merge(&m, &a);
        assert_int_equal(left, i < 2 ? 0 : 100 - (m.n - 200));
    }
    assert_true(left > 0);
    assert_true(m.bytes <= MODELS_MAX_LIST_BYTES);
    assert_true(m.bytes + a.v[99].json_len > MODELS_MAX_LIST_BYTES);
    models_free(&a);
    models_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deepseek_objects_are_kept_whole_and_compact),
        cmocka_unit_test(vllm_objects_keep_their_own_fields),
        cmocka_unit_test(bare_objects_are_shaped_as_deepseek_and_ids_kept_once),
        cmocka_unit_test(answers_that_are_no_model_list_are_refused),
        cmocka_unit_test(bounds_are_kept_and_the_edge_passes),
        cmocka_unit_test(merge_keeps_the_first_and_stays_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
