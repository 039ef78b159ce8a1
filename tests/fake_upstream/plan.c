/* plan.c - turns one request body into the fake's deterministic answer plan (scenarios, token
 * counts, the toy prefix cache). No I/O except loading replay fixtures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "fake.h"

/* Texts every test may assert on; README.md repeats them. */
#define TEXT_ANSWER "Hello! How can I help you today?"
#define TEXT_REASONING "The user greets me. I should answer politely."
#define TEXT_JSON "{\"answer\": 42, \"ok\": true}"
#define TEXT_TOOL_ARGS "{\"location\": \"Hangzhou\"}"
#define TEXT_FIM "return a + b\n"
#define DEFAULT_TOOL "get_weather"
#define FINGERPRINT "fp_fake0820_prod0820_fp8_kvcache"
#define MAX_CHUNKS 100000

/* ---- ids ---- */

static uint64_t g_seq = 0x5eedf00dULL;

static uint64_t next_rand(void)
{
    uint64_t z = (g_seq += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- toy prefix cache: a set of prompt hashes ---- */

static uint64_t *g_seen;
static size_t g_seen_cap, g_seen_n;

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h ? h : 1; /* 0 marks an empty slot */
}

/* Returns 1 if h was already in the set, else inserts it and returns 0. */
static int seen_check_insert(uint64_t h)
{
    if ((g_seen_n + 1) * 2 > g_seen_cap) {
        size_t ncap = g_seen_cap ? g_seen_cap * 2 : 1024;
        uint64_t *n = calloc(ncap, sizeof(*n));
        if (!n)
            abort();
        for (size_t i = 0; i < g_seen_cap; i++) {
            if (!g_seen[i])
                continue;
            size_t j = g_seen[i] & (ncap - 1);
            while (n[j])
                j = (j + 1) & (ncap - 1);
            n[j] = g_seen[i];
        }
        free(g_seen);
        g_seen = n;
        g_seen_cap = ncap;
    }
    size_t j = h & (g_seen_cap - 1);
    while (g_seen[j]) {
        if (g_seen[j] == h)
            return 1;
        j = (j + 1) & (g_seen_cap - 1);
    }
    g_seen[j] = h;
    g_seen_n++;
    return 0;
}

void plan_cache_reset(void)
{
    free(g_seen);
    g_seen = NULL;
    g_seen_cap = g_seen_n = 0;
}

/* ---- blob and pieces ---- */

static uint32_t blob_add(plan_t *p, const char *s, size_t n)
{
    if (p->blob_len + n + 1 > p->blob_cap) {
        size_t cap = p->blob_cap ? p->blob_cap : 256;
        while (cap < p->blob_len + n + 1)
            cap *= 2;
        p->blob = realloc(p->blob, cap);
        if (!p->blob)
            abort();
        p->blob_cap = cap;
    }
    uint32_t off = (uint32_t)p->blob_len;
    memcpy(p->blob + off, s, n);
    p->blob[off + n] = '\0';
    p->blob_len += n + 1;
    return off;
}

const char *plan_str(const plan_t *p, uint32_t off)
{
    return p->blob + off;
}

typedef struct {
    plan_t *p;
    size_t cap;
    long max_tokens; /* -1: unlimited */
    long tokens;
    int truncated;
} builder_t;

static void add_piece(builder_t *b, piece_kind_t kind, uint32_t off, uint32_t len)
{
    int is_token = kind == PIECE_REASONING || kind == PIECE_CONTENT || kind == PIECE_TOOL_ARGS ||
                   kind == PIECE_FIM_TEXT;
    if (is_token && b->max_tokens >= 0 && b->tokens >= b->max_tokens) {
        b->truncated = 1;
        return;
    }
    plan_t *p = b->p;
    if (p->n_pieces == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        p->pieces = realloc(p->pieces, b->cap * sizeof(*p->pieces));
        if (!p->pieces)
            abort();
    }
    piece_t *pc = &p->pieces[p->n_pieces++];
    pc->kind = kind;
    pc->off = off;
    pc->len = len;
    pc->tok = is_token ? (uint32_t)b->tokens : 0;
    if (is_token) {
        b->tokens++;
        if (kind == PIECE_REASONING)
            p->reasoning_tokens++;
    }
}

/* Splits s into n nearly equal byte ranges: piece i is [i*len/n, (i+1)*len/n), each end moved
 * forward to a UTF-8 character boundary. When n > len the text is first repeated, joined by one
 * space, until it has at least n bytes, so every piece is non-empty. */
static void add_split(builder_t *b, piece_kind_t kind, const char *s, size_t len, long n,
                      int may_repeat)
{
    if (len == 0)
        return;
    if (n < 1)
        n = 1;
    if ((size_t)n > len && !may_repeat)
        n = (long)len;
    uint32_t off;
    size_t total = len;
    if ((size_t)n > len) {
        size_t r = ((size_t)n + len - 1) / len;
        total = r * len + (r - 1);
        char *rep = malloc(total);
        if (!rep)
            abort();
        for (size_t i = 0; i < r; i++) {
            if (i)
                rep[i * (len + 1) - 1] = ' ';
            memcpy(rep + i * (len + 1), s, len);
        }
        off = blob_add(b->p, rep, total);
        free(rep);
    } else {
        off = blob_add(b->p, s, len);
    }
    const char *t = b->p->blob + off;
    size_t start = 0;
    for (long i = 0; i < n; i++) {
        size_t end = (size_t)(((unsigned long long)(i + 1) * total) / (unsigned long long)n);
        while (end < total && ((unsigned char)t[end] & 0xC0) == 0x80)
            end++;
        if (end > start)
            add_piece(b, kind, off + (uint32_t)start, (uint32_t)(end - start));
        start = end;
    }
}

/* Echo splitting: pieces of at most 4 bytes, never cutting a UTF-8 character. */
static void add_echo(builder_t *b, piece_kind_t kind, const char *s, size_t len)
{
    uint32_t off = blob_add(b->p, s, len);
    const char *t = b->p->blob + off;
    size_t i = 0;
    while (i < len) {
        size_t end = i + 4 < len ? i + 4 : len;
        while (end < len && end > i && ((unsigned char)t[end] & 0xC0) == 0x80)
            end--;
        if (end == i) { /* a malformed run of continuation bytes: take it whole */
            end = i + 1;
            while (end < len && ((unsigned char)t[end] & 0xC0) == 0x80)
                end++;
        }
        add_piece(b, kind, off + (uint32_t)i, (uint32_t)(end - i));
        i = end;
    }
}

/* ---- request reading ---- */

static long get_int(json_t *o, const char *key, long dflt, long lo, long hi)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return dflt;
    long x = (long)json_integer_value(v);
    return x < lo ? lo : x > hi ? hi : x;
}

/* Sums the bytes of every message content (strings and text parts). */
static size_t prompt_bytes(json_t *messages)
{
    size_t total = 0, i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        json_t *c = json_object_get(m, "content");
        if (json_is_string(c)) {
            total += json_string_length(c);
        } else if (json_is_array(c)) {
            size_t j;
            json_t *part;
            json_array_foreach(c, j, part)
            {
                json_t *t = json_object_get(part, "text");
                if (json_is_string(t))
                    total += json_string_length(t);
            }
        }
    }
    return total;
}

static json_t *last_user_content(json_t *messages)
{
    for (size_t i = json_array_size(messages); i-- > 0;) {
        json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && strcmp(role, "user") == 0)
            return json_object_get(m, "content");
    }
    return NULL;
}

static void set_prompt_usage(plan_t *p, json_t *body, int fim)
{
    size_t bytes = 0;
    char *key = NULL;
    if (fim) {
        json_t *pr = json_object_get(body, "prompt"), *sf = json_object_get(body, "suffix");
        bytes = json_string_length(pr) + json_string_length(sf);
        json_t *k = json_pack("[OO]", pr ? pr : json_null(), sf ? sf : json_null());
        key = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(k);
    } else {
        json_t *msgs = json_object_get(body, "messages");
        bytes = prompt_bytes(msgs);
        key =
            json_dumps(msgs ? msgs : json_null(), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    }
    p->prompt_tokens = (long)(bytes / 4 + 5);
    int hit = key ? seen_check_insert(fnv1a(key, strlen(key))) : 0;
    p->cached_tokens = hit ? p->prompt_tokens / 64 * 64 : 0;
    free(key);
}

static int parse_scenario(const char *s, plan_t *p, const char **replay_name)
{
    static const struct {
        const char *name;
        scenario_t s;
    } tab[] = {{"text", SCEN_TEXT},
               {"reasoning", SCEN_REASONING},
               {"tool_call", SCEN_TOOL_CALL},
               {"json", SCEN_JSON},
               {"logprobs", SCEN_LOGPROBS}};
    if (strncmp(s, "replay:", 7) == 0) {
        p->scenario = SCEN_REPLAY;
        *replay_name = s + 7;
        return 0;
    }
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        if (strcmp(s, tab[i].name) == 0) {
            p->scenario = tab[i].s;
            return 0;
        }
    }
    return -1;
}

static uint32_t add_uuid(plan_t *p)
{
    uint64_t a = next_rand(), c = next_rand();
    char u[40];
    snprintf(u, sizeof(u), "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)((c >> 48) & 0x3fff) | 0x8000, (unsigned long long)(c & 0xffffffffffffULL));
    return blob_add(p, u, strlen(u));
}

static uint32_t add_call_id(plan_t *p)
{
    static const char al[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char id[40] = "call_00_";
    uint64_t r = next_rand(), r2 = next_rand();
    for (int i = 0; i < 24; i++) {
        uint64_t *src = i < 12 ? &r : &r2;
        id[8 + i] = al[*src % 62];
        *src /= 62;
    }
    id[32] = '\0';
    return blob_add(p, id, 32);
}

static int load_replay(plan_t *p, builder_t *b, const char *dir, const char *name, char *msg,
                       size_t msgsz)
{
    if (!dir) {
        snprintf(msg, msgsz, "fake_upstream: replay needs --fixtures DIR");
        return -1;
    }
    size_t len;
    if (!p->stream) {
        p->replay_json = fixtures_get(dir, name, ".json", &len);
        p->replay_json_len = len;
        if (!p->replay_json) {
            snprintf(msg, msgsz, "fake_upstream: fixture %.100s.json not found", name);
            return -1;
        }
        return 0;
    }
    const char *t = fixtures_get(dir, name, ".chunks.txt", &len);
    if (!t) {
        snprintf(msg, msgsz, "fake_upstream: fixture %.100s.chunks.txt not found", name);
        return -1;
    }
    p->replay = t;
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(t + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - t) : len, e = end;
        if (e > i && t[e - 1] == '\r')
            e--;
        if (e > i)
            add_piece(b, PIECE_RAW, (uint32_t)i, (uint32_t)(e - i));
        i = end + 1;
    }
    return 0;
}

void plan_fake_from_system(json_t *body)
{
    if (json_object_get(body, "fake"))
        return;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(body, "messages"), i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *c = json_string_value(json_object_get(m, "content"));
        if (!role || strcmp(role, "system") || !c)
            continue;
        if (strncmp(c, "fake:", 5) == 0) {
            json_t *f = json_loads(c + 5, 0, NULL);
            if (json_is_object(f))
                json_object_set_new(body, "fake", f);
            else
                json_decref(f);
        }
        return;
    }
}

int plan_build(plan_t *p, json_t *body, int fim, fake_fault_t key_fault, int key_delay_ms,
               const char *fixtures_dir, int *status, char *msg, size_t msgsz)
{
    memset(p, 0, sizeof(*p));
    builder_t b = {.p = p, .max_tokens = -1};
    json_t *fake = json_object_get(body, "fake");
    const char *replay_name = NULL;
    long chunks = 5;

    p->created = (long)time(NULL);
    p->fim = fim;
    p->stream = json_is_true(json_object_get(body, "stream"));
    p->include_usage =
        json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
    p->top_logprobs = (int)get_int(body, "top_logprobs", 0, 0, 20);
    b.max_tokens = get_int(body, "max_tokens", -1, -1, 1L << 30);
    if (b.max_tokens == 0)
        b.max_tokens = -1;
    p->after = 2;
    p->retry_after = 1;

    /* DeepSeek takes response_format text and json_object; any other type is its 400 */
    const char *rf =
        json_string_value(json_object_get(json_object_get(body, "response_format"), "type"));
    if (!fim && rf && strcmp(rf, "text") && strcmp(rf, "json_object")) {
        *status = 400;
        snprintf(msg, msgsz, "This response_format type is unavailable now");
        return -1;
    }
    if (fake && !json_is_object(fake)) {
        *status = 400;
        snprintf(msg, msgsz, "fake_upstream: \"fake\" must be an object");
        return -1;
    }
    if (fake) {
        const char *s = json_string_value(json_object_get(fake, "scenario"));
        if (s && parse_scenario(s, p, &replay_name) < 0) {
            *status = 400;
            snprintf(msg, msgsz, "fake_upstream: unknown scenario %.100s", s);
            return -1;
        }
        const char *f = json_string_value(json_object_get(fake, "fault"));
        if (f && fake_fault_parse(f, &p->fault) < 0) {
            *status = 400;
            snprintf(msg, msgsz, "fake_upstream: unknown fault %.100s", f);
            return -1;
        }
        chunks = get_int(fake, "chunks", 5, 1, MAX_CHUNKS);
        p->delay_ms = (int)get_int(fake, "delay_ms", 0, 0, 3600000);
        p->after = (int)get_int(fake, "after", 2, 0, MAX_CHUNKS);
        p->retry_after = (int)get_int(fake, "retry_after", 1, 0, 86400);
        p->no_usage = json_is_false(json_object_get(fake, "usage"));
        json_t *stu = json_object_get(fake, "server_tool_use");
        if (json_is_object(stu)) {
            p->has_tool_use = 1;
            p->web_search = (long)get_int(stu, "web_search_requests", 0, 0, 1000000);
            p->web_fetch = (long)get_int(stu, "web_fetch_requests", 0, 0, 1000000);
        }
    }
    if (key_fault != FAULT_NONE) {
        p->fault = key_fault;
        if (key_delay_ms > 0)
            p->delay_ms = key_delay_ms;
    }

    const char *model = json_string_value(json_object_get(body, "model"));
    if (!model)
        model = "deepseek-chat";
    p->model_off = blob_add(p, model, strlen(model));
    p->uuid_off = add_uuid(p);
    set_prompt_usage(p, body, fim);

    if (p->scenario == SCEN_REPLAY) {
        if (load_replay(p, &b, fixtures_dir, replay_name, msg, msgsz) < 0) {
            *status = 500;
            plan_free(p);
            return -1;
        }
        p->finish_reason = "stop";
        return 0;
    }

    /* The answer: "echo:<text>" in the last user message (or FIM prompt) wins. */
    const char *echo = NULL;
    size_t echo_len = 0;
    json_t *src = fim ? json_object_get(body, "prompt")
                      : last_user_content(json_object_get(body, "messages"));
    if (json_is_string(src) && strncmp(json_string_value(src), "echo:", 5) == 0) {
        echo = json_string_value(src) + 5;
        echo_len = json_string_length(src) - 5;
    }
    piece_kind_t ck = fim ? PIECE_FIM_TEXT : PIECE_CONTENT;
    const char *base = fim ? TEXT_FIM : TEXT_ANSWER;

    if (!fim)
        add_piece(&b, PIECE_ROLE, 0, 0);
    if (fim && p->scenario != SCEN_TEXT && p->scenario != SCEN_JSON)
        p->scenario = SCEN_TEXT;

    switch (p->scenario) {
    case SCEN_REASONING:
        add_split(&b, PIECE_REASONING, TEXT_REASONING, strlen(TEXT_REASONING), chunks, 1);
        /* fall through */
    case SCEN_TEXT:
    case SCEN_LOGPROBS:
        if (echo)
            add_echo(&b, ck, echo, echo_len);
        else
            add_split(&b, ck, base, strlen(base), chunks, 1);
        break;
    case SCEN_JSON:
        add_split(&b, ck, TEXT_JSON, strlen(TEXT_JSON), chunks, 0);
        break;
    case SCEN_TOOL_CALL: {
        json_t *tools = json_object_get(body, "tools");
        const char *name = json_string_value(
            json_object_get(json_object_get(json_array_get(tools, 0), "function"), "name"));
        if (!name)
            name = DEFAULT_TOOL;
        p->tool_name_off = blob_add(p, name, strlen(name));
        p->call_id_off = add_call_id(p);
        add_piece(&b, PIECE_TOOL_HEAD, 0, 0);
        add_split(&b, PIECE_TOOL_ARGS, TEXT_TOOL_ARGS, strlen(TEXT_TOOL_ARGS), chunks, 0);
        break;
    }
    case SCEN_REPLAY:
        break;
    }
    add_piece(&b, PIECE_FINISH, 0, 0);
    p->completion_tokens = b.tokens;
    p->finish_reason = b.truncated                     ? "length"
                       : p->scenario == SCEN_TOOL_CALL ? "tool_calls"
                                                       : "stop";
    return 0;
}

void plan_free(plan_t *p)
{
    free(p->blob);
    free(p->pieces);
    memset(p, 0, sizeof(*p));
}

const char *fake_fingerprint(void)
{
    return FINGERPRINT;
}
