/* textfilt.h - what happens to generated text between the detokenizer and the client: stop
 * strings matched across token boundaries (never emitted), the reasoning of R1-style models
 * split from the answer at "</think>", and the longest reusable prompt prefix. Pure: no
 * threads, no I/O. */
#ifndef SEEKD_ENGINE_TEXTFILT_H
#define SEEKD_ENGINE_TEXTFILT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define ENG_MAX_STOPS 16 /* DeepSeek accepts up to 16 stop strings */

/** Stop strings over a stream of text pieces. Text that may be the start of a stop string is
 * held back until the next piece decides. */
typedef struct {
    char *stop[ENG_MAX_STOPS];
    size_t len[ENG_MAX_STOPS];
    int n;
    size_t maxlen;
    buf_t hold;
} eng_stop_t;

/** Copies the n non-empty strings (empty ones are ignored; at most ENG_MAX_STOPS). */
void eng_stop_init(eng_stop_t *s, const char *const *stops, int n);
void eng_stop_free(eng_stop_t *s);
/** Feeds a piece; appends to out what can be emitted. Returns true when a stop string is
 * complete: out then ends just before it and nothing more may be fed. */
bool eng_stop_feed(eng_stop_t *s, const char *text, size_t len, buf_t *out);
/** The generation ended otherwise: appends the held-back text. */
void eng_stop_flush(eng_stop_t *s, buf_t *out);

/** Splits "<think>reasoning</think>answer" into reasoning and content. */
typedef struct {
    int state;
    buf_t hold;
} eng_think_t;

/** in_reasoning: the prompt already opened "<think>" (R1 templates), so the output starts with
 * reasoning and usually holds only "</think>"; an opening "<think>" is still dropped. Otherwise
 * the output is content unless it starts with "<think>". */
void eng_think_init(eng_think_t *t, bool in_reasoning);
void eng_think_free(eng_think_t *t);
/** Feeds a piece; appends to reasoning and content (in that order within one piece). */
void eng_think_feed(eng_think_t *t, const char *text, size_t len, buf_t *reasoning, buf_t *content);
/** Appends what is held back (an unfinished tag is text after all). */
void eng_think_flush(eng_think_t *t, buf_t *reasoning, buf_t *content);
/** Whether the splitter is inside the reasoning now. */
bool eng_think_reasoning(const eng_think_t *t);

/** Tokens of a cached sequence `have` a new prompt `want` can reuse: their common prefix,
 * at most nwant - 1 (the last prompt token is always run, for its logits), rounded down to a
 * multiple of unit. */
int eng_prefix_reuse(const int32_t *have, int nhave, const int32_t *want, int nwant, int unit);

#endif
