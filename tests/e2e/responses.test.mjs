// responses.test.mjs - the OpenAI Responses front (/responses, /v1/responses) driven by the
// official openai SDK against the real seekd in front of the fake DeepSeek upstream: the Chat
// Completions request seekd sends upstream, the output items, their exact texts and usage, the
// typed stream events in order with their sequence numbers, a function-calling round trip,
// reasoning, and the refusals of what needs stored state. The fake picks a scenario from the
// instructions "fake:{...}" (its README).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startStack, readAll, TEXT_ANSWER, TEXT_REASONING, TEXT_TOOL_ARGS } from './harness.mjs';

const T = { timeout: 20000 };
const fake = (o) => `fake:${JSON.stringify(o)}`;
const fakePrompt = (msgs) => Math.floor(msgs.reduce((n, m) => n + (typeof m.content === 'string'
  ? Buffer.byteLength(m.content) : (m.content || []).reduce((k, p) => k + Buffer.byteLength(p.text || ''), 0)), 0) / 4) + 5;

describe('OpenAI Responses front', () => {
  let st;
  before(async () => { st = await startStack({ logLevel: 'info' }); });
  after(async () => { await st?.stop(); });
  const client = () => st.client();
  const last = async () => (await st.fakeStats()).last_request;

  test('responses.create: the Chat Completions request upstream, one message item back', T, async () => {
    await st.fakeReset();
    const r = await client().responses.create({
      model: 'deepseek-flash', instructions: 'Be brief.', input: 'Hello there', max_output_tokens: 200,
      temperature: 0.3, top_p: 0.8, user: 'u-7', reasoning: { effort: 'high' }, text: { format: { type: 'json_object' } }, store: false,
    });
    const sent = await last();
    assert.deepEqual(sent, {
      model: 'deepseek-flash', max_tokens: 200, temperature: 0.3, top_p: 0.8, user_id: 'u-7', reasoning_effort: 'high',
      response_format: { type: 'json_object' },
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }],
    });
    assert.match(r.id, /^resp_/);
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.equal(r.model, 'deepseek-flash');
    assert.equal(r.output.length, 1);
    assert.equal(r.output[0].type, 'message');
    assert.equal(r.output[0].role, 'assistant');
    assert.deepEqual(r.output[0].content, [{ type: 'output_text', text: TEXT_ANSWER, annotations: [], logprobs: [] }]);
    assert.equal(r.output_text, TEXT_ANSWER);
    const p = fakePrompt(sent.messages);
    assert.deepEqual(r.usage, { input_tokens: p, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: p + 5 });
  });

  test('stream: the typed events in order, numbered from 0, texts that join into the answer', T, async () => {
    const stream = await client().responses.create({ model: 'deepseek-flash', input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }], stream: true });
    const events = [];
    for await (const e of stream) events.push(e);
    const sent = await last();
    assert.deepEqual(sent.stream_options, { include_usage: true });
    assert.deepEqual(events.map((e) => e.type), ['response.created', 'response.in_progress', 'response.output_item.added',
      'response.content_part.added', ...Array(5).fill('response.output_text.delta'), 'response.output_text.done',
      'response.content_part.done', 'response.output_item.done', 'response.completed']);
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
    assert.equal(events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join(''), TEXT_ANSWER);
    assert.equal(events.find((e) => e.type === 'response.output_text.done').text, TEXT_ANSWER);
    const done = events.at(-1).response;
    assert.equal(done.status, 'completed');
    assert.equal(done.usage.output_tokens, 5);
    assert.equal(done.usage.input_tokens, fakePrompt(sent.messages));
    assert.equal(events[0].response.status, 'in_progress');
    const itemId = events[2].item.id;
    assert.ok(events.slice(3, 11).every((e) => e.item_id === itemId && e.output_index === 0));
    assert.equal(events[11].item.id, itemId);
    assert.deepEqual(events[11].item.content, [{ type: 'output_text', text: TEXT_ANSWER, annotations: [], logprobs: [] }]);
  });

  test('responses.stream: finalResponse() is the whole response', T, async () => {
    const s = client().responses.stream({ model: 'deepseek-flash', input: 'Hi' });
    const r = await s.finalResponse();
    assert.equal(r.output_text, TEXT_ANSWER);
    assert.equal(r.status, 'completed');
  });

  test('reasoning: a reasoning item with the reasoning text before the message', T, async () => {
    const req = { model: 'deepseek-v4-pro', instructions: fake({ scenario: 'reasoning' }), input: 'Hi', reasoning: { effort: 'medium' } };
    const r = await client().responses.create(req);
    assert.equal((await last()).reasoning_effort, 'medium');
    assert.deepEqual(r.output.map((o) => o.type), ['reasoning', 'message']);
    assert.deepEqual(r.output[0].content, [{ type: 'reasoning_text', text: TEXT_REASONING }]);
    assert.equal(r.output_text, TEXT_ANSWER);
    assert.equal(r.usage.output_tokens_details.reasoning_tokens, 5);
    const events = [];
    for await (const e of await client().responses.create({ ...req, stream: true })) events.push(e);
    assert.equal(events.filter((e) => e.type === 'response.reasoning_text.delta').map((e) => e.delta).join(''), TEXT_REASONING);
    assert.deepEqual(events.filter((e) => e.type === 'response.output_item.added').map((e) => [e.output_index, e.item.type]), [[0, 'reasoning'], [1, 'message']]);
    await client().responses.create({ ...req, reasoning: { effort: 'none' } });
    assert.deepEqual((await last()).thinking, { type: 'disabled' });
  });

  test('function calling round trip: a function_call item, then its output as a tool message', T, async () => {
    const tools = [{ type: 'function', name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: false }];
    const r = await client().responses.create({ model: 'deepseek-flash', instructions: fake({ scenario: 'tool_call' }), input: 'Weather in Hangzhou?', tools, tool_choice: 'required' });
    const sent = await last();
    assert.deepEqual(sent.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: tools[0].parameters, strict: false } }]);
    assert.equal(sent.tool_choice, 'required');
    assert.equal(r.output.length, 1);
    const call = r.output[0];
    assert.equal(call.type, 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.equal(call.arguments, TEXT_TOOL_ARGS);
    assert.match(call.call_id, /^call_00_/);
    assert.equal(call.status, 'completed');

    const r2 = await client().responses.create({
      model: 'deepseek-flash', tools, tool_choice: { type: 'function', name: 'get_weather' },
      input: [{ role: 'user', content: 'Weather in Hangzhou?' }, call, { type: 'function_call_output', call_id: call.call_id, output: 'Sunny' }],
    });
    assert.equal(r2.output_text, TEXT_ANSWER);
    const s2 = await last();
    assert.deepEqual(s2.tool_choice, { type: 'function', function: { name: 'get_weather' } });
    assert.deepEqual(s2.messages, [
      { role: 'user', content: 'Weather in Hangzhou?' },
      { role: 'assistant', content: null, tool_calls: [{ id: call.call_id, type: 'function', function: { name: 'get_weather', arguments: TEXT_TOOL_ARGS } }] },
      { role: 'tool', tool_call_id: call.call_id, content: 'Sunny' },
    ]);

    // streamed: argument deltas that join into the arguments, and the done event with all of them
    const events = [];
    for await (const e of await client().responses.create({ model: 'deepseek-flash', instructions: fake({ scenario: 'tool_call' }), input: 'Weather?', tools, stream: true })) events.push(e);
    assert.equal(events.filter((e) => e.type === 'response.function_call_arguments.delta').map((e) => e.delta).join(''), TEXT_TOOL_ARGS);
    assert.equal(events.find((e) => e.type === 'response.function_call_arguments.done').arguments, TEXT_TOOL_ARGS);
    assert.equal(events.at(-1).response.output[0].arguments, TEXT_TOOL_ARGS);
  });

  test('reasoning items given back become the next assistant message\'s reasoning_content', T, async () => {
    await client().responses.create({
      model: 'deepseek-flash',
      input: [
        { role: 'developer', content: 'Rules.' },
        { role: 'user', content: 'go' },
        { type: 'reasoning', id: 'rs_1', summary: [], content: [{ type: 'reasoning_text', text: 'Think.' }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_text', text: 'ok' }] },
        { role: 'assistant', content: [{ type: 'output_text', text: 'Done.' }] },
        { role: 'user', content: [{ type: 'input_text', text: 'look' }, { type: 'input_image', image_url: 'https://example.invalid/a.png' }] },
      ],
    });
    assert.deepEqual((await last()).messages, [
      { role: 'system', content: 'Rules.' },
      { role: 'user', content: 'go' },
      { role: 'assistant', content: null, reasoning_content: 'Think.', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'ok' },
      { role: 'assistant', content: 'Done.' },
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'https://example.invalid/a.png' } }] },
    ]);
  });

  test('max_output_tokens reached: status incomplete, reason max_output_tokens', T, async () => {
    const r = await client().responses.create({ model: 'deepseek-flash', input: 'Hi', max_output_tokens: 2 });
    assert.equal(r.status, 'incomplete');
    assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(r.output_text, 'Hello! How c');
  });

  test('stored state is refused with a clear error, and malformed requests get OpenAI\'s envelope', T, async () => {
    await st.fakeReset();
    const cases = [
      [{ model: 'deepseek-flash', input: 'x', store: true }, 'store'],
      [{ model: 'deepseek-flash', input: 'x', previous_response_id: 'resp_1' }, 'previous_response_id'],
      [{ model: 'deepseek-flash', input: 'x', text: { format: { type: 'json_schema', name: 'x', schema: {} } } }, 'text.format'],
      [{ model: 'deepseek-flash', input: 'x', tools: [{ type: 'web_search' }] }, null],
      [{ model: 'deepseek-flash' }, 'input'],
    ];
    for (const [body, param] of cases) {
      await assert.rejects(client().responses.create(body), (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError, String(e));
        assert.equal(e.status, 400);
        assert.equal(e.type, 'invalid_request_error');
        assert.equal(e.param, param);
        return true;
      });
    }
    const r = await st.fetch('/v1/responses', { json: { model: 'deepseek-flash', input: 'x', store: true } });
    assert.deepEqual(await r.json(), { error: { message: 'store: true is not supported: this server keeps no responses (send store: false, and the whole conversation as input)', type: 'invalid_request_error', param: 'store', code: 'invalid_request_error' } });
    assert.equal((await st.fakeStats()).requests, 0);
  });

  test('an upstream failure mid-stream is a response.failed event', T, async () => {
    const res = await st.fetch('/responses', { json: { model: 'deepseek-flash', input: 'Hi', stream: true, instructions: fake({ fault: 'cut', after: 3 }) } });
    const body = await readAll(res);
    const last = body.trim().split('\n\n').at(-1).split('\n');
    assert.equal(last[0], 'event: response.failed');
    const ev = JSON.parse(last[1].slice(6));
    assert.equal(ev.response.status, 'failed');
    assert.equal(typeof ev.response.error.message, 'string');
    assert.equal(ev.response.error.code, 'server_error');
  });
});
