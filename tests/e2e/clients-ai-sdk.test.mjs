// clients-ai-sdk.test.mjs - the Vercel AI SDK (`ai` with `@ai-sdk/deepseek`), as people use it
// with DeepSeek, against the running seekd relaying to the fake upstream: image parts reach the
// upstream as the SDK wrote them (OpenAI `image_url` parts, DeepSeek `file` parts); zod tools
// come back as parsed tool calls, whole and streamed; reasoning_content, from the fake and from
// recorded DeepSeek answers, is the SDK's reasoning text, exactly.
//
// The fake picks its answer from the body's `fake` field, which no SDK writes: the provider's
// own `fetch` hook adds it (and keeps what the SDK sent, to compare with what the upstream got).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createDeepSeek } from '@ai-sdk/deepseek';
import { generateText, streamText, tool } from 'ai';
import { z } from 'zod';
import { startStack, TEXT_ANSWER, TEXT_REASONING, TEXT_TOOL_ARGS } from './harness.mjs';
import { SKIP_NO_FIXTURES, recordedStream, recordedWhole } from './recorded.mjs';

let st;
before(async () => { st = await startStack(); });
after(async () => { await st?.stop(); });

const T = { timeout: 15000 };
const TF = { ...T, skip: SKIP_NO_FIXTURES };

// A 1x1 PNG.
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const PNG = Uint8Array.from(Buffer.from(PNG_B64, 'base64'));

/** A DeepSeek provider pointed at seekd whose requests carry `fake`; `sent` collects the bodies
 * the SDK itself wrote (without `fake`). */
function provider(fake = {}) {
  const sent = [];
  const ds = createDeepSeek({
    baseURL: st.baseURL,
    apiKey: 'sk-test-0123456789abcdef',
    fetch: async (url, init) => {
      const body = JSON.parse(init.body);
      sent.push(structuredClone(body));
      return fetch(url, { ...init, body: JSON.stringify({ ...body, fake }) });
    },
  });
  return { ds, sent };
}

/** The upstream received exactly the body the SDK sent (plus the test's `fake`). */
async function assertUpstreamGot(sent, fake) {
  assert.equal(sent.length, 1, 'the SDK sent one request');
  const s = await st.fakeStats();
  assert.equal(s.requests, 1, 'one request reached the upstream');
  assert.deepEqual(s.last_request, { ...sent[0], fake });
  return s.last_request;
}

const weatherTool = (name = 'get_weather') => ({
  [name]: tool({
    description: 'The weather in a city',
    inputSchema: z.object({ location: z.string().describe('the city') }),
  }),
});

test('an image part (bytes) reaches the upstream as an OpenAI image_url data URL, unchanged', T, async () => {
  await st.fakeReset();
  const { ds, sent } = provider();
  const r = await generateText({
    model: ds('deepseek-chat'),
    maxRetries: 0,
    messages: [{ role: 'user', content: [
      { type: 'text', text: 'What is in this picture?' },
      { type: 'image', image: PNG, mediaType: 'image/png' },
    ] }],
  });
  assert.equal(r.text, TEXT_ANSWER);
  assert.equal(r.finishReason, 'stop');
  const got = await assertUpstreamGot(sent, {});
  assert.deepEqual(got.messages, [{ role: 'user', content: [
    { type: 'text', text: 'What is in this picture?' },
    { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_B64}` } },
  ] }]);
});

test('an image part by URL with imageDetail, streamed: the upstream gets the URL and detail as sent', T, async () => {
  await st.fakeReset();
  const { ds, sent } = provider();
  const s = streamText({
    model: ds('deepseek-chat'),
    maxRetries: 0,
    messages: [{ role: 'user', content: [
      { type: 'text', text: 'Describe it.' },
      { type: 'image', image: new URL('https://example.com/cat.png'), providerOptions: { deepseek: { imageDetail: 'high' } } },
    ] }],
  });
  assert.equal(await s.text, TEXT_ANSWER);
  assert.equal(await s.finishReason, 'stop');
  const got = await assertUpstreamGot(sent, {});
  assert.equal(got.stream, true);
  assert.deepEqual(got.messages, [{ role: 'user', content: [
    { type: 'text', text: 'Describe it.' },
    { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'high' } },
  ] }]);
});

test('an image as a DeepSeek file part (fileData) reaches the upstream unchanged', T, async () => {
  await st.fakeReset();
  const { ds, sent } = provider();
  const r = await generateText({
    model: ds('deepseek-chat'),
    maxRetries: 0,
    messages: [{ role: 'user', content: [
      { type: 'text', text: 'And this file?' },
      { type: 'file', data: PNG, mediaType: 'image/png', filename: 'dot.png', providerOptions: { deepseek: { fileData: true } } },
    ] }],
  });
  assert.equal(r.text, TEXT_ANSWER);
  const got = await assertUpstreamGot(sent, {});
  assert.deepEqual(got.messages[0].content[1], { type: 'file', file_data: `data:image/png;base64,${PNG_B64}`, filename: 'dot.png' });
});

test('a zod tool, generateText: the tool call comes back with its name and parsed arguments', T, async () => {
  await st.fakeReset();
  const fake = { scenario: 'tool_call', chunks: 4 };
  const { ds, sent } = provider(fake);
  const r = await generateText({ model: ds('deepseek-chat'), maxRetries: 0, prompt: 'Weather in Hangzhou?', tools: weatherTool() });
  assert.equal(r.finishReason, 'tool-calls');
  assert.equal(r.toolCalls.length, 1);
  const [c] = r.toolCalls;
  assert.equal(c.toolName, 'get_weather');
  assert.deepEqual(c.input, JSON.parse(TEXT_TOOL_ARGS));
  assert.match(c.toolCallId, /^call_00_[A-Za-z0-9]{24}$/);
  assert.equal(r.text, '');
  // The zod schema went out as the function's JSON schema and reached the upstream as written.
  const got = await assertUpstreamGot(sent, fake);
  assert.equal(got.tools.length, 1);
  assert.equal(got.tools[0].type, 'function');
  assert.equal(got.tools[0].function.name, 'get_weather');
  assert.equal(got.tools[0].function.description, 'The weather in a city');
  assert.deepEqual(got.tools[0].function.parameters.properties, { location: { type: 'string', description: 'the city' } });
  assert.deepEqual(got.tools[0].function.parameters.required, ['location']);
});

test('a zod tool, streamText: the arguments stream in fragments and parse to the same call', T, async () => {
  await st.fakeReset();
  const fake = { scenario: 'tool_call', chunks: 7 };
  const { ds, sent } = provider(fake);
  const s = streamText({ model: ds('deepseek-chat'), maxRetries: 0, prompt: 'Weather in Hangzhou?', tools: weatherTool() });
  const deltas = [];
  const calls = [];
  let starts = 0;
  for await (const p of s.fullStream) {
    if (p.type === 'error') throw p.error;
    if (p.type === 'tool-input-start') { starts++; assert.equal(p.toolName, 'get_weather'); }
    if (p.type === 'tool-input-delta') deltas.push(p.delta);
    if (p.type === 'tool-call') calls.push(p);
  }
  assert.equal(starts, 1);
  assert.ok(deltas.length > 1, `arguments arrived in pieces: ${JSON.stringify(deltas)}`);
  assert.equal(deltas.join(''), TEXT_TOOL_ARGS);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].toolName, 'get_weather');
  assert.deepEqual(calls[0].input, JSON.parse(TEXT_TOOL_ARGS));
  assert.match(calls[0].toolCallId, /^call_00_[A-Za-z0-9]{24}$/);
  assert.equal(await s.finishReason, 'tool-calls');
  await assertUpstreamGot(sent, fake);
});

test('reasoning (the fake\'s reasoner), streamed and whole: reasoningText and text exactly', T, async () => {
  await st.fakeReset();
  const fake = { scenario: 'reasoning', chunks: 6 };
  const { ds } = provider(fake);
  const s = streamText({ model: ds('deepseek-reasoner'), maxRetries: 0, prompt: 'hi' });
  assert.equal(await s.reasoningText, TEXT_REASONING);
  assert.equal(await s.text, TEXT_ANSWER);
  const r = await generateText({ model: ds('deepseek-reasoner'), maxRetries: 0, prompt: 'hi' });
  assert.equal(r.reasoningText, TEXT_REASONING);
  assert.equal(r.text, TEXT_ANSWER);
});

test('recorded reasoning stream (deepseek-reasoning): reasoningText is the concatenated reasoning_content deltas', TF, async () => {
  await st.fakeReset();
  const want = recordedStream('deepseek-reasoning');
  const { ds } = provider({ scenario: 'replay:deepseek-reasoning' });
  const s = streamText({ model: ds('deepseek-reasoner'), maxRetries: 0, prompt: 'How many r in strawberry?' });
  const order = [];
  let reasoningDeltas = 0;
  for await (const p of s.fullStream) {
    if (p.type === 'error') throw p.error;
    if (p.type === 'reasoning-delta') { reasoningDeltas++; order.push('r'); }
    if (p.type === 'text-delta') order.push('t');
  }
  assert.ok(want.reasoning.length > 100 && want.content.length > 10, 'the recording has both');
  assert.equal(await s.reasoningText, want.reasoning);
  assert.equal(await s.text, want.content);
  assert.ok(reasoningDeltas > 1, 'reasoning streamed in pieces');
  assert.equal(order.join('').replace(/r+t+/, ''), '', `all reasoning before the answer: ${order.join('')}`);
  assert.equal(await s.finishReason, 'stop');
  const u = await s.usage;
  assert.equal(u.inputTokens, want.usage.prompt_tokens);
  assert.equal(u.outputTokens, want.usage.completion_tokens);
  assert.equal(u.outputTokenDetails.reasoningTokens, want.usage.completion_tokens_details.reasoning_tokens);
  assert.equal(u.inputTokenDetails.cacheReadTokens, want.usage.prompt_cache_hit_tokens);
});

test('recorded reasoning, whole answer (deepseek-reasoning.json): reasoningText and text exactly', TF, async () => {
  await st.fakeReset();
  const want = recordedWhole('deepseek-reasoning').choices[0].message;
  const { ds } = provider({ scenario: 'replay:deepseek-reasoning' });
  const r = await generateText({ model: ds('deepseek-reasoner'), maxRetries: 0, prompt: 'How many r in strawberry?' });
  assert.equal(r.reasoningText, want.reasoning_content);
  assert.equal(r.text, want.content);
});

test('recorded tool call stream (deepseek-tool-call): reasoning, then the call with DeepSeek\'s id, name and arguments', TF, async () => {
  await st.fakeReset();
  const want = recordedStream('deepseek-tool-call');
  assert.equal(want.toolCalls.length, 1);
  const { ds } = provider({ scenario: 'replay:deepseek-tool-call' });
  const s = streamText({ model: ds('deepseek-reasoner'), maxRetries: 0, prompt: 'Weather in San Francisco?', tools: weatherTool(want.toolCalls[0].name) });
  const deltas = [];
  for await (const p of s.fullStream) {
    if (p.type === 'error') throw p.error;
    if (p.type === 'tool-input-delta') deltas.push(p.delta);
  }
  assert.equal(await s.reasoningText, want.reasoning);
  assert.equal(deltas.join(''), want.toolCalls[0].arguments);
  const calls = await s.toolCalls;
  assert.equal(calls.length, 1);
  assert.equal(calls[0].toolCallId, want.toolCalls[0].id);
  assert.equal(calls[0].toolName, want.toolCalls[0].name);
  assert.deepEqual(calls[0].input, JSON.parse(want.toolCalls[0].arguments));
  assert.equal(await s.finishReason, 'tool-calls');
  const u = await s.usage;
  assert.equal(u.inputTokens, want.usage.prompt_tokens);
  assert.equal(u.outputTokens, want.usage.completion_tokens);
  assert.equal(u.outputTokenDetails.reasoningTokens, want.usage.completion_tokens_details.reasoning_tokens);
  assert.equal(u.inputTokenDetails.cacheReadTokens, want.usage.prompt_cache_hit_tokens);
});

test('recorded tool call, whole answer (deepseek-tool-call.json): the same call through generateText', TF, async () => {
  await st.fakeReset();
  const want = recordedWhole('deepseek-tool-call').choices[0].message;
  const { ds } = provider({ scenario: 'replay:deepseek-tool-call' });
  const r = await generateText({ model: ds('deepseek-reasoner'), maxRetries: 0, prompt: 'Weather in San Francisco?', tools: weatherTool(want.tool_calls[0].function.name) });
  assert.equal(r.reasoningText, want.reasoning_content);
  assert.equal(r.finishReason, 'tool-calls');
  assert.equal(r.toolCalls.length, 1);
  assert.equal(r.toolCalls[0].toolCallId, want.tool_calls[0].id);
  assert.equal(r.toolCalls[0].toolName, want.tool_calls[0].function.name);
  assert.deepEqual(r.toolCalls[0].input, JSON.parse(want.tool_calls[0].function.arguments));
});
