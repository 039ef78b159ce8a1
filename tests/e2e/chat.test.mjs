// chat.test.mjs - non-streaming chat through the SDK: text, usage and cache fields, reasoning,
// JSON mode, tool-call round trip, unknown fields relayed, FIM and chat prefix completion.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startStack, userMsg, TEXT_ANSWER, TEXT_REASONING, TEXT_TOOL_ARGS, TEXT_FIM, FINGERPRINT,
} from './harness.mjs';

let st;
before(async () => { st = await startStack(); });
after(async () => { await st?.stop(); });

const T = { timeout: 10000 };

test('non-stream text: exact content, usage, id/model/object', T, async () => {
  await st.fakeReset();
  const c = st.client();
  const r = await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'deepseek-chat');
  assert.equal(typeof r.id, 'string');
  assert.ok(r.id.length > 0);
  assert.equal(typeof r.created, 'number');
  assert.equal(r.system_fingerprint, FINGERPRINT);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].index, 0);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, TEXT_ANSWER);
  assert.equal(r.choices[0].finish_reason, 'stop');
  // "hi": 2 bytes -> 2/4+5 = 5 prompt tokens; 5 content pieces.
  assert.deepEqual(r.usage, {
    prompt_tokens: 5, completion_tokens: 5, total_tokens: 10,
    prompt_tokens_details: { cached_tokens: 0 },
    prompt_cache_hit_tokens: 0, prompt_cache_miss_tokens: 5,
  });
});

test('non-stream: prompt cache hit/miss tokens relayed', T, async () => {
  await st.fakeReset();
  const c = st.client();
  const long = 'x'.repeat(300); // 300/4+5 = 80 prompt tokens; a repeat hits 64 cached
  const r1 = await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg(long) });
  assert.equal(r1.usage.prompt_cache_hit_tokens, 0);
  assert.equal(r1.usage.prompt_cache_miss_tokens, 80);
  const r2 = await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg(long) });
  assert.deepEqual(r2.usage, {
    prompt_tokens: 80, completion_tokens: 5, total_tokens: 85,
    prompt_tokens_details: { cached_tokens: 64 },
    prompt_cache_hit_tokens: 64, prompt_cache_miss_tokens: 16,
  });
});

test('non-stream echo content is relayed byte for byte (unicode, escapes)', T, async () => {
  const c = st.client();
  const text = 'héllo "wörld"\n\t\\ 你好 🙂 end';
  const r = await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg('echo:' + text) });
  assert.equal(r.choices[0].message.content, text);
});

test('non-stream reasoning: message.reasoning_content and reasoning_tokens', T, async () => {
  const c = st.client();
  const r = await c.chat.completions.create({
    model: 'deepseek-reasoner', messages: userMsg('hi'), fake: { scenario: 'reasoning' },
  });
  assert.equal(r.model, 'deepseek-reasoner');
  assert.equal(r.choices[0].message.reasoning_content, TEXT_REASONING);
  assert.equal(r.choices[0].message.content, TEXT_ANSWER);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.completion_tokens, 10);
  assert.deepEqual(r.usage.completion_tokens_details, { reasoning_tokens: 5 });
});

test('JSON mode: content parses as JSON', T, async () => {
  const c = st.client();
  const r = await c.chat.completions.create({
    model: 'deepseek-chat',
    messages: [{ role: 'system', content: 'Answer in json' }, { role: 'user', content: 'json please' }],
    response_format: { type: 'json_object' },
    fake: { scenario: 'json' },
  });
  assert.deepEqual(JSON.parse(r.choices[0].message.content), { answer: 42, ok: true });
  const st2 = await st.fakeStats();
  assert.deepEqual(st2.last_request.response_format, { type: 'json_object' });
});

const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get weather of a location',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  },
}];

test('tool call round trip (non-stream)', T, async () => {
  const c = st.client();
  const messages = userMsg("How's the weather in Hangzhou?");
  const r = await c.chat.completions.create({
    model: 'deepseek-chat', messages, tools, fake: { scenario: 'tool_call' },
  });
  const ch = r.choices[0];
  assert.equal(ch.finish_reason, 'tool_calls');
  assert.equal(ch.message.tool_calls.length, 1);
  const tc = ch.message.tool_calls[0];
  assert.match(tc.id, /^call_00_[0-9A-Za-z]{24}$/);
  assert.equal(tc.type, 'function');
  assert.equal(tc.function.name, 'get_weather');
  assert.equal(tc.function.arguments, TEXT_TOOL_ARGS);
  assert.deepEqual(JSON.parse(tc.function.arguments), { location: 'Hangzhou' });

  messages.push(ch.message);
  messages.push({ role: 'tool', tool_call_id: tc.id, content: '24℃, sunny' });
  const r2 = await c.chat.completions.create({ model: 'deepseek-chat', messages, tools });
  assert.equal(r2.choices[0].message.content, TEXT_ANSWER);
  assert.equal(r2.choices[0].finish_reason, 'stop');
  const s = await st.fakeStats();
  const sent = s.last_request.messages;
  assert.equal(sent.length, 3);
  assert.equal(sent[1].role, 'assistant');
  assert.equal(sent[1].tool_calls[0].id, tc.id);
  assert.equal(sent[1].tool_calls[0].function.arguments, TEXT_TOOL_ARGS);
  assert.deepEqual(sent[2], { role: 'tool', tool_call_id: tc.id, content: '24℃, sunny' });
});

test('tool call round trip (stream): arguments assembled from fragments', T, async () => {
  const c = st.client();
  const messages = userMsg("How's the weather in Hangzhou?");
  const stream = await c.chat.completions.create({
    model: 'deepseek-chat', messages, tools, stream: true, fake: { scenario: 'tool_call', chunks: 7 },
  });
  let id = '', name = '', args = '', finish = null, frags = 0;
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      for (const tc of ch.delta.tool_calls || []) {
        assert.equal(tc.index, 0);
        if (tc.id) id += tc.id;
        if (tc.function?.name) name += tc.function.name;
        if (tc.function?.arguments) { args += tc.function.arguments; frags++; }
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.match(id, /^call_00_[0-9A-Za-z]{24}$/);
  assert.equal(name, 'get_weather');
  assert.equal(args, TEXT_TOOL_ARGS);
  assert.ok(frags >= 2, `arguments came in ${frags} fragments`);
  assert.equal(finish, 'tool_calls');
  messages.push({ role: 'assistant', content: '', tool_calls: [{ id, type: 'function', function: { name, arguments: args } }] });
  messages.push({ role: 'tool', tool_call_id: id, content: '24℃' });
  const r2 = await c.chat.completions.create({ model: 'deepseek-chat', messages, tools });
  assert.equal(r2.choices[0].message.content, TEXT_ANSWER);
});

test('unknown top-level fields reach the upstream unchanged', T, async () => {
  const c = st.client();
  const extra = {
    thinking: { type: 'enabled' },
    user_id: 'u-42',
    reasoning_effort: 'high',
    custom_nested: { a: [1, 2, { b: null }], s: 'x' },
  };
  await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi'), ...extra });
  const s = await st.fakeStats();
  for (const [k, v] of Object.entries(extra)) assert.deepEqual(s.last_request[k], v, k);
  assert.equal(s.last_request.model, 'deepseek-chat');
  assert.deepEqual(s.last_request.messages, userMsg('hi'));
});

test('FIM: /beta completions -> text_completion', T, async () => {
  const c = st.client({ path: '/beta' });
  const r = await c.completions.create({
    model: 'deepseek-chat', prompt: 'def add(a, b):\n    ', suffix: '\n', max_tokens: 64,
  });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].text, TEXT_FIM);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.completion_tokens, 5);
  const s = await st.fakeStats();
  assert.equal(s.last_path, '/beta/completions');
  assert.equal(s.last_request.suffix, '\n');
});

test('FIM stream: text deltas concatenate', T, async () => {
  const c = st.client({ path: '/beta' });
  const stream = await c.completions.create({
    model: 'deepseek-chat', prompt: 'def add(a, b):\n    ', stream: true,
  });
  let text = '', finish = null;
  for await (const ch of stream) {
    assert.equal(ch.object, 'text_completion');
    text += ch.choices[0]?.text || '';
    if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
  }
  assert.equal(text, TEXT_FIM);
  assert.equal(finish, 'stop');
});

test('chat prefix completion via /beta', T, async () => {
  const c = st.client({ path: '/beta' });
  const r = await c.chat.completions.create({
    model: 'deepseek-chat',
    messages: [
      { role: 'user', content: 'Please write quick sort code' },
      { role: 'assistant', content: '```python\n', prefix: true },
    ],
    stop: ['```'],
  });
  assert.equal(r.choices[0].message.content, TEXT_ANSWER);
  const s = await st.fakeStats();
  assert.equal(s.last_path, '/beta/chat/completions');
  assert.equal(s.last_request.messages[1].prefix, true);
  assert.deepEqual(s.last_request.stop, ['```']);
});

test('capabilities are the model\'s to decide: an image part reaches the upstream as sent', T, async () => {
  await st.fakeReset();
  const messages = [{ role: 'user', content: [
    { type: 'text', text: 'What is in this picture?' },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
  ] }];
  const r = await st.client().chat.completions.create({ model: 'deepseek-flash', messages });
  assert.equal(r.choices[0].finish_reason, 'stop');
  const s = await st.fakeStats();
  assert.deepEqual(s.last_request.messages, messages);
});

test('json_schema reaches the upstream, and DeepSeek\'s own 400 for it reaches the client byte for byte', T, async () => {
  await st.fakeReset();
  const response_format = { type: 'json_schema', json_schema: { name: 'a', schema: { type: 'object' } } };
  const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-flash', messages: userMsg('hi'), response_format } });
  assert.equal(res.status, 400);
  assert.equal(await res.text(), '{"error":{"message":"This response_format type is unavailable now","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}');
  const s = await st.fakeStats();
  assert.deepEqual(s.last_request.response_format, response_format, 'seekd did not decide for the upstream');
});
