// clients-langchain.test.mjs - LangChain's ChatDeepSeek (@langchain/deepseek on @langchain/core)
// against the running seekd relaying to the fake upstream: invoke and stream; withStructuredOutput
// with a zod schema, by function calling (ChatDeepSeek's default: a forced tool call) and by JSON
// mode (response_format json_object), each returning the exact parsed object; bound tools; and
// reasoning_content from recorded DeepSeek answers as LangChain's reasoning_content, exactly.
//
// The fake picks its answer from the body's `fake` field, sent through ChatDeepSeek's own
// `modelKwargs` (extra body fields).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ChatDeepSeek } from '@langchain/deepseek';
import { z } from 'zod';
import { startStack, TEXT_ANSWER, TEXT_JSON, TEXT_TOOL_ARGS } from './harness.mjs';
import { SKIP_NO_FIXTURES, recordedStream, recordedWhole } from './recorded.mjs';

let st;
before(async () => { st = await startStack(); });
after(async () => { await st?.stop(); });

const T = { timeout: 15000 };
const TF = { ...T, skip: SKIP_NO_FIXTURES };

function chat(fake = {}, model = 'deepseek-chat') {
  return new ChatDeepSeek({
    model,
    apiKey: 'sk-test-0123456789abcdef',
    configuration: { baseURL: st.baseURL },
    maxRetries: 0,
    timeout: 10000,
    modelKwargs: { fake },
  });
}

test('invoke: the answer and its usage', T, async () => {
  await st.fakeReset();
  const m = await chat().invoke('hi');
  assert.equal(m.content, TEXT_ANSWER);
  assert.equal(m.response_metadata.finish_reason, 'stop');
  assert.deepEqual(m.tool_calls, []);
  // "hi": 2 bytes -> 2/4+5 = 5 prompt tokens; 5 content pieces.
  assert.equal(m.usage_metadata.input_tokens, 5);
  assert.equal(m.usage_metadata.output_tokens, 5);
  assert.equal(m.usage_metadata.total_tokens, 10);
  const s = await st.fakeStats();
  assert.equal(s.requests, 1);
  assert.deepEqual(s.last_request.messages, [{ role: 'user', content: 'hi' }]);
  assert.equal(s.last_request.model, 'deepseek-chat');
});

test('stream: the pieces concatenate to the answer', T, async () => {
  await st.fakeReset();
  const pieces = [];
  let usage = null;
  for await (const c of await chat({ chunks: 5 }).stream('hi')) {
    if (c.content) pieces.push(c.content);
    if (c.usage_metadata) usage = c.usage_metadata;
  }
  assert.ok(pieces.length > 1, `streamed in pieces: ${JSON.stringify(pieces)}`);
  assert.equal(pieces.join(''), TEXT_ANSWER);
  assert.equal(usage?.output_tokens, 5, JSON.stringify(usage));
  assert.equal((await st.fakeStats()).last_request.stream, true);
});

test('withStructuredOutput(zod), default method: a forced tool call, parsed to the exact object', T, async () => {
  await st.fakeReset();
  const Place = z.object({ location: z.string().describe('the city') }).describe('A place');
  const out = await chat({ scenario: 'tool_call', chunks: 3 }).withStructuredOutput(Place, { name: 'place' }).invoke('Where?');
  assert.deepEqual(out, JSON.parse(TEXT_TOOL_ARGS));
  // What ChatDeepSeek asked for: the schema as the one tool, and that tool forced.
  const r = (await st.fakeStats()).last_request;
  assert.equal(r.response_format, undefined);
  assert.deepEqual(r.tool_choice, { type: 'function', function: { name: 'place' } });
  assert.equal(r.tools.length, 1);
  assert.equal(r.tools[0].function.name, 'place');
  assert.deepEqual(r.tools[0].function.parameters.properties, { location: { type: 'string', description: 'the city' } });
  assert.deepEqual(r.tools[0].function.parameters.required, ['location']);
});

test('withStructuredOutput(zod), includeRaw: the raw message carries the tool call as sent', T, async () => {
  await st.fakeReset();
  const Place = z.object({ location: z.string() });
  const out = await chat({ scenario: 'tool_call' }).withStructuredOutput(Place, { name: 'place', includeRaw: true }).invoke('Where?');
  assert.deepEqual(out.parsed, { location: 'Hangzhou' });
  assert.equal(out.raw.tool_calls.length, 1);
  assert.equal(out.raw.tool_calls[0].name, 'place');
  assert.deepEqual(out.raw.tool_calls[0].args, { location: 'Hangzhou' });
  assert.match(out.raw.tool_calls[0].id, /^call_00_[A-Za-z0-9]{24}$/);
});

test('withStructuredOutput(zod), jsonMode: response_format json_object, parsed to the exact object', T, async () => {
  await st.fakeReset();
  const Answer = z.object({ answer: z.number(), ok: z.boolean() });
  const out = await chat({ scenario: 'json', chunks: 4 }).withStructuredOutput(Answer, { method: 'jsonMode' }).invoke('Answer in JSON.');
  assert.deepEqual(out, JSON.parse(TEXT_JSON));
  assert.deepEqual(out, { answer: 42, ok: true });
  const r = (await st.fakeStats()).last_request;
  assert.deepEqual(r.response_format, { type: 'json_object' });
  assert.equal(r.tools, undefined);
});

test('withStructuredOutput: an answer that does not fit the schema is an error, not an object', T, async () => {
  await st.fakeReset();
  const Wrong = z.object({ answer: z.string() });
  await assert.rejects(chat({ scenario: 'json' }).withStructuredOutput(Wrong, { method: 'jsonMode' }).invoke('Answer in JSON.'), (e) => {
    assert.equal(e.constructor.name, 'OutputParserException');
    assert.equal(e.llmOutput, TEXT_JSON, 'the text it could not fit is the upstream\'s answer');
    return true;
  });
});

test('recorded tool call (deepseek-tool-call) through bindTools, whole and streamed', TF, async () => {
  const wantS = recordedStream('deepseek-tool-call');
  const wantW = recordedWhole('deepseek-tool-call').choices[0].message;
  const weather = { type: 'function', function: { name: 'weather', description: 'The weather', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } } };
  const m = chat({ scenario: 'replay:deepseek-tool-call' }, 'deepseek-reasoner').bindTools([weather]);
  const w = await m.invoke('Weather in San Francisco?');
  assert.deepEqual(w.tool_calls.map(({ id, name, args }) => ({ id, name, args })), [
    { id: wantW.tool_calls[0].id, name: wantW.tool_calls[0].function.name, args: JSON.parse(wantW.tool_calls[0].function.arguments) },
  ]);
  assert.equal(w.additional_kwargs.reasoning_content, wantW.reasoning_content);
  let acc = null;
  for await (const c of await m.stream('Weather in San Francisco?')) acc = acc ? acc.concat(c) : c;
  assert.deepEqual(acc.tool_calls.map(({ id, name, args }) => ({ id, name, args })), [
    { id: wantS.toolCalls[0].id, name: wantS.toolCalls[0].name, args: JSON.parse(wantS.toolCalls[0].arguments) },
  ]);
  assert.equal(acc.additional_kwargs.reasoning_content, wantS.reasoning);
});

test('recorded reasoning (deepseek-reasoning): reasoning_content exactly, streamed and whole', TF, async () => {
  await st.fakeReset();
  const wantS = recordedStream('deepseek-reasoning');
  const wantW = recordedWhole('deepseek-reasoning').choices[0].message;
  const m = chat({ scenario: 'replay:deepseek-reasoning' }, 'deepseek-reasoner');
  let reasoning = '';
  let content = '';
  let usage = null;
  for await (const c of await m.stream('How many r in strawberry?')) {
    reasoning += c.additional_kwargs?.reasoning_content ?? '';
    content += c.content;
    if (c.usage_metadata) usage = c.usage_metadata;
  }
  assert.equal(reasoning, wantS.reasoning);
  assert.equal(content, wantS.content);
  assert.equal(usage.input_tokens, wantS.usage.prompt_tokens);
  assert.equal(usage.output_tokens, wantS.usage.completion_tokens);
  assert.equal(usage.output_token_details.reasoning, wantS.usage.completion_tokens_details.reasoning_tokens);
  const w = await m.invoke('How many r in strawberry?');
  assert.equal(w.additional_kwargs.reasoning_content, wantW.reasoning_content);
  assert.equal(w.content, wantW.content);
});
