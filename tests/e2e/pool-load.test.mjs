// pool-load.test.mjs - 1000 concurrent streams over a pool of 3 keys with
// max_concurrent_per_key = 1: every stream answered completely, none lost, no errors; the
// upstream never sees two streams at once on a key; waiting requests are served in the order they
// arrived (FIFO, within the pool's concurrency of 3) and the keys share the work evenly.
//
// To make "order of arrival" well defined, three blocker streams first take all three keys (the
// fake stalls them after the role chunk); the 1000 requests are then sent one after another (each
// written to the socket before the next starts) and all wait in seekd's queue; closing the
// blockers releases the keys and the queue drains.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startStack, userMsg, parseSSE, aggregate, waitFor, healthKey, TEXT_ANSWER } from './harness.mjs';

const N = 1000;
const SLACK = 3; // keys in the pool = requests that may be in flight together
const K = ['sk-load-one-aaaa1111', 'sk-load-two-bbbb2222', 'sk-load-three-cccc3333'];

let st;
let agent;
before(async () => {
  st = await startStack({
    config: (url) => `max_concurrent_per_key = 1\nlog_level = info\n[upstream a]\nurl = ${url}\napi_key = ${K.join(', ')}\n`,
    fakeArgs: ['--quiet'],
    logLevel: 'info',
  });
  agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
});
after(async () => {
  agent?.destroy();
  await st?.stop();
});

/** Sends one streaming chat request. Resolves `sent` once the request is written to the socket;
 * `done` with {status, text} when the response ends (or {error}). `close()` drops the socket. */
function send(body) {
  const data = JSON.stringify(body);
  const req = http.request(st.baseURL + '/chat/completions', {
    method: 'POST',
    agent,
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer sk-test-0123456789abcdef', 'Content-Length': Buffer.byteLength(data) },
  });
  const sent = new Promise((resolve) => req.on('finish', resolve));
  const done = new Promise((resolve) => {
    req.on('error', (error) => resolve({ error }));
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
      res.on('error', (error) => resolve({ error, text }));
    });
  });
  req.end(data);
  return { sent, done, close: () => req.destroy() };
}

function streamBody(fake) {
  return { model: 'deepseek-chat', messages: userMsg('hi'), stream: true, fake };
}

test(`${N} concurrent streams over 3 keys (max_concurrent_per_key = 1): complete, FIFO, fair`, { timeout: 50000 }, async () => {
  const t0 = Date.now();
  // 1. Three blockers take every key.
  const blockers = [0, 1, 2].map(() => send(streamBody({ fault: 'stall', after: 1, tag: 'blocker' })));
  assert.ok(await waitFor(async () => (await st.fakeStats()).active === 3, 5000), 'the blockers hold the three keys');
  await st.fakeReset(); // count only the N from here (max_active_by_key starts at what is in flight: 1 per key)

  // 2. N requests, one after another, all queued behind the blockers.
  const reqs = [];
  for (let i = 0; i < N; i++) {
    const r = send(streamBody({ chunks: 3, delay_ms: 1, tag: i }));
    reqs.push(r);
    await r.sent;
  }
  const queued = await waitFor(async () => { const h = await st.health(); return h.queued === N ? h : null; }, 10000);
  assert.ok(queued, `all ${N} wait in seekd's queue (queued = ${(await st.health()).queued})`);
  assert.deepEqual((await st.fakeStats()).tags, [], 'none reached the upstream while the keys were busy');
  const tSent = Date.now();

  // 3. Release the keys; the queue drains.
  for (const b of blockers) b.close();
  const results = await Promise.all(reqs.map((r) => r.done));
  const tDone = Date.now();

  // Every stream complete: 200, the whole answer, finish_reason stop, [DONE]; no error anywhere.
  let bad = 0;
  const problems = [];
  results.forEach((r, i) => {
    let why = null;
    if (r.error) why = `socket error ${r.error.message}`;
    else if (r.status !== 200) why = `status ${r.status}: ${r.text.slice(0, 200)}`;
    else {
      const { events } = parseSSE(r.text);
      const a = aggregate(events.filter((e) => e !== '[DONE]'));
      if (events.at(-1) !== '[DONE]') why = `no [DONE]: ${r.text.slice(-200)}`;
      else if (events.some((e) => e.error || e.raw)) why = `error/raw event: ${r.text.slice(0, 200)}`;
      else if (a.content !== TEXT_ANSWER) why = `content ${JSON.stringify(a.content)}`;
      else if (a.finish !== 'stop') why = `finish ${a.finish}`;
    }
    if (why) { bad++; if (problems.length < 5) problems.push(`#${i}: ${why}`); }
  });
  assert.equal(bad, 0, `${bad} of ${N} streams incomplete:\n${problems.join('\n')}`);

  const s = await st.fakeStats();
  // Each request reached the upstream exactly once (none lost, none retried).
  assert.equal(s.tags.length, N, `upstream saw ${s.tags.length} of ${N}`);
  assert.deepEqual([...s.tags].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), 'each tag exactly once');
  // Never more than one stream at once per key.
  for (const k of K) assert.equal(s.max_active_by_key[k], 1, `max concurrent on ${k}: ${JSON.stringify(s.max_active_by_key)}`);
  // FIFO: the upstream received request i at position i, give or take the pool's concurrency.
  let worst = 0;
  let worstAt = -1;
  s.tags.forEach((tag, pos) => { if (Math.abs(pos - tag) > worst) { worst = Math.abs(pos - tag); worstAt = pos; } });
  assert.ok(worst <= SLACK, `served out of arrival order by ${worst} places (at position ${worstAt}: ${JSON.stringify(s.tags.slice(Math.max(0, worstAt - 5), worstAt + 5))})`);
  // Fair: each key about a third (within ±10% of N/3).
  const per = K.map((k) => s.paths_by_key[k]?.['/chat/completions'] || 0);
  for (const n of per) assert.ok(Math.abs(n - N / 3) <= N / 30, `per-key share ${per.join('/')} (each ${Math.round(N / 3)} ± ${Math.round(N / 30)})`);

  const h = await waitFor(async () => { const x = await st.health(); return x.active === 0 && x.queued === 0 ? x : null; }, 3000);
  assert.ok(h, 'nothing left active or queued');
  for (const k of K) {
    const e = healthKey(h, 'a', k).key;
    assert.equal(e.state, 'ok');
    assert.equal(e.active, 0);
    assert.equal(e.failures, 0, `no failures on ${k}`);
  }
  assert.ok(!/ error | warn /.test(st.logs()), `no warnings or errors in the log:\n${st.logs().split('\n').filter((l) => / error | warn /.test(l)).slice(0, 5).join('\n')}`);
  const total = Date.now() - t0;
  assert.ok(total < 40000, `took ${total} ms`);
  // Timing, for the record.
  console.log(`sent ${N} in ${tSent - t0} ms, drained in ${tDone - tSent} ms, per key ${per.join('/')}, worst order slip ${worst}`);
});
