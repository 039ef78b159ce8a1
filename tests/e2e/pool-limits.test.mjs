// pool-limits.test.mjs - the limits docs/config.md promises for a request waiting on the key
// pool, each with the exact status and DeepSeek envelope the client gets and the number of
// requests that reached the upstream: queue_max (more waiting requests get 503 at once), the
// queue deadline (request_timeout_ms while queued: 503), request_timeout_ms across failover
// attempts (no new attempt after it), and max_attempts.
//
// Timing: seekd, the fake and node share two cores, under ASan in one run. Every deadline here
// is at least 500 ms away from the event it must come before or after, and the tests assert
// the order of events (what the upstream saw, and when) rather than tight durations.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, userMsg, waitFor, TEXT_ANSWER } from './harness.mjs';

const T = { timeout: 20000 };
const K = ['sk-lim-one-aaaa1111', 'sk-lim-two-bbbb2222', 'sk-lim-three-cccc3333'];

function poolConfig(keys, extra) {
  return (url) => `${extra}\n[upstream a]\nurl = ${url}\napi_key = ${keys.join(', ')}\n`;
}

function chat(st, fake = {}) {
  return st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('hi'), fake }, timeoutMs: 15000,
  });
}

/** DeepSeek's error envelope, exactly: {"error":{"message","type","param","code"}}. */
async function assertEnvelope(res, status, type, message) {
  assert.equal(res.status, status);
  const b = await res.json();
  assert.deepEqual(b, { error: { message, type, param: null, code: null } }, JSON.stringify(b));
  assert.deepEqual(Object.keys(b.error).sort(), ['code', 'message', 'param', 'type']);
  return b;
}

const requestsSeen = (stats) => Object.values(stats.by_key).reduce((a, n) => a + n, 0);

describe('queue_max: a request beyond a full queue gets 503 at once', () => {
  let st;
  before(async () => {
    st = await startStack({ config: poolConfig([K[0]], 'max_concurrent_per_key = 1\nqueue_max = 1') });
  });
  after(async () => { await st?.stop(); });

  test('one answering, one queued, the third refused without reaching the upstream', T, async () => {
    // A holds the only key slot for 1.5 s; B waits in the queue (its one place).
    const a = chat(st, { fault: 'slow_first_byte', delay_ms: 1500 });
    assert.ok(await waitFor(async () => (await st.fakeStats()).active === 1, 5000), 'A reached the upstream');
    const b = chat(st);
    assert.ok(await waitFor(async () => (await st.health()).queued === 1, 5000), 'B is queued');
    const c = await chat(st);
    await assertEnvelope(c, 503, 'server_overloaded',
      'Server Overloaded: 1 requests are already waiting for a free key');
    // C was refused while A was still being answered: not after a wait.
    assert.equal((await st.fakeStats()).active, 1, 'A still in flight when C was refused');
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.status, 200);
    assert.equal((await ra.json()).choices[0].message.content, TEXT_ANSWER);
    assert.equal(rb.status, 200, 'the queued request is served once the key is free');
    assert.equal((await rb.json()).choices[0].message.content, TEXT_ANSWER);
    assert.deepEqual((await st.fakeStats()).by_key, { [K[0]]: 2 }, 'A and B reached the upstream, C did not');
  });
});

describe('queue deadline: a request queued past request_timeout_ms gets 503', () => {
  let st;
  before(async () => {
    st = await startStack({ config: poolConfig([K[0]], 'max_concurrent_per_key = 1\nrequest_timeout_ms = 800') });
  });
  after(async () => { await st?.stop(); });

  test('the queued request fails while the key is still busy; it never reaches the upstream', T, async () => {
    // A holds the key for 4 s, far past B's 800 ms deadline. A's answer head comes at once
    // (then keep-alive lines): an answering upstream is no longer bound by the deadline.
    const a = chat(st, { fault: 'keepalive', delay_ms: 4000 });
    assert.ok(await waitFor(async () => (await st.fakeStats()).active === 1, 5000), 'A reached the upstream');
    const b = await chat(st);
    await assertEnvelope(b, 503, 'server_overloaded',
      'Server Overloaded: no upstream key became free within 800 ms');
    const s = await st.fakeStats();
    assert.equal(s.active, 1, 'B failed while A was still being answered (the deadline, not the key freeing)');
    assert.deepEqual(s.by_key, { [K[0]]: 1 }, 'B never reached the upstream');
    assert.equal((await a).status, 200);
  });
});

describe('request_timeout_ms bounds the failover: no attempt starts after it', () => {
  let st;
  before(async () => {
    // Every key is silent for 10 s. Attempt 1 ends at its 1 s first-token timeout (< 1.5 s:
    // attempt 2 starts), attempt 2 at the request's 1.5 s deadline: none more, though
    // max_attempts and the three keys would allow a third.
    st = await startStack({
      config: poolConfig(K, 'first_token_timeout_ms = 1000\nrequest_timeout_ms = 1500\nmax_attempts = 5'),
      fakeArgs: K.flatMap((k) => ['--key-fault', `${k}=slow_first_byte:10000`]),
    });
  });
  after(async () => { await st?.stop(); });

  test('two attempts on two keys, then the deadline\'s 504', T, async () => {
    const res = await chat(st);
    await assertEnvelope(res, 504, 'api_error', 'no upstream answered within 1500 ms');
    const s = await st.fakeStats();
    assert.equal(requestsSeen(s), 2, `attempts that reached the upstream: ${JSON.stringify(s.by_key)}`);
    assert.equal(Object.keys(s.by_key).length, 2, 'never the same key twice');
  });
});

describe('request_timeout_ms also ends an attempt still waiting for its first byte', () => {
  let st;
  before(async () => {
    // The key is silent for 10 s and the first-token timeout is 10 s: only the request's
    // own 1 s deadline can end the wait.
    st = await startStack({
      config: poolConfig([K[0]], 'first_token_timeout_ms = 10000\nrequest_timeout_ms = 1000'),
      fakeArgs: ['--key-fault', `${K[0]}=slow_first_byte:10000`],
    });
  });
  after(async () => { await st?.stop(); });

  test('504 at the request deadline, not at the first-token timeout; the upstream sees the cancel', T, async () => {
    const t0 = Date.now();
    const res = await chat(st);
    const took = Date.now() - t0;
    await assertEnvelope(res, 504, 'api_error', 'no upstream answered within 1000 ms');
    // 1 s deadline; 10 s was the alternative. Generous for two shared cores under ASan.
    assert.ok(took >= 900 && took < 6000, `answered after ${took} ms`);
    assert.ok(await waitFor(async () => (await st.fakeStats()).cancelled === 1, 5000),
      'the upstream saw its request cancelled');
  });
});

describe('max_attempts caps the failover', () => {
  let st;
  before(async () => {
    st = await startStack({
      config: poolConfig(K, 'max_attempts = 2'),
      fakeArgs: K.flatMap((k) => ['--key-fault', `${k}=500`]),
    });
  });
  after(async () => { await st?.stop(); });

  test('three failing keys, max_attempts = 2: two attempts, then the last one\'s error as the upstream said it', T, async () => {
    const res = await chat(st);
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: { message: 'Server Error', type: 'server_error', param: null, code: 'invalid_request_error' } });
    const s = await st.fakeStats();
    assert.equal(requestsSeen(s), 2, `attempts that reached the upstream: ${JSON.stringify(s.by_key)}`);
    assert.equal(Object.keys(s.by_key).length, 2, 'on two different keys');
  });
});
