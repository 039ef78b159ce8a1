// stream.test.mjs - streaming chat through the SDK's async iterator and raw SSE: deltas, role,
// finish_reason, usage only when asked for, reasoning before content, upstream always asked
// for usage.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startStack, userMsg, aggregate, collect, parseSSE, readAll, TEXT_ANSWER, TEXT_REASONING,
} from './harness.mjs';

let st;
before(async () => { st = await startStack(); });
after(async () => { await st?.stop(); });

const T = { timeout: 10000 };
const EXPECTED_USAGE = {
  prompt_tokens: 5, completion_tokens: 8, total_tokens: 13,
  prompt_tokens_details: { cached_tokens: 0 },
  prompt_cache_hit_tokens: 0, prompt_cache_miss_tokens: 5,
};

test('stream text: exact deltas, first delta role, finish, usage only on the last chunk', T, async () => {
  await st.fakeReset();
  const c = st.client();
  const stream = await c.chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), stream: true, fake: { chunks: 8 },
  });
  const chunks = await collect(stream);
  assert.ok(chunks.length >= 3);
  const first = chunks[0];
  assert.equal(first.object, 'chat.completion.chunk');
  assert.equal(first.model, 'deepseek-chat');
  assert.equal(first.choices[0].delta.role, 'assistant');
  for (const ch of chunks) {
    assert.equal(ch.object, 'chat.completion.chunk');
    assert.equal(ch.id, first.id, 'one id across the stream');
  }
  // As DeepSeek: the last chunk before [DONE] carries usage even though the client did not
  // ask; without include_usage the other chunks have no usage field at all.
  for (const ch of chunks.slice(0, -1)) assert.ok(!('usage' in ch), 'no usage field before the last chunk');
  assert.equal(chunks.at(-1).usage.total_tokens, chunks.at(-1).usage.prompt_tokens + chunks.at(-1).usage.completion_tokens);
  assert.ok(chunks.at(-1).usage.completion_tokens > 0);
  const a = aggregate(chunks);
  assert.equal(a.content, TEXT_ANSWER);
  assert.equal(a.finish, 'stop');
  assert.deepEqual(a.roles, ['assistant']);
  // Only the last choice-bearing chunk carries finish_reason.
  const fin = chunks.filter((ch) => ch.choices[0]?.finish_reason);
  assert.equal(fin.length, 1);
  // seekd asks the upstream for usage (for accounting and for that last chunk).
  const s = await st.fakeStats();
  assert.equal(s.last_request.stream, true);
  assert.equal(s.last_request.stream_options?.include_usage, true);
});

test('stream text with include_usage: the usage chunk matches exactly', T, async () => {
  await st.fakeReset();
  const c = st.client();
  const stream = await c.chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), stream: true,
    stream_options: { include_usage: true }, fake: { chunks: 8 },
  });
  const chunks = await collect(stream);
  const withUsage = chunks.filter((ch) => ch.usage);
  assert.equal(withUsage.length, 1, 'exactly one chunk carries usage');
  assert.deepEqual(withUsage[0].usage, EXPECTED_USAGE);
  assert.equal(chunks.indexOf(withUsage[0]), chunks.length - 1, 'usage is in the last chunk');
  const a = aggregate(chunks);
  assert.equal(a.content, TEXT_ANSWER);
  assert.equal(a.finish, 'stop');
});

test('raw SSE: event-stream headers, data lines, [DONE] last', T, async () => {
  const res = await st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('hi'), stream: true },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  assert.ok(res.headers.get('x-request-id'));
  const text = await readAll(res);
  const { events } = parseSSE(text);
  assert.equal(events.at(-1), '[DONE]');
  assert.equal(events.filter((e) => e === '[DONE]').length, 1);
  for (const e of events.slice(0, -1)) assert.ok(!e.raw && !e.error, JSON.stringify(e));
  assert.ok(text.endsWith('data: [DONE]\n\n'));
  assert.equal(aggregate(events.slice(0, -1)).content, TEXT_ANSWER);
});

test('stream reasoning: reasoning_content deltas arrive before content', T, async () => {
  const c = st.client();
  const stream = await c.chat.completions.create({
    model: 'deepseek-reasoner', messages: userMsg('hi'), stream: true,
    stream_options: { include_usage: true }, fake: { scenario: 'reasoning', chunks: 6 },
  });
  const chunks = await collect(stream);
  const a = aggregate(chunks);
  assert.equal(a.reasoning, TEXT_REASONING);
  assert.equal(a.content, TEXT_ANSWER);
  assert.ok(a.lastReasoningIdx >= 0 && a.firstContentIdx > a.lastReasoningIdx,
    `reasoning (last at ${a.lastReasoningIdx}) before content (first at ${a.firstContentIdx})`);
  assert.equal(a.finish, 'stop');
  assert.equal(a.usage.completion_tokens, 12);
  assert.deepEqual(a.usage.completion_tokens_details, { reasoning_tokens: 6 });
});

test('stream logprobs: per-token logprobs relayed', T, async () => {
  const c = st.client();
  const stream = await c.chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), stream: true, logprobs: true, top_logprobs: 2,
    fake: { scenario: 'logprobs', chunks: 4 },
  });
  const a = aggregate(await collect(stream));
  assert.equal(a.content, TEXT_ANSWER);
  assert.equal(a.logprobs.length, 4);
  assert.equal(a.logprobs.map((l) => l.token).join(''), TEXT_ANSWER);
  a.logprobs.forEach((l, i) => {
    assert.equal(l.logprob, -(i % 16 + 1) / 64);
    assert.deepEqual(l.bytes, [...Buffer.from(l.token, 'utf8')]);
    assert.equal(l.top_logprobs.length, 2);
    assert.equal(l.top_logprobs[1].token, 'alt1');
    assert.equal(l.top_logprobs[1].logprob, -2.5);
  });
});

test('many chunks stream intact (1000 deltas)', T, async () => {
  const c = st.client();
  const stream = await c.chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), stream: true, fake: { chunks: 1000 },
  });
  const a = aggregate(await collect(stream));
  // The fake repeats its answer, joined by spaces, until it has at least 1000 bytes.
  const r = Math.ceil(1000 / TEXT_ANSWER.length);
  assert.equal(a.content, Array(r).fill(TEXT_ANSWER).join(' '));
  assert.equal(a.finish, 'stop');
});

test('a large body (over 64 KiB) whose stream_options lacks include_usage: spliced on the worker, the same bytes upstream', T, async () => {
  const big = 'x'.repeat(100 * 1024);
  const res = await st.fetch('/chat/completions', {
    json: {
      model: 'deepseek-chat', messages: userMsg(big), stream: true,
      stream_options: { include_usage: false, extra_option: 'kept' }, fake: { chunks: 3 },
    },
  });
  assert.equal(res.status, 200);
  assert.ok((await res.text()).endsWith('data: [DONE]\n\n'));
  const s = await st.fakeStats();
  assert.deepEqual(s.last_request.stream_options, { include_usage: true, extra_option: 'kept' });
  assert.equal(s.last_request.messages[0].content, big);
});

test('include_usage false: upstream still asked, other stream_options kept, usage on the last chunk only', T, async () => {
  const res = await st.fetch('/chat/completions', {
    json: {
      model: 'deepseek-chat', messages: userMsg('hi'), stream: true, temperature: 0.7,
      stream_options: { include_usage: false, extra_option: 'kept' }, fake: { chunks: 3 },
    },
  });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.ok(text.endsWith('data: [DONE]\n\n'));
  const events = text.split('\n\n').filter((e) => e.startsWith('data: {'));
  assert.equal(text.match(/"usage":\{/g).length, 1, 'one usage object');
  assert.ok(/"usage":\{/.test(events.at(-1)), 'on the last chunk before [DONE]');
  assert.ok(!/"usage"/.test(events.slice(0, -1).join('')), 'no usage field on the others, not even null');
  const s = await st.fakeStats();
  assert.deepEqual(s.last_request.stream_options, { include_usage: true, extra_option: 'kept' });
  assert.equal(s.last_request.temperature, 0.7);
});
