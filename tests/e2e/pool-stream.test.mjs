// pool-stream.test.mjs - an upstream that fails after the answer started, over a pool of server
// keys: stall (idle timeout), cut, malformed chunk, missing [DONE]; a client that leaves mid-stream
// or before the first byte (the upstream transfer is cancelled at once); an HTML error page;
// and a request queued while every key is busy getting ": keep-alive" comments.
//
// Timing: seekd, the fake and node share two cores, under ASan in one run, so a cancel is not
// timed against a tight cross-process bound. Every upstream answer a client abandons here would
// go on for at least 5 s (or forever); a cancel within CANCEL_MS of the client leaving can only
// have been caused by it, and CANCEL_MS leaves a loaded host plenty of slack.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, userMsg, parseSSE, readAll, aggregate, collect, waitFor, healthKey, TEXT_ANSWER } from './harness.mjs';

const T = { timeout: 15000 };
const CANCEL_MS = 2000;
const K = ['sk-str-one-aaaa1111', 'sk-str-two-bbbb2222', 'sk-str-three-cccc3333'];

function poolConfig(keys, extra = '') {
  return (url) => `${extra}\n[upstream a]\nurl = ${url}\napi_key = ${keys.join(', ')}\n`;
}

function streamBody(fake, extra = {}) {
  return { model: 'deepseek-chat', messages: userMsg('hi'), stream: true, fake, ...extra };
}

/** The client's view of a stream that failed after it started: the chunks sent so far, then one
 * `data: {"error":...}` event, and never a [DONE]. */
function assertErrorEnd(events, what) {
  assert.ok(!events.includes('[DONE]'), `${what}: no [DONE] after an upstream failure`);
  const last = events.at(-1);
  assert.equal(typeof last?.error, 'object', `${what}: the last event is an error: ${JSON.stringify(last)}`);
  assert.equal(typeof last.error.message, 'string');
  assert.ok(last.error.message.length > 0);
  for (const e of events.slice(0, -1)) {
    assert.ok(!e.raw, `${what}: only valid JSON events before the error`);
    assert.ok(!e.error, `${what}: a single error event`);
  }
  const a = aggregate(events.slice(0, -1));
  assert.ok(a.content.length > 0, `${what}: the chunks before the failure reached the client`);
  assert.ok(TEXT_ANSWER.startsWith(a.content), `${what}: they are the answer's beginning: ${JSON.stringify(a.content)}`);
  assert.equal(a.finish, null, `${what}: no finish_reason (the answer is not complete)`);
  return { a, error: last.error };
}

/** Counts failures on the whole pool (/health), to see which key served a request. */
async function poolFailures(st) {
  const h = await st.health();
  return K.map((k) => healthKey(h, 'a', k).key);
}

describe('mid-stream failures', () => {
  let st;
  before(async () => {
    st = await startStack({
      config: poolConfig(K, 'idle_timeout_ms = 300\nerror_threshold = 100'),
      fakeArgs: ['--quiet'],
    });
  });
  after(async () => { await st?.stop(); });

  async function rawStream(fake) {
    const t0 = Date.now();
    const res = await st.fetch('/chat/completions', { json: streamBody(fake) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /text\/event-stream/);
    const text = await readAll(res, 8000);
    return { text, ms: Date.now() - t0, ...parseSSE(text) };
  }

  test('stall mid-stream -> the chunks so far, then an error event after idle_timeout_ms, no [DONE]', T, async () => {
    await st.fakeReset();
    const { events, ms } = await rawStream({ fault: 'stall', after: 3, chunks: 8 });
    const { error } = assertErrorEnd(events, 'stall');
    assert.match(error.message, /idle|stall|timeout/i, error.message);
    assert.ok(ms >= 250 && ms < 3000, `ended after ${ms} ms (idle_timeout_ms = 300)`);
    assert.ok(await st.waitLog(/idle timeout/), `log:\n${st.logs()}`);
    // No failover once the answer has started: one upstream request only, and it was closed.
    const s = await waitFor(async () => { const x = await st.fakeStats(); return x.cancelled >= 1 ? x : null; }, 2000);
    assert.ok(s, 'the stalled transfer was closed');
    assert.equal(s.requests, 1, 'no second attempt after the first byte');
  });

  test('stall -> the SDK iterator throws, never ends cleanly', T, async () => {
    const s = await st.client().chat.completions.create(streamBody({ fault: 'stall', after: 3, chunks: 8 }));
    const chunks = [];
    const e = await (async () => { for await (const c of s) chunks.push(c); })().then(() => null, (x) => x);
    assert.ok(e instanceof OpenAI.APIError, `got ${e?.constructor?.name}: ${e}`);
    assert.ok(chunks.length >= 1, 'chunks before the error');
  });

  test('cut mid-stream -> error event, no [DONE]', T, async () => {
    await st.fakeReset();
    const { events } = await rawStream({ fault: 'cut', after: 3, chunks: 8 });
    assertErrorEnd(events, 'cut');
    assert.equal((await st.fakeStats()).requests, 1, 'no retry after the first byte');
    assert.ok(await st.waitLog(/status=200 .*error after stream start/), `the request line says it ended in error:\n${st.logs()}`);
  });

  test('malformed chunk -> error event, no [DONE]; the bad chunk is not relayed; warning logged', T, async () => {
    const { events } = await rawStream({ fault: 'malformed', after: 2, chunks: 6 });
    const { error } = assertErrorEnd(events, 'malformed');
    assert.match(error.message, /malformed/i);
    assert.ok(!events.some((e) => e?.choices?.[0]?.delta?.content === 'oops'), 'the malformed chunk is not relayed');
    assert.ok(await st.waitLog(/sent a malformed chunk/), `log:\n${st.logs()}`);
  });

  test('missing [DONE] with a complete answer -> the whole answer and a [DONE] from seekd; a warning', T, async () => {
    const { events } = await rawStream({ fault: 'no_done', chunks: 5 });
    assert.equal(events.at(-1), '[DONE]', 'seekd ends the stream properly');
    assert.equal(events.filter((e) => e === '[DONE]').length, 1);
    assert.ok(!events.some((e) => e?.error), 'no error event');
    const a = aggregate(events.slice(0, -1));
    assert.equal(a.content, TEXT_ANSWER);
    assert.equal(a.finish, 'stop');
    assert.ok(await st.waitLog(/ended a stream without \[DONE\]/), `log:\n${st.logs()}`);
    const s = await st.client().chat.completions.create(streamBody({ fault: 'no_done' }));
    assert.equal(aggregate(await collect(s)).content, TEXT_ANSWER, 'the SDK gets it all too');
  });

  test('mid-stream failures do not take a key out of the pool by themselves', T, async () => {
    for (const k of await poolFailures(st)) assert.equal(k.state, 'ok', JSON.stringify(k));
  });
});

/** Starts a raw streaming request (node http, so closing the socket is immediate) and resolves
 * once `events` data events arrived (0: once the response is in flight), with a close(). */
function openStream(st, body, events) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(st.baseURL + '/chat/completions', {
      method: 'POST',
      agent: false,
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer sk-test-0123456789abcdef', 'Content-Length': Buffer.byteLength(data) },
    });
    const close = () => { const t = Date.now(); req.destroy(); return t; };
    req.on('error', () => { /* destroyed on purpose */ });
    req.setTimeout(10000, () => reject(new Error('no answer in 10 s')));
    if (events === 0) {
      req.on('finish', () => resolve({ close, text: () => '' }));
    }
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('error', () => {});
      res.on('data', (d) => {
        text += d;
        if (events > 0 && parseSSE(text).events.length >= events) resolve({ close, text: () => text });
      });
    });
    req.end(data);
  });
}

describe('client disconnects', () => {
  let st;
  before(async () => {
    st = await startStack({ config: poolConfig(K, 'keepalive_ms = 100'), fakeArgs: ['--quiet'] });
  });
  after(async () => { await st?.stop(); });

  test('mid-stream: the upstream transfer is cancelled at once', T, async () => {
    await st.fakeReset();
    const s = await openStream(st, streamBody({ chunks: 40, delay_ms: 200 }), 3); // 8 s of answer
    const tAbort = s.close();
    const ev = await waitFor(async () => (await st.fakeStats()).cancel_events[0], 3000);
    assert.ok(ev, 'the fake saw the upstream request cancelled');
    assert.ok(K.includes(ev.key), `a pool key: ${ev.key}`);
    const lag = ev.cancel_at_ms - tAbort;
    assert.ok(lag < CANCEL_MS, `upstream cancelled ${lag} ms after the client left`);
    assert.ok(ev.ms_after_last_byte >= 0, 'it had started answering');
    assert.equal((await st.fakeStats()).completed, 0, 'the upstream answer never completed');
    assert.ok(await st.waitLog(/client disconnected; upstream cancelled/), `log:\n${st.logs()}`);
    const h = await waitFor(async () => { const x = await st.health(); return x.active === 0 ? x : null; }, 2000);
    assert.ok(h, 'no request left active');
    for (const k of K) assert.equal(healthKey(h, 'a', k).key.active, 0, 'key slots released');
    assert.equal((await st.fakeStats()).requests, 1, 'no retry for a client that left');
  });

  test('before the first byte (upstream silent for 5 s): cancelled at once too', T, async () => {
    await st.fakeReset();
    const s = await openStream(st, streamBody({ fault: 'slow_first_byte', delay_ms: 5000 }), 0);
    await sleep(300); // seekd is waiting for the upstream's first byte (sending keep-alives)
    assert.equal((await st.fakeStats()).active, 1, 'the upstream request is in flight');
    const tAbort = s.close();
    const ev = await waitFor(async () => (await st.fakeStats()).cancel_events[0], 3000);
    assert.ok(ev, 'the fake saw the upstream request cancelled');
    assert.equal(ev.ms_after_last_byte, -1, 'it had sent nothing yet');
    const lag = ev.cancel_at_ms - tAbort;
    assert.ok(lag < CANCEL_MS, `upstream cancelled ${lag} ms after the client left`);
  });

  test('non-stream, before the first byte (upstream silent forever): cancelled at once', T, async () => {
    await st.fakeReset();
    const s = await openStream(st, { model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'stall' } }, 0);
    await sleep(200);
    assert.equal((await st.fakeStats()).active, 1);
    const tAbort = s.close();
    const ev = await waitFor(async () => (await st.fakeStats()).cancel_events[0], 3000);
    assert.ok(ev, 'the fake saw the upstream request cancelled');
    assert.ok(ev.cancel_at_ms - tAbort < CANCEL_MS, `upstream cancelled ${ev.cancel_at_ms - tAbort} ms after the client left`);
  });
});

describe('HTML error page from the upstream', () => {
  let st;
  before(async () => {
    st = await startStack({ config: poolConfig(K, 'error_threshold = 100'), fakeArgs: ['--quiet'] });
  });
  after(async () => { await st?.stop(); });

  test('non-stream -> 502 DeepSeek envelope with a clear message, seekd keeps serving', T, async () => {
    await st.fakeReset();
    const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'html502' } } });
    assert.equal(res.status, 502);
    assert.match(res.headers.get('content-type'), /application\/json/);
    const b = await res.json();
    assert.equal(typeof b.error?.message, 'string', JSON.stringify(b));
    assert.match(b.error.message, /HTML/);
    assert.ok(!b.error.message.includes('<html>'), 'the page itself is not pasted into the message');
    assert.ok((await st.fakeStats()).requests >= 2, 'other keys were tried (an HTML page is a server-side failure)');
    const ok = await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
    assert.equal(ok.choices[0].message.content, TEXT_ANSWER, 'seekd still serves');
  });

  test('stream -> 502 envelope before any byte; the SDK gets an APIError 502', T, async () => {
    const res = await st.fetch('/chat/completions', { json: streamBody({ fault: 'html502' }) });
    assert.equal(res.status, 502);
    const b = await res.json();
    assert.match(b.error.message, /HTML/);
    const e = await st.client().chat.completions.create(streamBody({ fault: 'html502' })).catch((x) => x);
    assert.ok(e instanceof OpenAI.APIError, String(e));
    assert.equal(e.status, 502);
    assert.ok(st.seekd.exitCode === null && st.seekd.signalCode === null, 'seekd is alive');
  });
});

describe('queued while every key is busy', () => {
  const ONE = 'sk-busy-only-dddd4444';
  let st;
  before(async () => {
    st = await startStack({
      config: poolConfig([ONE], 'keepalive_ms = 100\nmax_concurrent_per_key = 1'),
      fakeArgs: ['--quiet'],
    });
  });
  after(async () => { await st?.stop(); });

  test('a streaming request waiting for a key gets ": keep-alive" comments, then its whole answer', T, async () => {
    await st.fakeReset();
    const first = st.fetch('/chat/completions', { json: streamBody({ chunks: 5, delay_ms: 150 }) }); // holds the key ~1 s
    await waitFor(async () => (await st.fakeStats()).active === 1, 2000);
    const t0 = Date.now();
    const second = st.fetch('/chat/completions', { json: streamBody({ chunks: 3 }) });
    const queued = await waitFor(async () => (await st.health()).queued === 1, 1000);
    assert.ok(queued, '/health shows the request queued');
    const res = await second;
    assert.equal(res.status, 200);
    const text = await readAll(res, 8000);
    const waited = Date.now() - t0;
    const firstData = text.indexOf('data: ');
    const kas = text.slice(0, firstData).match(/^: keep-alive$/gm) || [];
    assert.ok(kas.length >= 3, `${kas.length} keep-alive comments during a ${waited} ms wait (keepalive_ms = 100):\n${text.slice(0, 300)}`);
    const { events } = parseSSE(text);
    assert.equal(events.at(-1), '[DONE]');
    assert.equal(aggregate(events.slice(0, -1)).content, TEXT_ANSWER);
    const r1 = await first;
    assert.equal(parseSSE(await readAll(r1)).events.at(-1), '[DONE]');
    const s = await st.fakeStats();
    assert.equal(s.max_active_by_key[ONE], 1, 'never two at once on the key');
  });
});
