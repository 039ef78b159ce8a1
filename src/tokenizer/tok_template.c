/* tok_template.c - the chat templates of the DeepSeek families, Llama-2 and deepseek-coder,
 * rendering byte for byte what their Jinja templates render under HF transformers. */
#include <string.h>

#include "tokenizer/tok_chat.h"

#define BOS_DS "<｜begin▁of▁sentence｜>"
#define EOS_DS "<｜end▁of▁sentence｜>"

int tok_template_parse(const char *name, tok_template_t *out)
{
    static const struct {
        const char *name;
        tok_template_t tpl;
    } names[] = {
        {"deepseek-v3", TOK_TPL_DEEPSEEK_V3}, {"deepseek-r1", TOK_TPL_DEEPSEEK_R1},
        {"r1-distill", TOK_TPL_DEEPSEEK_R1},  {"deepseek-coder", TOK_TPL_DEEPSEEK_CODER},
        {"llama2", TOK_TPL_LLAMA2},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (name && strcmp(name, names[i].name) == 0) {
            *out = names[i].tpl;
            return 0;
        }
    return TOK_EINVAL;
}

tok_template_t tok_template_for_family(tok_family_t fam)
{
    switch (fam) {
    case TOK_FAM_QWEN2:
        return TOK_TPL_DEEPSEEK_R1;
    case TOK_FAM_DEEPSEEK_CODER:
        return TOK_TPL_DEEPSEEK_CODER;
    case TOK_FAM_LLAMA_SPM:
        return TOK_TPL_LLAMA2;
    default:
        return TOK_TPL_DEEPSEEK_V3;
    }
}

static bool is(const tok_msg_t *m, const char *role)
{
    return strcmp(m->role, role) == 0;
}
static const char *str(const char *s)
{
    return s ? s : "";
}

/* The text after the last "</think>" (R1 drops earlier reasoning from the history). */
static const char *after_think(const char *s)
{
    const char *r = s, *p = s;
    while ((p = strstr(p, "</think>")) != NULL) {
        p += 8;
        r = p;
    }
    return r;
}

/* DeepSeek-V3 and R1 share one template; R1 strips reasoning and opens "<think>\n".
 * Quirks kept on purpose, since they are what the model saw in training: the tool-call
 * block is closed only after the second and later calls, and is_first / is_output_first
 * are never reset between messages. */
static int render_deepseek(const tok_msg_t *msgs, size_t n, bool gen, bool r1, buf_t *o)
{
    int rc = buf_puts(o, BOS_DS);
    bool first_sp = true;
    for (size_t i = 0; i < n; i++)
        if (is(&msgs[i], "system")) {
            if (!first_sp)
                rc |= buf_puts(o, "\n\n");
            rc |= buf_puts(o, str(msgs[i].content));
            first_sp = false;
        }
    bool is_first = false, is_tool = false, output_first = true;
    for (size_t i = 0; i < n; i++) {
        const tok_msg_t *m = &msgs[i];
        if (is(m, "user")) {
            is_tool = false;
            rc |= buf_printf(o, "<｜User｜>%s", str(m->content));
        } else if (is(m, "assistant") && !m->content) {
            is_tool = false;
            for (size_t k = 0; k < m->n_tool_calls; k++) {
                const tok_tool_call_t *c = &m->tool_calls[k];
                if (!is_first) {
                    rc |= buf_printf(o,
                                     "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>"
                                     "function<｜tool▁sep｜>%s\n```json\n%s\n```"
                                     "<｜tool▁call▁end｜>",
                                     str(c->name), str(c->arguments));
                    is_first = true;
                } else {
                    rc |= buf_printf(o,
                                     "\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>%s\n```json\n"
                                     "%s\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>" EOS_DS,
                                     str(c->name), str(c->arguments));
                }
            }
        } else if (is(m, "assistant")) {
            if (is_tool) {
                rc |= buf_printf(o, "<｜tool▁outputs▁end｜>%s" EOS_DS, m->content);
                is_tool = false;
            } else {
                rc |= buf_printf(o, "<｜Assistant｜>%s" EOS_DS,
                                 r1 ? after_think(m->content) : m->content);
            }
        } else if (is(m, "tool")) {
            is_tool = true;
            if (output_first) {
                rc |= buf_printf(o,
                                 "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>%s"
                                 "<｜tool▁output▁end｜>",
                                 str(m->content));
                output_first = false;
            } else {
                rc |= buf_printf(o, "\n<｜tool▁output▁begin｜>%s<｜tool▁output▁end｜>",
                                 str(m->content));
            }
        }
    }
    if (is_tool)
        rc |= buf_puts(o, "<｜tool▁outputs▁end｜>");
    if (gen && !is_tool)
        rc |= buf_puts(o, r1 ? "<｜Assistant｜><think>\n" : "<｜Assistant｜>");
    return rc ? TOK_ETOOBIG : 0;
}

static const char coder_default_system[] =
    "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by "
    "Deepseek Company, and you only answer questions related to computer science. For "
    "politically sensitive questions, security and privacy issues, and other non-computer "
    "science questions, you will refuse to answer\n";

static int render_coder(const tok_msg_t *msgs, size_t n, bool gen, buf_t *o)
{
    int rc = buf_puts(o, BOS_DS);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= is(&msgs[i], "system");
    if (!found)
        rc |= buf_puts(o, coder_default_system);
    for (size_t i = 0; i < n; i++) {
        const tok_msg_t *m = &msgs[i];
        if (is(m, "system"))
            rc |= buf_puts(o, str(m->content));
        else if (is(m, "user"))
            rc |= buf_printf(o, "### Instruction:\n%s\n", str(m->content));
        else /* every other role renders as a response, as in the template */
            rc |= buf_printf(o, "### Response:\n%s\n<|EOT|>\n", str(m->content));
    }
    if (gen)
        rc |= buf_puts(o, "### Response:\n");
    return rc ? TOK_ETOOBIG : 0;
}

/* Length of the Python-whitespace character at s (0 when none). */
static size_t py_space(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    if (s[0] == ' ' || (s[0] >= 0x09 && s[0] <= 0x0D) || (s[0] >= 0x1C && s[0] <= 0x1F))
        return 1;
    if (n >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0))
        return 2;
    if (n >= 3) {
        unsigned cp = (unsigned)(s[0] & 0x0F) << 12 | (unsigned)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        if ((s[0] & 0xF0) == 0xE0 &&
            (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
             cp == 0x202F || cp == 0x205F || cp == 0x3000))
            return 3;
    }
    return 0;
}

/* Appends s with leading and trailing whitespace removed (Python's str.strip()). */
static int put_stripped(buf_t *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), l;
    while ((l = py_space(p, n)) > 0) {
        p += l;
        n -= l;
    }
    /* trailing: scan forward, remembering where the last non-space ended */
    size_t end = 0;
    for (size_t i = 0; i < n;) {
        l = py_space(p + i, n - i);
        if (l) {
            i += l;
        } else {
            i++;
            while (i < n && (p[i] & 0xC0) == 0x80)
                i++;
            end = i;
        }
    }
    return buf_append(o, p, end);
}

static int render_llama2(const tok_msg_t *msgs, size_t n, buf_t *o)
{
    const char *system = NULL;
    size_t start = 0;
    if (n > 0 && is(&msgs[0], "system")) {
        system = str(msgs[0].content);
        start = 1;
    }
    int rc = 0;
    for (size_t i = start; i < n; i++) {
        const tok_msg_t *m = &msgs[i];
        if (is(m, "user") != ((i - start) % 2 == 0))
            return TOK_EINVAL; /* roles must alternate user/assistant/... */
        if (is(m, "user")) {
            rc |= buf_puts(o, "<s>[INST] ");
            if (i == start && system) {
                /* the system block is part of the content that gets stripped */
                buf_t c;
                buf_init(&c, o->cap);
                rc |= buf_printf(&c, "<<SYS>>\n%s\n<</SYS>>\n\n%s", system, str(m->content));
                rc |= put_stripped(o, c.data);
                buf_free(&c);
            } else {
                rc |= put_stripped(o, str(m->content));
            }
            rc |= buf_puts(o, " [/INST]");
        } else if (is(m, "assistant")) {
            rc |= buf_puts(o, " ");
            rc |= put_stripped(o, str(m->content));
            rc |= buf_puts(o, " </s>");
        }
    }
    return rc ? TOK_ETOOBIG : 0;
}

/* Whether the template's Jinja would fail on this message (None content concatenated). */
static bool content_missing(tok_template_t tpl, const tok_msg_t *m)
{
    if (m->content)
        return false;
    if (tpl == TOK_TPL_DEEPSEEK_V3 || tpl == TOK_TPL_DEEPSEEK_R1)
        return is(m, "user") || is(m, "system") || is(m, "tool");
    return true;
}

int tok_chat_render(tok_template_t tpl, const tok_msg_t *msgs, size_t n, bool add_generation_prompt,
                    buf_t *out)
{
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || content_missing(tpl, &msgs[i]))
            return TOK_EINVAL;
    switch (tpl) {
    case TOK_TPL_DEEPSEEK_V3:
        return render_deepseek(msgs, n, add_generation_prompt, false, out);
    case TOK_TPL_DEEPSEEK_R1:
        return render_deepseek(msgs, n, add_generation_prompt, true, out);
    case TOK_TPL_DEEPSEEK_CODER:
        return render_coder(msgs, n, add_generation_prompt, out);
    case TOK_TPL_LLAMA2:
        return render_llama2(msgs, n, out);
    }
    return TOK_EINVAL;
}
