// faults.test.mjs - upstream misbehaviour and client disconnects, seen on the raw wire where the
// SDK would hide details: cut, malformed, stall (idle timeout), slow first byte / keep-alive,
// missing [DONE], blank lines, and a client abort cancelling the upstream at once.
//
// Timing: seekd, the fake and node share two cores, under ASan in one run, so a cancel is not
// timed against a tight cross-process bound. Each upstream answer a client abandons would go on
// for 10 s; a cancel seen within CANCEL_MS of the abort (and the answer never completing) can
// only have been caused by the abort, and CANCEL_MS leaves a loaded host plenty of slack.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, userMsg, parseSSE, readAll, aggregate, collect, TEXT_ANSWER } from './harness.mjs';

let st;
before(async () => {
  st = await startStack({
    config: 'idle_timeout_ms = 500\nfirst_token_timeout_ms = 1500\nkeepalive_ms = 200\n',
  });
});
after(async () => { await st?.stop(); });

const T = { timeout: 10000 };
const CANCEL_MS = 2000;

function streamBody(fake, extra = {}) {
  return { model: 'deepseek-chat', messages: userMsg('hi'), stream: true, fake, ...extra };
}

async function rawStream(fake, extra) {
  const t0 = Date.now();
  const res = await st.fetch('/chat/completions', { json: streamBody(fake, extra) });
  assert.equal(res.status, 200);
  const text = await readAll(res, 8000);
  return { res, text, ms: Date.now() - t0, ...parseSSE(text) };
}

/** DeepSeek's error shape, exactly these four fields. */
function assertEnvelope(b, type) {
  assert.deepEqual(Object.keys(b), ['error']);
  assert.deepEqual(Object.keys(b.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(b.error.type, type, JSON.stringify(b));
  assert.equal(typeof b.error.message, 'string');
  assert.ok(b.error.message.length > 0);
}

function assertErrorEnd(events, what) {
  assert.ok(events.length >= 1, `${what}: some events`);
  assert.ok(!events.includes('[DONE]'), `${what}: no [DONE] after an upstream failure`);
  const last = events.at(-1);
  assert.equal(typeof last, 'object');
  assert.equal(typeof last.error, 'object', `${what}: last event is an error: ${JSON.stringify(last)}`);
  assert.equal(typeof last.error.message, 'string');
  assert.ok(last.error.message.length > 0);
  for (const e of events.slice(0, -1)) assert.ok(!e.raw, `${what}: only valid JSON events`);
}

test('upstream cut mid-stream -> error event, no [DONE]', T, async () => {
  const { events } = await rawStream({ fault: 'cut', after: 3, chunks: 8 });
  assertErrorEnd(events, 'cut');
  assert.ok(events.length >= 2, 'the chunks before the cut were relayed');
});

test('upstream cut mid-stream -> the SDK iterator throws', T, async () => {
  const s = await st.client().chat.completions.create(streamBody({ fault: 'cut', after: 3, chunks: 8 }));
  const e = await collect(s).catch((x) => x);
  assert.ok(e instanceof OpenAI.APIError, `got ${e?.constructor?.name}: ${e}`);
});

test('upstream cut of a non-stream body -> 502 envelope', T, async () => {
  const res = await st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'cut' } },
  });
  assert.equal(res.status, 502);
  assertEnvelope(await res.json(), 'api_error');
});

test('upstream malformed chunk -> error event, no [DONE]', T, async () => {
  const { events } = await rawStream({ fault: 'malformed', after: 2, chunks: 6 });
  assertErrorEnd(events, 'malformed');
  assert.ok(!events.some((e) => e?.choices?.[0]?.delta?.content === 'oops'), 'the malformed chunk is not relayed');
});

test('upstream malformed non-stream body -> 502 envelope', T, async () => {
  const res = await st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'malformed' } },
  });
  assert.equal(res.status, 502);
  assertEnvelope(await res.json(), 'api_error');
});

test('upstream stall mid-stream -> idle timeout error event (idle_timeout_ms = 500)', T, async () => {
  const { events, ms } = await rawStream({ fault: 'stall', after: 3, chunks: 8 });
  assertErrorEnd(events, 'stall');
  assert.ok(ms >= 400 && ms < 3000, `ended after ${ms} ms`);
  const m = await st.waitLog(/idle timeout/);
  assert.ok(m, 'seekd logs the idle timeout');
});

test('upstream stall before any byte (non-stream) -> 504 after first_token_timeout_ms', T, async () => {
  const t0 = Date.now();
  const res = await st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'stall' } },
  });
  const ms = Date.now() - t0;
  assert.equal(res.status, 504);
  assert.equal(typeof (await res.json()).error.message, 'string');
  assert.ok(ms >= 1000 && ms < 4000, `answered after ${ms} ms`);
});

test('slow first byte -> seekd sends ": keep-alive" before the first data; SDK gets all', T, async () => {
  const { text, events } = await rawStream({ fault: 'slow_first_byte', delay_ms: 900 });
  const firstData = text.indexOf('data: ');
  const ka = text.indexOf(': keep-alive');
  assert.ok(ka >= 0 && ka < firstData, `keep-alive comment before the first data:\n${text.slice(0, 300)}`);
  assert.equal(events.at(-1), '[DONE]');
  assert.equal(aggregate(events.slice(0, -1)).content, TEXT_ANSWER);

  const s = await st.client().chat.completions.create(streamBody({ fault: 'slow_first_byte', delay_ms: 700 }));
  const a = aggregate(await collect(s));
  assert.equal(a.content, TEXT_ANSWER);
  assert.equal(a.finish, 'stop');
});

test('upstream keep-alive comments while queued -> client sees keep-alives, then the answer', T, async () => {
  const { text, events } = await rawStream({ fault: 'keepalive', delay_ms: 900 });
  const firstData = text.indexOf('data: ');
  const ka = text.indexOf(': keep-alive');
  assert.ok(ka >= 0 && ka < firstData, `keep-alive comment before the first data:\n${text.slice(0, 300)}`);
  assert.equal(events.at(-1), '[DONE]');
  assert.equal(aggregate(events.slice(0, -1)).content, TEXT_ANSWER);

  const s = await st.client().chat.completions.create(streamBody({ fault: 'keepalive', delay_ms: 700 }));
  const a = aggregate(await collect(s));
  assert.equal(a.content, TEXT_ANSWER);
  assert.equal(a.finish, 'stop');
});

test('non-stream with upstream keep-alive newlines -> normal answer', T, async () => {
  const r = await st.client().chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'keepalive', delay_ms: 700 },
  });
  assert.equal(r.choices[0].message.content, TEXT_ANSWER);
});

test('upstream without [DONE] (answer complete) -> seekd still ends with [DONE]', T, async () => {
  const { events } = await rawStream({ fault: 'no_done' });
  assert.equal(events.at(-1), '[DONE]');
  const a = aggregate(events.slice(0, -1));
  assert.equal(a.content, TEXT_ANSWER);
  assert.equal(a.finish, 'stop');
  assert.ok(!events.some((e) => e.error), 'no error event');
});

test('blank lines between upstream events -> normal answers (stream and not)', T, async () => {
  const { events } = await rawStream({ fault: 'blank_lines' });
  assert.equal(events.at(-1), '[DONE]');
  assert.equal(aggregate(events.slice(0, -1)).content, TEXT_ANSWER);
  const r = await st.client().chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'blank_lines' },
  });
  assert.equal(r.choices[0].message.content, TEXT_ANSWER);
  assert.equal(r.usage.completion_tokens, 5);
});

test('client disconnect mid-stream cancels the upstream at once', T, async () => {
  await st.fakeReset();
  const ac = new AbortController();
  const res = await st.fetch('/chat/completions', {
    json: streamBody({ chunks: 200, delay_ms: 50 }), signal: ac.signal, // 10 s of answer
  });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  let got = '';
  while (!got.includes('"content":"') || (got.match(/data: /g) || []).length < 3) {
    const { value, done } = await reader.read();
    assert.ok(!done, 'stream ended early');
    got += Buffer.from(value).toString('utf8');
  }
  const tAbort = Date.now();
  ac.abort();
  let s;
  for (let i = 0; i < 100; i++) {
    s = await st.fakeStats();
    if (s.cancelled >= 1) break;
    await sleep(20);
  }
  assert.equal(s.cancelled, 1, 'the upstream stream was cancelled');
  assert.equal(s.completed, 0, 'the upstream stream did not complete');
  const ev = s.cancel_events.at(-1);
  const lag = ev.cancel_at_ms - tAbort;
  assert.ok(lag < CANCEL_MS, `upstream cancelled ${lag} ms after the client abort`);
  const m = await st.waitLog(/client disconnected/);
  assert.ok(m, 'seekd logs "client disconnected"');
});

test('client disconnect during a non-stream request cancels the upstream', T, async () => {
  await st.fakeReset();
  const ac = new AbortController();
  // fault keepalive: the fake starts its (non-stream) reply at once and trickles newlines, so it
  // can see its client leave (before a first byte it cannot: evhttp does not read then).
  const p = st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'keepalive', delay_ms: 10000 } },
    signal: ac.signal,
  }).catch((e) => e);
  // Wait until the upstream has the request, then leave.
  for (let i = 0; i < 50 && (await st.fakeStats()).active < 1; i++) await sleep(10);
  await sleep(50);
  const tAbort = Date.now();
  ac.abort();
  await p;
  let s;
  for (let i = 0; i < 100; i++) {
    s = await st.fakeStats();
    if (s.cancelled >= 1) break;
    await sleep(20);
  }
  assert.equal(s.cancelled, 1, 'the upstream request was cancelled');
  assert.equal(s.completed, 0, 'the upstream request did not complete');
  assert.ok(s.cancel_events.at(-1).cancel_at_ms - tAbort < CANCEL_MS,
    `cancel lag ${s.cancel_events.at(-1).cancel_at_ms - tAbort} ms`);
  assert.ok(await st.waitLog(/client disconnected/), 'seekd logs "client disconnected"');
});

test('seekd keeps serving after all of the above', T, async () => {
  const r = await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
  assert.equal(r.choices[0].message.content, TEXT_ANSWER);
});
