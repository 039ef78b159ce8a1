// anthropic.test.mjs - the Anthropic Messages front (/anthropic/v1/messages) driven by the
// official @anthropic-ai/sdk against the real seekd in front of the fake DeepSeek upstream: the
// request seekd sends upstream (a Chat Completions body), the answer's exact texts, blocks,
// stop reasons and usage, Anthropic's stream event order, token counting, and Anthropic's error
// shapes and statuses. The fake picks a scenario from a system prompt "fake:{...}" (its README).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import {
  startStack, runSeekd, tmpDir, readAll, SEEKD_BIN,
  TEXT_ANSWER, TEXT_REASONING, TEXT_TOOL_ARGS,
} from './harness.mjs';

const T = { timeout: 20000 };
const KEY = 'sk-test-0123456789abcdef';
const fake = (o) => `fake:${JSON.stringify(o)}`;
// The fake's prompt tokens: the bytes of every message text / 4 + 5 (tests/fake_upstream).
const fakePrompt = (msgs) => Math.floor(msgs.reduce((n, m) => n + (typeof m.content === 'string'
  ? Buffer.byteLength(m.content) : (m.content || []).reduce((k, p) => k + Buffer.byteLength(p.text || ''), 0)), 0) / 4) + 5;

let builtinTok = true;
try { execFileSync(SEEKD_BIN, ['tokenize', '--count', '-'], { input: 'x' }); } catch { builtinTok = false; }

describe('Anthropic Messages front', () => {
  let st;
  before(async () => { st = await startStack({ logLevel: 'info', config: 'keepalive_ms = 100\n' }); });
  after(async () => { await st?.stop(); });
  const client = (o = {}) => new Anthropic({
    baseURL: `${st.baseURL}/anthropic`, apiKey: o.apiKey ?? KEY, maxRetries: 0, timeout: 10000,
  });
  const last = async () => (await st.fakeStats()).last_request;

  test('messages.create: the Chat Completions request upstream, the text and usage back', T, async () => {
    await st.fakeReset();
    const msg = await client().messages.create({
      model: 'claude-sonnet-4-5', max_tokens: 300, system: [{ type: 'text', text: 'Be brief.' }],
      messages: [{ role: 'user', content: 'Hello there' }], temperature: 0.5, top_p: 0.9, top_k: 40,
      stop_sequences: ['END'], metadata: { user_id: 'u-42' },
    });
    const sent = await last();
    assert.deepEqual(sent, {
      model: 'deepseek-flash', max_tokens: 300, temperature: 0.5, top_p: 0.9, stop: ['END'], user_id: 'u-42',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }],
    });
    assert.match(msg.id, /^msg_/);
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.model, 'deepseek-flash');
    assert.deepEqual(msg.content, [{ type: 'text', text: TEXT_ANSWER }]);
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.stop_sequence, null);
    assert.deepEqual(msg.usage, {
      input_tokens: fakePrompt(sent.messages), output_tokens: 5,
      cache_read_input_tokens: 0, cache_creation_input_tokens: 0,
    });
  });

  test('model names: claude-opus* to deepseek-v4-pro, other claude* to deepseek-flash, others kept', T, async () => {
    for (const [asked, served] of [['claude-opus-4-1', 'deepseek-v4-pro'], ['claude-3-5-haiku-latest', 'deepseek-flash'], ['deepseek-v4-pro', 'deepseek-v4-pro']]) {
      await client().messages.create({ model: asked, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
      assert.equal((await last()).model, served, asked);
    }
  });

  test('cache hits: input_tokens counts the misses, cache_read_input_tokens the hits', T, async () => {
    await st.fakeReset();
    const text = 'a'.repeat(400); // P = 105: the second time the fake hits 64 of it
    const ask = () => client().messages.create({ model: 'claude-sonnet-4', max_tokens: 20, messages: [{ role: 'user', content: text }] });
    assert.deepEqual((await ask()).usage, { input_tokens: 105, output_tokens: 5, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
    assert.deepEqual((await ask()).usage, { input_tokens: 41, output_tokens: 5, cache_read_input_tokens: 64, cache_creation_input_tokens: 0 });
  });

  test('stream: exactly Anthropic\'s event order, the text in text_deltas, usage in message_delta', T, async () => {
    const stream = await client().messages.create({
      model: 'claude-sonnet-4', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'Hi' }],
    });
    const events = [];
    for await (const e of stream) events.push(e);
    const sent = await last();
    assert.equal(sent.stream, true);
    assert.deepEqual(sent.stream_options, { include_usage: true });
    assert.deepEqual(events.map((e) => e.type), ['message_start', 'content_block_start',
      ...Array(5).fill('content_block_delta'), 'content_block_stop', 'message_delta', 'message_stop']);
    assert.deepEqual(events[1].content_block, { type: 'text', text: '' });
    assert.equal(events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join(''), TEXT_ANSWER);
    assert.ok(events.every((e) => !('index' in e) || e.index === 0));
    const md = events.at(-2);
    assert.deepEqual(md.delta, { stop_reason: 'end_turn', stop_sequence: null });
    assert.deepEqual(md.usage, { input_tokens: fakePrompt(sent.messages), output_tokens: 5, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
  });

  test('messages.stream: finalMessage() is the whole message', T, async () => {
    const s = client().messages.stream({ model: 'claude-sonnet-4', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] });
    let text = '';
    s.on('text', (t) => { text += t; });
    const m = await s.finalMessage();
    assert.equal(text, TEXT_ANSWER);
    assert.deepEqual(m.content, [{ type: 'text', text: TEXT_ANSWER }]);
    assert.equal(m.stop_reason, 'end_turn');
    assert.equal(m.usage.output_tokens, 5);
    assert.equal(m.usage.input_tokens, fakePrompt((await last()).messages));
  });

  test('raw stream: a ping after message_start, and pings while the upstream is slow', T, async () => {
    const res = await st.fetch('/anthropic/v1/messages', {
      auth: false, headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'whatever-2025' },
      json: { model: 'claude-sonnet-4', max_tokens: 50, stream: true, system: fake({ fault: 'slow_first_byte', delay_ms: 450 }), messages: [{ role: 'user', content: 'Hi' }] },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const body = await readAll(res);
    const names = [...body.matchAll(/^event: (.*)$/gm)].map((m) => m[1]);
    const start = names.indexOf('message_start');
    assert.ok(start >= 2, `keep-alive pings before message_start: ${names.slice(0, 6)}`);
    assert.ok(names.slice(0, start).every((n) => n === 'ping'));
    assert.equal(names[start + 1], 'ping');
    assert.equal(names.at(-1), 'message_stop');
    // every event's data names its own type
    const blocks = body.split('\n\n').filter(Boolean);
    for (const b of blocks) {
      const [ev, data] = b.split('\n');
      assert.equal(JSON.parse(data.slice(6)).type, ev.slice(7));
    }
  });

  test('thinking: enabled upstream, the reasoning as a thinking block before the text', T, async () => {
    const req = {
      model: 'claude-opus-4', max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 1024 },
      system: fake({ scenario: 'reasoning' }), messages: [{ role: 'user', content: 'Hi' }],
    };
    const m = await client().messages.create(req);
    assert.deepEqual((await last()).thinking, { type: 'enabled' });
    assert.deepEqual(m.content, [{ type: 'thinking', thinking: TEXT_REASONING, signature: '' }, { type: 'text', text: TEXT_ANSWER }]);
    assert.equal(m.usage.output_tokens, 10);
    const events = [];
    for await (const e of await client().messages.create({ ...req, stream: true })) events.push(e);
    const seq = events.filter((e) => e.type.startsWith('content_block')).map((e) => `${e.type}:${e.index}:${e.content_block?.type ?? e.delta?.type ?? ''}`);
    assert.deepEqual(seq, ['content_block_start:0:thinking', ...Array(5).fill('content_block_delta:0:thinking_delta'),
      'content_block_stop:0:', 'content_block_start:1:text', ...Array(5).fill('content_block_delta:1:text_delta'), 'content_block_stop:1:']);
    assert.equal(events.filter((e) => e.delta?.type === 'thinking_delta').map((e) => e.delta.thinking).join(''), TEXT_REASONING);
    await client().messages.create({ ...req, thinking: { type: 'disabled' } });
    assert.deepEqual((await last()).thinking, { type: 'disabled' });
  });

  test('tool use round trip: tool_use with parsed input, then tool_result as a tool message', T, async () => {
    const tools = [{ name: 'get_weather', description: 'Weather of a city', input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } }];
    const first = await client().messages.create({
      model: 'claude-sonnet-4', max_tokens: 100, tools, tool_choice: { type: 'any' },
      system: fake({ scenario: 'tool_call' }), messages: [{ role: 'user', content: 'Weather in Hangzhou?' }],
    });
    const sent = await last();
    assert.deepEqual(sent.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: tools[0].input_schema } }]);
    assert.equal(sent.tool_choice, 'required');
    assert.equal(first.stop_reason, 'tool_use');
    assert.equal(first.content.length, 1);
    const call = first.content[0];
    assert.equal(call.type, 'tool_use');
    assert.match(call.id, /^call_00_/);
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(call.input, JSON.parse(TEXT_TOOL_ARGS));

    const second = await client().messages.create({
      model: 'claude-sonnet-4', max_tokens: 100, tools, tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [
        { role: 'user', content: 'Weather in Hangzhou?' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'Look it up.', signature: 'x' }, { type: 'text', text: 'Checking.' }, call] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: [{ type: 'text', text: 'Sunny, 25C' }] }, { type: 'text', text: 'Thanks' }] },
      ],
    });
    assert.deepEqual(second.content, [{ type: 'text', text: TEXT_ANSWER }]);
    const s2 = await last();
    assert.deepEqual(s2.tool_choice, { type: 'function', function: { name: 'get_weather' } });
    assert.deepEqual(s2.messages, [
      { role: 'user', content: 'Weather in Hangzhou?' },
      { role: 'assistant', content: 'Checking.', reasoning_content: 'Look it up.', tool_calls: [{ id: call.id, type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(call.input) } }] },
      { role: 'tool', tool_call_id: call.id, content: 'Sunny, 25C' },
      { role: 'user', content: 'Thanks' },
    ]);

    // streamed: input_json_delta pieces that join into the arguments, parsed by finalMessage()
    const s = client().messages.stream({ model: 'claude-sonnet-4', max_tokens: 100, tools, system: fake({ scenario: 'tool_call' }), messages: [{ role: 'user', content: 'Weather?' }] });
    let json = '';
    s.on('inputJson', (d) => { json += d; });
    const fm = await s.finalMessage();
    assert.equal(json, TEXT_TOOL_ARGS);
    assert.equal(fm.stop_reason, 'tool_use');
    assert.deepEqual(fm.content[0].input, JSON.parse(TEXT_TOOL_ARGS));
  });

  test('a tool_result with is_error reaches the model marked as an error; images as image_url parts', T, async () => {
    await client().messages.create({
      model: 'claude-sonnet-4', max_tokens: 10,
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'f', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'boom', is_error: true }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }, { type: 'text', text: 'what is it?', cache_control: { type: 'ephemeral' } }] },
      ],
    });
    const m = (await last()).messages;
    assert.deepEqual(m[1], { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] });
    assert.deepEqual(m[2], { role: 'tool', tool_call_id: 'call_1', content: 'Error: boom' });
    assert.deepEqual(m[3], { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }, { type: 'text', text: 'what is it?' }] });
  });

  test('countTokens equals the input_tokens seekd reports when the upstream counts nothing', { ...T, skip: builtinTok ? false : 'seekd built without its tokenizer data' }, async () => {
    const req = {
      model: 'claude-sonnet-4', system: fake({ usage: false }),
      messages: [{ role: 'user', content: 'Count these words, please: one two three.' }, { role: 'assistant', content: 'Sure.' }, { role: 'user', content: [{ type: 'text', text: 'Go' }] }],
    };
    const m = await client().messages.create({ ...req, max_tokens: 50 });
    const c = await client().messages.countTokens(req);
    assert.ok(c.input_tokens > 10);
    assert.deepEqual(c, { input_tokens: m.usage.input_tokens });
    assert.equal(m.usage.cache_read_input_tokens, 0);
    // and /v1/messages/count_tokens, with a Bearer key, says the same
    const r = await st.fetch('/v1/messages/count_tokens', { json: req });
    assert.deepEqual(await r.json(), { input_tokens: m.usage.input_tokens });
  });

  test('bad requests: BadRequestError with Anthropic\'s error shape, the upstream never called', T, async () => {
    await st.fakeReset();
    const cases = [
      [{ model: 'claude-sonnet-4', messages: [{ role: 'user', content: 'x' }] }, 'max_tokens: Field required'],
      [{ model: 'claude-sonnet-4', max_tokens: 5 }, 'messages: Field required'],
      [{ model: 'claude-sonnet-4', max_tokens: 5, messages: [{ role: 'system', content: 'x' }] }, "messages.0.role: Input should be 'user' or 'assistant'"],
      [{ model: 'claude-sonnet-4', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }, "messages.0.content.0.type: the content block type 'document' is not supported"],
      [{ model: 'claude-sonnet-4', max_tokens: 5, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, "tools.0.type: the tool type 'web_search_20250305' is not supported (only client tools with an input_schema)"],
      [{ model: 'claude-sonnet-4', max_tokens: 5, messages: [{ role: 'user', content: 'x' }], temperature: 9 }, 'Invalid temperature value, the valid range of temperature is [0, 2.0]'],
    ];
    for (const [body, message] of cases) {
      await assert.rejects(client().messages.create(body), (e) => {
        assert.ok(e instanceof Anthropic.BadRequestError, `${message}: ${e}`);
        assert.equal(e.status, 400);
        assert.deepEqual(e.error, { type: 'error', error: { type: 'invalid_request_error', message } });
        return true;
      });
    }
    const r = await st.fetch('/anthropic/v1/messages', { body: '{"model":', headers: { 'Content-Type': 'application/json' } });
    assert.equal(r.status, 400);
    const j = await r.json();
    assert.equal(j.type, 'error');
    assert.equal(j.error.type, 'invalid_request_error');
    assert.match(j.error.message, /^The request body is not valid JSON: /);
    assert.equal((await st.fakeStats()).requests, 0);
  });

  test('authentication: no key is seekd\'s 401, a key upstream refuses is the upstream\'s, both in Anthropic\'s shape', T, async () => {
    const r = await st.fetch('/anthropic/v1/messages', { auth: false, json: { model: 'claude-sonnet-4', max_tokens: 5, messages: [] } });
    assert.equal(r.status, 401);
    assert.deepEqual(await r.json(), { type: 'error', error: { type: 'authentication_error', message: 'Authentication Fails (no key: send "x-api-key: <key>" or "Authorization: Bearer <key>")' } });
    await assert.rejects(client({ apiKey: 'sk-bad-000000000000' }).messages.create({ model: 'claude-sonnet-4', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }), (e) => {
      assert.ok(e instanceof Anthropic.AuthenticationError);
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, 'authentication_error');
      assert.match(e.error.error.message, /Authentication Fails, Your api key: \*\*\*\*0000 is invalid/);
      return true;
    });
  });

  test('upstream errors map to Anthropic\'s: 402 billing_error, 429 rate_limit_error, 503 as 529 overloaded_error', T, async () => {
    const ask = (fault) => client().messages.create({ model: 'claude-sonnet-4', max_tokens: 5, system: fake({ fault }), messages: [{ role: 'user', content: 'x' }] });
    const want = [['402', 402, 'billing_error', 'Insufficient Balance'], ['429', 429, 'rate_limit_error', null], ['503', 529, 'overloaded_error', null], ['500', 500, 'api_error', null]];
    for (const [fault, status, type, message] of want) {
      await assert.rejects(ask(fault), (e) => {
        assert.equal(e.status, status, fault);
        assert.equal(e.error.type, 'error');
        assert.equal(e.error.error.type, type, fault);
        if (message) assert.equal(e.error.error.message, message);
        return true;
      });
    }
    await assert.rejects(ask('429'), (e) => e instanceof Anthropic.RateLimitError);
    await assert.rejects(ask('503'), (e) => e.status === 529);
  });

  test('an upstream cut mid-stream ends the stream with an error event', T, async () => {
    const res = await st.fetch('/anthropic/v1/messages', {
      json: { model: 'claude-sonnet-4', max_tokens: 50, stream: true, system: fake({ fault: 'cut', after: 3 }), messages: [{ role: 'user', content: 'Hi' }] },
    });
    const body = await readAll(res);
    const blocks = body.split('\n\n').filter((b) => b.startsWith('event: '));
    const lastBlock = blocks.at(-1).split('\n');
    assert.equal(lastBlock[0], 'event: error');
    const err = JSON.parse(lastBlock[1].slice(6));
    assert.equal(err.type, 'error');
    assert.equal(typeof err.error.message, 'string');
    assert.ok(['api_error', 'overloaded_error'].includes(err.error.type), err.error.type);
    assert.ok(!body.includes('message_stop'));
    // the SDK surfaces it as an APIError
    const stream = await client().messages.create({ model: 'claude-sonnet-4', max_tokens: 50, stream: true, system: fake({ fault: 'cut', after: 3 }), messages: [{ role: 'user', content: 'Hi' }] });
    await assert.rejects((async () => { for await (const e of stream) void e; })(), (e) => e instanceof Anthropic.APIError);
  });

  test('/v1/messages with a Bearer key, and a GET is a 405 in Anthropic\'s shape', T, async () => {
    const r = await st.fetch('/v1/messages', { json: { model: 'claude-sonnet-4', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] } });
    assert.equal(r.status, 200);
    assert.deepEqual((await r.json()).content, [{ type: 'text', text: TEXT_ANSWER }]);
    const g = await st.fetch('/anthropic/v1/messages');
    assert.equal(g.status, 405);
    assert.deepEqual(await g.json(), { type: 'error', error: { type: 'invalid_request_error', message: 'Method not allowed: use POST' } });
    const n = await st.fetch('/anthropic/v1/nothing-here');
    assert.equal(n.status, 404);
    assert.equal((await n.json()).error.type, 'not_found_error');
  });

  test('a client that leaves mid-stream cancels the upstream call', T, async () => {
    await st.fakeReset();
    const ac = new AbortController();
    const res = await st.fetch('/anthropic/v1/messages', {
      signal: ac.signal,
      json: { model: 'claude-sonnet-4', max_tokens: 50, stream: true, system: fake({ delay_ms: 300, chunks: 20 }), messages: [{ role: 'user', content: 'Hi' }] },
    });
    const reader = res.body.getReader();
    await reader.read();
    ac.abort();
    let cancelled = 0;
    for (let i = 0; i < 100 && !cancelled; i++) {
      cancelled = (await st.fakeStats()).cancelled;
      await new Promise((r) => setTimeout(r, 30));
    }
    assert.equal(cancelled, 1);
  });
});

describe('Anthropic front, metered keys', () => {
  let st, db, alice;
  const keys = (args) => runSeekd(['keys', ...args, '--db', db]);
  const show = async (who) => JSON.parse((await keys(['show', who, '--json'])).stdout);
  const PRICE = { hit: 100000000n, miss: 1000000000n, output: 2000000000n };
  before(async () => {
    db = path.join(tmpDir(), 'accounts.db');
    alice = (await keys(['create', '--name', 'alice', '--balance', '5'])).stdout.trim();
    st = await startStack({
      serverKey: 'sk-server-000000000001', seekdArgs: ['--db', db],
      config: 'price = deepseek-chat USD hit=0.1 miss=1 output=2 offpeak=none\nanthropic_model_map = claude*=deepseek-chat\n',
    });
  });
  after(async () => { await st?.stop(); });

  test('a metered key\'s request is held, then settled at the exact cost of its usage', T, async () => {
    const before = await show('alice');
    const c = new Anthropic({ baseURL: `${st.baseURL}/anthropic`, apiKey: alice, maxRetries: 0 });
    const m = await c.messages.create({ model: 'claude-sonnet-4', max_tokens: 100, messages: [{ role: 'user', content: 'bill me please' }] });
    assert.equal((await st.fakeStats()).last_request.model, 'deepseek-chat');
    assert.equal((await st.fakeStats()).last_authorization, 'Bearer sk-server-000000000001');
    const u = m.usage;
    const ceil = (a, b) => (a + b - 1n) / b;
    const cost = ceil(BigInt(u.cache_read_input_tokens) * PRICE.hit, 1000000n) + ceil(BigInt(u.input_tokens) * PRICE.miss, 1000000n) + ceil(BigInt(u.output_tokens) * PRICE.output, 1000000n);
    const nano = (s) => { const [a, b = ''] = s.split('.'); return BigInt(a) * 1000000000n + BigInt((b + '000000000').slice(0, 9)); };
    let after;
    for (let i = 0; i < 100; i++) {
      after = await show('alice');
      if (after.held === '0.000000000' && after.balance !== before.balance) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(cost > 0n);
    assert.equal(nano(before.balance) - nano(after.balance), cost);
    assert.ok(await st.waitLog(new RegExp(`POST /anthropic/v1/messages model=deepseek-chat .* account=${after.key_id} `)));
    // a key the accounts do not know, by x-api-key: Anthropic's 401
    const bad = new Anthropic({ baseURL: `${st.baseURL}/anthropic`, apiKey: 'sk-0123456789abcdef0123456789abcdef', maxRetries: 0 });
    await assert.rejects(bad.messages.create({ model: 'claude-sonnet-4', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }), (e) => e instanceof Anthropic.AuthenticationError && e.error.type === 'error');
  });
});
