/* test_local_config.c - [model NAME] sections and the --model flags: what they set, and the
 * errors for bad values, unknown settings, a section without a path and a flag without a
 * model before it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/config.h"

static char *write_conf(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/seekd-test-local-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void sections_and_flags(void **state)
{
    (void)state;
    char *p = write_conf("listen = 127.0.0.1:0\n"
                         "[model r1-small]\npath = /m/a.gguf\nthreads = 3\nctx = 1024\n"
                         "chat_template = deepseek-r1\nslots = 2\nqueue = 5\n"
                         "[upstream a]\nurl = http://127.0.0.1:9\n"
                         "[model coder]\npath = /m/b.gguf\n");
    const char *paths[] = {"/m/c.gguf", "/m/d.gguf"};
    config_args_t a = {
        .config_path = p, .nmodel_args = 2, .threads = "2", .ctx = "512", .chat_template = "raw"};
    a.model_paths[0] = paths[0];
    a.model_paths[1] = paths[1];
    a.model_names[1] = "dee";
    seekd_config_t c;
    char err[1024] = "";
    assert_int_equal(config_build(&c, &a, err, sizeof err), 0);
    assert_int_equal(c.nlmodels, 4);
    assert_string_equal(c.lmodels[0].name, "r1-small");
    assert_string_equal(c.lmodels[0].path, "/m/a.gguf");
    assert_int_equal(c.lmodels[0].threads, 3);
    assert_int_equal(c.lmodels[0].ctx, 1024);
    assert_int_equal(c.lmodels[0].slots, 2);
    assert_int_equal(c.lmodels[0].queue, 5);
    assert_string_equal(c.lmodels[0].chat_template, "deepseek-r1");
    assert_string_equal(c.lmodels[1].name, "coder");
    assert_int_equal(c.lmodels[1].threads, 0);
    assert_int_equal(c.nups, 1); /* the section after a [model] one is still an upstream */
    assert_string_equal(c.lmodels[2].name, ""); /* named by the file later */
    assert_string_equal(c.lmodels[2].path, "/m/c.gguf");
    assert_int_equal(c.lmodels[2].threads, 2);
    assert_int_equal(c.lmodels[2].ctx, 512);
    assert_string_equal(c.lmodels[2].chat_template, "raw");
    assert_string_equal(c.lmodels[3].name, "dee");
    config_free(&c);
    unlink(p);
}

static void errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[model m]\npath = /a.gguf\nthreads = 0\n",
         ":3: threads must be a whole number from 1 to 256"},
        {"[model m]\npath = /a.gguf\nflavour = x\n",
         ":3: unknown setting 'flavour' in a [model] section"},
        {"[model m]\nchat_template = jinja\n", ":2: chat_template must be raw"},
        {"[model m]\npath = /a\n[model m]\npath = /b\n", ":3: model 'm' is defined twice"},
        {"[model m]\nthreads = 2\n", "[model m] (line 1) has no path"},
        {"[model]\n", "expected a section '[upstream NAME]' or '[model NAME]'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = write_conf(cases[i].text);
        config_args_t a = {.config_path = p};
        seekd_config_t c;
        char err[1024] = "";
        assert_int_equal(config_build(&c, &a, err, sizeof err), -1);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
        config_free(&c);
        unlink(p);
    }
    config_args_t a = {.nmodel_args = 1, .ctx = "8"};
    a.model_paths[0] = "/x.gguf";
    seekd_config_t c;
    char err[1024] = "";
    assert_int_equal(config_build(&c, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "--model /x.gguf: ctx must be a whole number from 16"));
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sections_and_flags),
        cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
