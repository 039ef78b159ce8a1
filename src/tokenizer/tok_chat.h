/* tok_chat.h - chat templates written in C: messages in, the exact prompt text out. */
#ifndef SEEKD_TOKENIZER_TOK_CHAT_H
#define SEEKD_TOKENIZER_TOK_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "tokenizer/tok.h"

/** One tool call of an assistant message (its type is always "function"). */
typedef struct {
    const char *id;
    const char *name;
    const char *arguments; /* the arguments as the JSON text the model produced */
} tok_tool_call_t;

/** One chat message. Strings are UTF-8, borrowed, NULL when absent. */
typedef struct {
    const char *role;      /* "system", "user", "assistant" or "tool" */
    const char *content;   /* NULL: none (an assistant message carrying only tool calls) */
    const char *reasoning; /* assistant reasoning_content; templates drop it from history */
    const tok_tool_call_t *tool_calls;
    size_t n_tool_calls;
    const char *tool_call_id; /* for role "tool" */
} tok_msg_t;

typedef enum {
    TOK_TPL_DEEPSEEK_V3 = 1, /* DeepSeek-V3 (tokenizer_config.json of deepseek-ai/DeepSeek-V3) */
    TOK_TPL_DEEPSEEK_R1,     /* DeepSeek-R1 and R1-Distill: history drops "...</think>",
                                the generation prompt opens "<think>\n" */
    TOK_TPL_DEEPSEEK_CODER,  /* deepseek-coder instruct */
    TOK_TPL_LLAMA2,          /* plain Llama-2 chat ([INST] ... [/INST]) */
} tok_template_t;

/** Parses "deepseek-v3", "deepseek-r1" (alias "r1-distill"), "deepseek-coder", "llama2".
 * Returns 0 or TOK_EINVAL. */
int tok_template_parse(const char *name, tok_template_t *out);
/** The template a family uses by default (qwen2 -> R1-Distill, llama-spm -> Llama-2). */
tok_template_t tok_template_for_family(tok_family_t fam);

/** Renders n messages with the template into out (appended), with the generation prompt
 * when add_generation_prompt. Special tokens appear as their text: encode the result with
 * TOK_ENC_SPECIAL. Returns 0, TOK_EINVAL where the model's Jinja template would raise (a
 * NULL role; NULL content other than an assistant's in the DeepSeek templates; Llama-2 roles
 * not alternating user/assistant) or TOK_ETOOBIG. */
int tok_chat_render(tok_template_t tpl, const tok_msg_t *msgs, size_t n, bool add_generation_prompt,
                    buf_t *out);

#endif
