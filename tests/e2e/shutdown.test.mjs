// shutdown.test.mjs - stopping seekd like a service: the first SIGTERM stops accepting and lets
// answers in flight finish for shutdown_grace_ms, then ends the rest (a 503, or an error event
// in a stream, never a cut body); a second signal exits at once. seekd exits 0 (under ASan:
// nothing leaked) in each case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, userMsg, parseSSE, withDeadline, TEXT_ANSWER } from './harness.mjs';

const T = { timeout: 30000 };

function stream(st, fake) {
  return st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('hi'), stream: true, fake }, timeoutMs: 25000,
  });
}

/** Reads a streamed response; resolves first (after the first data event) and then all. */
function readStream(res) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let text = '';
  let firstResolve;
  const first = new Promise((r) => { firstResolve = r; });
  const all = (async () => {
    for (;;) {
      let r;
      try { r = await reader.read(); } catch (e) { return { text, error: e }; }
      if (r.done) return { text };
      text += dec.decode(r.value, { stream: true });
      if (text.includes('data: ')) firstResolve();
    }
  })();
  all.then(() => firstResolve());
  return { first, all };
}

const refused = (port) => new Promise((resolve) => {
  const s = net.connect(port, '127.0.0.1');
  s.on('connect', () => { s.destroy(); resolve(false); });
  s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
});

test('SIGTERM: a stream in flight finishes whole, new clients are refused, exit 0', T, async () => {
  const st = await startStack({ config: 'shutdown_grace_ms = 10000\n' });
  try {
    const res = await stream(st, { chunks: 8, delay_ms: 150 });
    assert.equal(res.status, 200);
    const rd = readStream(res);
    await rd.first;
    st.seekd.kill('SIGTERM');
    assert.ok(await st.waitLog(/signal 15: shutting down; no new connections, 1 answer in flight/), st.logs());
    assert.equal(await refused(st.port), true, 'a new connection is refused once the stop began');
    const { text, error } = await rd.all;
    assert.equal(error, undefined);
    const { events } = parseSSE(text);
    assert.equal(events.at(-1), '[DONE]', `the stream ended whole:\n${text.slice(-300)}`);
    const content = events.filter((e) => e?.choices).map((e) => e.choices[0]?.delta?.content ?? '').join('');
    assert.equal(content, TEXT_ANSWER);
    const exit = await withDeadline(st.seekd.exited, 5000, null);
    assert.deepEqual(exit, { code: 0, signal: null }, st.logs().slice(-2000));
  } finally { await st.stop(); }
});

test('SIGTERM: answers still running when the grace ends get an error event or a 503, exit 0', T, async () => {
  const st = await startStack({ config: 'shutdown_grace_ms = 600\n' });
  try {
    const res = await stream(st, { chunks: 40, delay_ms: 400 }); // ~16 s
    const rd = readStream(res);
    await rd.first;
    const waiting = st.fetch('/chat/completions', {
      json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'slow_first_byte', delay_ms: 20000 } },
      timeoutMs: 25000,
    });
    await sleep(200); // the second request is in flight
    const t0 = Date.now();
    st.seekd.kill('SIGTERM');
    const { text } = await rd.all;
    const { events } = parseSSE(text);
    const last = events.at(-1);
    assert.equal(typeof last?.error, 'object', `the stream ends with an error event:\n${text.slice(-400)}`);
    assert.equal(last.error.message, 'Service Unavailable: the server is shutting down');
    assert.ok(!events.includes('[DONE]'));
    const w = await waiting;
    assert.equal(w.status, 503);
    assert.deepEqual(await w.json(), { error: { message: 'Service Unavailable: the server is shutting down', type: 'api_error', param: null, code: null } });
    const took = Date.now() - t0;
    assert.ok(took >= 500 && took < 5000, `ended at the grace (600 ms), not before or long after: ${took} ms`);
    const exit = await withDeadline(st.seekd.exited, 5000, null);
    assert.deepEqual(exit, { code: 0, signal: null }, st.logs().slice(-2000));
    assert.match(st.logs(), /shutdown: 2 answers still in flight after 600 ms: ending them/);
    assert.equal((await st.fakeStats()).cancelled, 2, 'both upstream calls were cancelled');
  } finally { await st.stop(); }
});

test('a second signal exits at once', T, async () => {
  const st = await startStack({ config: 'shutdown_grace_ms = 20000\n' });
  try {
    const res = await stream(st, { chunks: 40, delay_ms: 400 });
    const rd = readStream(res);
    await rd.first;
    st.seekd.kill('SIGTERM');
    assert.ok(await st.waitLog(/shutting down/));
    const t0 = Date.now();
    st.seekd.kill('SIGINT');
    const exit = await withDeadline(st.seekd.exited, 5000, null);
    assert.deepEqual(exit, { code: 0, signal: null }, st.logs().slice(-3000));
    assert.ok(Date.now() - t0 < 3000, 'at once, not after the 20 s grace');
    assert.match(st.logs(), /signal 2 again: exiting now/);
    await rd.all;
  } finally { await st.stop(); }
});
