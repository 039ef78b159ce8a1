// pool-failover.test.mjs - the key pool's answers to a failing key, seen by the client, in
// seekd's log and in GET /health: 429 + Retry-After (cooldown, failover, back after it), a silent
// upstream (first-token timeout, failover), every key 401 (disabled, a clear 502; 401 for
// bring-your-own-token), 402 (no_balance until a /user/balance probe sees balance again), and
// POST /token/check with its rate limit.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startStack, userMsg, aggregate, collect, waitFor, healthKey, keyId, TEXT_ANSWER } from './harness.mjs';

const T = { timeout: 15000 };

function poolConfig(keys, extra = '') {
  return (url) => `${extra}\n[upstream a]\nurl = ${url}\napi_key = ${keys.join(', ')}\n`;
}

/** Keys are masked everywhere: neither the key nor its body without the "sk-" prefix shows. */
function assertNoFullKeys(text, keys, where) {
  for (const k of keys) {
    assert.ok(!text.includes(k), `${where} contains the full key ${k}`);
    assert.ok(!text.includes(k.slice(3)), `${where} contains the key body of ${k}`);
  }
}

function assertEnvelope(b, what) {
  assert.equal(typeof b.error, 'object', `${what}: DeepSeek error envelope: ${JSON.stringify(b)}`);
  assert.equal(typeof b.error.message, 'string');
  assert.ok(b.error.message.length > 0);
  assert.equal(typeof b.error.type, 'string');
  assert.ok('param' in b.error && 'code' in b.error, `${what}: envelope has param and code: ${JSON.stringify(b)}`);
}

describe('429 with Retry-After on one key', () => {
  const K = ['sk-rl-one-aaaa1111', 'sk-rl-two-bbbb2222', 'sk-rl-three-cccc3333'];
  let st;
  before(async () => {
    st = await startStack({ config: poolConfig(K, 'error_threshold = 2'), fakeArgs: ['--key-fault', `${K[0]}=429`, '--quiet'] });
  });
  after(async () => { await st?.stop(); });

  const ask = () => st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });

  test('fails over to another key: the client sees 200 and the whole answer', T, async () => {
    await st.fakeReset();
    // The first request of a fresh pool goes to the first key, which answers 429 (Retry-After: 1).
    const r = await ask();
    assert.equal(r.choices[0].message.content, TEXT_ANSWER);
    assert.equal(r.choices[0].finish_reason, 'stop');
    const s = await st.fakeStats();
    assert.deepEqual(s.by_key, { [K[0]]: 1, [K[1]]: 1 }, 'the 429 key was tried, then the next one answered');
  });

  test('one 429 does not cool the key: /health still says ok', T, async () => {
    const h = await st.health();
    for (const k of K) assert.equal(healthKey(h, 'a', k).key.state, 'ok', JSON.stringify(healthKey(h, 'a', k)));
  });

  test('its second 429 (2 of its 2 attempts, error_threshold = 2) cools it: /health shows retry_in_ms ~ Retry-After; the log says so', T, async () => {
    // Round-robin: this request goes to the third key, the next to the 429 key again.
    for (let i = 0; i < 2; i++) assert.equal((await ask()).choices[0].message.content, TEXT_ANSWER);
    assert.deepEqual((await st.fakeStats()).by_key, { [K[0]]: 2, [K[1]]: 2, [K[2]]: 1 });
    const h = await st.health();
    const k = healthKey(h, 'a', K[0]);
    assert.ok(k, JSON.stringify(h));
    assert.equal(k.key.state, 'cooldown', JSON.stringify(k.key));
    // Counting down from Retry-After's 1 s; how far it got depends on a loaded host's
    // scheduling, so only the bounds: still cooling, never more than the 1 s asked for.
    assert.ok(k.key.retry_in_ms > 0 && k.key.retry_in_ms <= 1000, `retry_in_ms ${k.key.retry_in_ms} ~ Retry-After 1 s`);
    assert.equal(typeof k.key.reason, 'string');
    for (const other of K.slice(1)) assert.equal(healthKey(h, 'a', other).key.state, 'ok');
    assert.ok(await st.waitLog(new RegExp(`key ${keyId(K[0])} is now cooldown`)), `log:\n${st.logs()}`);
    assertNoFullKeys(JSON.stringify(h), K, '/health');
  });

  test('a key in cooldown is not used while it rests', T, async () => {
    const before = (await st.fakeStats()).by_key[K[0]];
    for (let i = 0; i < 3; i++) assert.equal((await ask()).choices[0].message.content, TEXT_ANSWER);
    assert.equal((await st.fakeStats()).by_key[K[0]], before, 'no request went to the cooling key');
  });

  test('once Retry-After has passed the key is ok again', T, async () => {
    const t0 = Date.now();
    const ok = await waitFor(async () => healthKey(await st.health(), 'a', K[0]).key.state === 'ok', 2500);
    assert.ok(ok, `still not ok after ${Date.now() - t0} ms: ${JSON.stringify(healthKey(await st.health(), 'a', K[0]))}`);
    assertNoFullKeys(st.logs(), K, 'log');
  });
});

describe("a lone key's 429", () => {
  const K = 'sk-rl-lone-ffff6666';
  let st;
  before(async () => {
    st = await startStack({ config: poolConfig([K], 'error_threshold = 1'), fakeArgs: ['--quiet'] });
  });
  after(async () => { await st?.stop(); });

  test("a lone key's 429 reaches that one client with Retry-After, and the next request is served", T, async () => {
    await st.fakeReset();
    await st.setKeyFault(K, '429');
    const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { retry_after: 7 } } });
    const b = await res.json();
    assert.equal(res.status, 429, JSON.stringify(b));
    assert.equal(res.headers.get('retry-after'), '7', "the upstream's Retry-After");
    assertEnvelope(b, 'lone key 429');
    assert.equal(b.error.type, 'rate_limit_error');
    await st.setKeyFault(K, null);
    // Well within the 7 s: the upstream serves again, so seekd does too.
    const r = await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
    assert.equal(r.choices[0].message.content, TEXT_ANSWER);
    assert.equal((await st.fakeStats()).by_key[K], 2);
  });

  test('while the upstream keeps answering 429, every request hears it from the upstream, not from seekd', T, async () => {
    await st.fakeReset();
    await st.setKeyFault(K, '429');
    for (let i = 1; i <= 3; i++) {
      const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { retry_after: 5 } } });
      assertEnvelope(await res.json(), `429 #${i}`);
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.equal((await st.fakeStats()).by_key[K], i, 'the request reached the upstream');
    }
    assert.equal(healthKey(await st.health(), 'a', K).key.state, 'ok', 'the only key is never cooled');
    await st.setKeyFault(K, null);
  });
});

describe('two keys, one 429s repeatedly', () => {
  const KA = 'sk-rl-hot-gggg7777';
  const KB = 'sk-rl-cool-hhhh8888';
  let st;
  before(async () => {
    st = await startStack({ config: poolConfig([KA, KB], 'error_threshold = 3'), fakeArgs: ['--key-fault', `${KA}=429`, '--quiet'] });
  });
  after(async () => { await st?.stop(); });

  test('two keys, one 429s repeatedly: it is cooled and the other carries the load', T, async () => {
    // Round-robin puts each request on the 429 key first until its third 429 (3 of its 3
    // attempts, error_threshold = 3) cools it; from then on the other key takes them all.
    for (let i = 0; i < 6; i++) {
      const r = await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi'), fake: { retry_after: 5 } });
      assert.equal(r.choices[0].message.content, TEXT_ANSWER);
    }
    assert.deepEqual((await st.fakeStats()).by_key, { [KA]: 3, [KB]: 6 });
    const h = await st.health();
    const a = healthKey(h, 'a', KA).key;
    assert.equal(a.state, 'cooldown', JSON.stringify(a));
    assert.ok(a.retry_in_ms > 0 && a.retry_in_ms <= 5000, `retry_in_ms ${a.retry_in_ms} ~ Retry-After 5 s`);
    assert.equal(healthKey(h, 'a', KB).key.state, 'ok');
    assert.ok(await st.waitLog(new RegExp(`key ${keyId(KA)} is now cooldown`)), `log:\n${st.logs()}`);
  });
});

describe('429 on every key', () => {
  const K = ['sk-rl-all-one-dddd1111', 'sk-rl-all-two-eeee2222'];
  let st;
  before(async () => {
    st = await startStack({ config: poolConfig(K, 'error_threshold = 2'), fakeArgs: ['--key-fault', `${K[0]}=429`, '--key-fault', `${K[1]}=429`, '--quiet'] });
  });
  after(async () => { await st?.stop(); });

  const ask429 = async (retryAfter, what) => {
    const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { retry_after: retryAfter } } });
    const b = await res.json();
    assert.equal(res.status, 429, `${what}: status ${res.status}: ${JSON.stringify(b)}`);
    assert.equal(res.headers.get('retry-after'), String(retryAfter), "the upstream's Retry-After");
    assertEnvelope(b, what);
    assert.equal(b.error.type, 'rate_limit_error');
  };

  test("the client gets the upstream's 429 rate_limit_error with its Retry-After; one 429 each cools neither key", T, async () => {
    await ask429(2, 'all 429');
    assert.deepEqual((await st.fakeStats()).by_key, { [K[0]]: 1, [K[1]]: 1 });
    const h = await st.health();
    for (const k of K) assert.equal(healthKey(h, 'a', k).key.state, 'ok');
  });

  test('a second round cools the first key while the other can still serve, never both', T, async () => {
    await ask429(3, 'second round');
    assert.deepEqual((await st.fakeStats()).by_key, { [K[0]]: 2, [K[1]]: 2 });
    const h = await st.health();
    const k0 = healthKey(h, 'a', K[0]).key;
    assert.equal(k0.state, 'cooldown', JSON.stringify(k0));
    assert.ok(k0.retry_in_ms > 0 && k0.retry_in_ms <= 3000, `retry_in_ms ${k0.retry_in_ms}`);
    assert.equal(healthKey(h, 'a', K[1]).key.state, 'ok', 'the last usable key is never cooled');
  });

  test("then a new request goes to the last key and gets the upstream's 429 (not seekd's own)", T, async () => {
    await ask429(1, 'last key');
    assert.deepEqual((await st.fakeStats()).by_key, { [K[0]]: 2, [K[1]]: 3 });
    assert.equal(healthKey(await st.health(), 'a', K[1]).key.state, 'ok');
  });
});

describe('silent upstream: first-token timeout', () => {
  const K = ['sk-slow-one-dddd4444', 'sk-slow-two-eeee5555'];
  let st;
  before(async () => {
    st = await startStack({
      config: poolConfig(K, 'first_token_timeout_ms = 300'),
      fakeArgs: ['--key-fault', `${K[0]}=slow_first_byte:5000`, '--quiet'],
    });
  });
  after(async () => { await st?.stop(); });

  test('non-stream: times out on the silent key, fails over, 200 with the whole answer', T, async () => {
    await st.fakeReset();
    const t0 = Date.now();
    const r = await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
    const ms = Date.now() - t0;
    assert.equal(r.choices[0].message.content, TEXT_ANSWER);
    assert.ok(ms >= 250 && ms < 3000, `answered after ${ms} ms (first_token_timeout_ms = 300)`);
    const s = await st.fakeStats();
    assert.deepEqual(s.by_key, { [K[0]]: 1, [K[1]]: 1 });
    assert.ok(await st.waitLog(/first-token timeout/), `log:\n${st.logs()}`);
    assert.ok(await st.waitLog(/failed before the first byte/), 'the failed attempt is logged');
    // The abandoned transfer is closed, not left to run on the upstream.
    const c = await waitFor(async () => (await st.fakeStats()).cancel_events.find((e) => e.key === K[0]), 2000);
    assert.ok(c, 'the silent attempt was cancelled upstream');
  });

  test('stream: the same failover, the client gets a clean stream', T, async () => {
    await st.fakeReset();
    const s = await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi'), stream: true });
    const a = aggregate(await collect(s));
    assert.equal(a.content, TEXT_ANSWER);
    assert.equal(a.finish, 'stop');
    const stats = await st.fakeStats();
    assert.equal(stats.by_key[K[1]], 1, JSON.stringify(stats.by_key));
    const h = await st.health();
    const k = healthKey(h, 'a', K[0]);
    assert.ok(k.key.failures >= 1, `failures counted on the silent key: ${JSON.stringify(k.key)}`);
  });
});

describe('every server key 401', () => {
  const K = ['sk-bad-alpha-1111xxxx', 'sk-bad-bravo-2222yyyy', 'sk-bad-charlie-3333zzzz'];
  let st;
  before(async () => { st = await startStack({ config: poolConfig(K), fakeArgs: ['--quiet'] }); });
  after(async () => { await st?.stop(); });

  test('the client gets a 502 envelope saying the server\'s keys were rejected', T, async () => {
    await st.fakeReset();
    const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi') } });
    assert.equal(res.status, 502);
    const b = await res.json();
    assertEnvelope(b, '401 on every key');
    assert.match(b.error.message, /reject/i);
    assert.match(b.error.message, /key/i);
    assertNoFullKeys(JSON.stringify(b), K, 'error body');
    const s = await st.fakeStats();
    assert.deepEqual(Object.keys(s.by_key).sort(), [...K].sort(), 'every key was tried once');
  });

  test('the SDK sees an APIError 502 (not an AuthenticationError: the client\'s own auth is fine)', T, async () => {
    const e = await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') }).catch((x) => x);
    assert.ok(e instanceof OpenAI.APIError, String(e));
    assert.ok(!(e instanceof OpenAI.AuthenticationError), 'not a client auth error');
    assert.equal(e.status, 502);
    assert.match(e.error?.message || '', /key/i, JSON.stringify(e.error));
  });

  test('/health shows each key disabled with the reason; keys named only by their ids there and in the log', T, async () => {
    const h = await st.health();
    for (const k of K) {
      const e = healthKey(h, 'a', k);
      assert.ok(e, `${k} in /health`);
      assert.equal(e.key.state, 'disabled', JSON.stringify(e.key));
      assert.match(e.key.reason, /Authentication Fails|invalid|401/i, JSON.stringify(e.key));
      assert.equal(e.key.key_id, keyId(k), `named by its key id: ${JSON.stringify(e.key)}`);
      assert.equal(e.key.key, undefined, 'no part of the key itself');
    }
    assertNoFullKeys(JSON.stringify(h), K, '/health');
    for (const k of K) assert.ok(await st.waitLog(new RegExp(`key ${keyId(k)} is now disabled`)), `log:\n${st.logs()}`);
    assertNoFullKeys(st.logs(), K, 'log');
  });

  test('with every key disabled, a new request gets the same clear 502 at once (not a retryable 503)', T, async () => {
    const t0 = Date.now();
    const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi'), stream: true } });
    assert.ok(Date.now() - t0 < 2000, 'answered at once');
    const b = await res.json();
    assertEnvelope(b, 'all disabled');
    assert.match(b.error.message, /disabled|reject/i, b.error.message);
    // Keys the upstream rejected are a configuration problem, not an overload: the answer is the
    // 502 of the first request, not 503 "server_overloaded" (which SDKs retry).
    assert.equal(res.status, 502, `status ${res.status}: ${JSON.stringify(b)}`);
    assert.notEqual(b.error.type, 'server_overloaded', JSON.stringify(b));
  });
});

describe('bring your own token: the client\'s key is rejected', () => {
  let st;
  before(async () => { st = await startStack({ fakeArgs: ['--quiet'] }); });
  after(async () => { await st?.stop(); });

  test('one key: 401 AuthenticationError with the DeepSeek envelope; the key is not echoed in full', T, async () => {
    const key = 'sk-bad-byot-0000abcd';
    const e = await st.client({ apiKey: key }).chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') }).catch((x) => x);
    assert.ok(e instanceof OpenAI.AuthenticationError, `${e?.constructor?.name}: ${e}`);
    assert.equal(e.status, 401);
    assert.equal(e.error?.type, 'authentication_error');
    assertNoFullKeys(JSON.stringify(e.error) + st.logs(), [key], 'error body + log');
  });

  test('"k1,k2" both rejected: each key is tried as sent, then 401', T, async () => {
    await st.fakeReset();
    const keys = ['sk-bad-one-1111aaaa', 'sk-bad-two-2222bbbb'];
    const res = await st.fetch('/chat/completions', { auth: keys.join(','), json: { model: 'deepseek-chat', messages: userMsg('hi') } });
    const b = await res.json();
    const s = await st.fakeStats();
    // The failover attempt must carry the client's second key, byte for byte.
    assert.deepEqual(Object.keys(s.by_key).sort(), keys, `keys the upstream saw: ${JSON.stringify(s.by_key)}`);
    assert.equal(res.status, 401, `a pool of bad client keys: 401 too, got ${res.status}`);
    assertEnvelope(b, 'byot 401');
    assert.equal(b.error.type, 'authentication_error');
    assertNoFullKeys(JSON.stringify(b) + st.logs(), keys, 'error body + log');
  });
});

describe('402 on one key', () => {
  const K = ['sk-poor-one-ffff6666', 'sk-rich-two-gggg7777', 'sk-rich-three-hhhh8888'];
  let st;
  before(async () => {
    st = await startStack({
      config: poolConfig(K, 'probe_interval_ms = 200'),
      fakeArgs: ['--key-fault', `${K[0]}=402`, '--quiet'],
    });
  });
  after(async () => { await st?.stop(); });

  test('the key becomes no_balance, the others serve', T, async () => {
    await st.fakeReset();
    for (let i = 0; i < 4; i++) {
      const r = await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
      assert.equal(r.choices[0].message.content, TEXT_ANSWER);
    }
    const s = await st.fakeStats();
    assert.equal(s.paths_by_key[K[0]]?.['/chat/completions'], 1, `the 402 key got one chat request: ${JSON.stringify(s.paths_by_key)}`);
    assert.equal((s.by_key[K[1]] || 0) + (s.by_key[K[2]] || 0), 4);
    const k = healthKey(await st.health(), 'a', K[0]);
    assert.equal(k.key.state, 'no_balance', JSON.stringify(k.key));
    assert.match(k.key.reason, /Balance/i);
    assert.ok(await st.waitLog(new RegExp(`key ${keyId(K[0])} is now no_balance`)), `log:\n${st.logs()}`);
  });

  test('probes ask /user/balance; while it still says 402 the key stays out', T, async () => {
    const s = await waitFor(async () => {
      const x = await st.fakeStats();
      return x.paths_by_key[K[0]]?.['/user/balance'] >= 1 ? x : null;
    }, 2000);
    assert.ok(s, 'a balance probe reached the upstream');
    assert.equal(s.paths_by_key[K[0]]['/models'], undefined, 'a no_balance key is probed through /user/balance');
    assert.equal(healthKey(await st.health(), 'a', K[0]).key.state, 'no_balance');
  });

  test('once the balance is back (is_available) a probe brings the key back', T, async () => {
    await st.setKeyFault(K[0], null);
    const ok = await waitFor(async () => healthKey(await st.health(), 'a', K[0]).key.state === 'ok', 2000);
    assert.ok(ok, JSON.stringify(healthKey(await st.health(), 'a', K[0])));
    assert.ok(await st.waitLog(new RegExp(`key ${keyId(K[0])} is back`)), `log:\n${st.logs()}`);
    await st.fakeReset();
    for (let i = 0; i < 3; i++) await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
    assert.equal((await st.fakeStats()).by_key[K[0]], 1, 'the key serves its share again');
    assertNoFullKeys(st.logs(), K, 'log');
  });
});

describe('POST /token/check', () => {
  let st;
  before(async () => {
    st = await startStack({ config: poolConfig(['sk-srv-check-iiii9999'], 'token_check_per_min = 2'), fakeArgs: ['--quiet'] });
  });
  after(async () => { await st?.stop(); });

  test('live for a good key, not live for a rejected one, then 429 with Retry-After', T, async () => {
    await st.fakeReset();
    let res = await st.fetch('/token/check', { json: { token: 'sk-good-check-0000aaaa' } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { live: true });
    assert.equal((await st.fakeStats()).last_authorization, 'Bearer sk-good-check-0000aaaa', 'the token itself was checked upstream');
    res = await st.fetch('/token/check', { json: { token: 'sk-bad-check-0000bbbb' } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { live: false });
    res = await st.fetch('/token/check', { json: { token: 'sk-good-check-0000aaaa' } });
    assert.equal(res.status, 429);
    const ra = Number(res.headers.get('retry-after'));
    assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 60, `Retry-After: ${res.headers.get('retry-after')}`);
    const b = await res.json();
    assertEnvelope(b, 'token check 429');
    assert.equal(b.error.type, 'rate_limit_error');
    assertNoFullKeys(st.logs(), ['sk-good-check-0000aaaa', 'sk-bad-check-0000bbbb'], 'log');
  });
});

describe('failover to a second upstream that has the same key string', () => {
  // Upstream a refuses connections; b is the fake. "Tried" was kept per key string, so with
  // the same key on both (or the client's own key) b was never tried and the client got 502.
  const KEY = 'sk-shared-abcd1234';
  const twoUpstreams = (keyLine) => (url) => `[upstream a]\nurl = http://127.0.0.1:9\n${keyLine}priority = 0\n`
    + `[upstream b]\nurl = ${url}\n${keyLine}priority = 1\n`;

  test('server keys: a shared key is tried on b after a failed', T, async () => {
    const st = await startStack({ config: twoUpstreams(`api_key = ${KEY}\n`) });
    try {
      const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi') } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await res.json()).choices[0].message.content, TEXT_ANSWER);
      assert.deepEqual((await st.fakeStats()).by_key, { [KEY]: 1 });
    } finally { await st.stop(); }
  });

  test('bring your own key: the client\'s key is tried on b after a failed', T, async () => {
    const st = await startStack({ config: twoUpstreams('') });
    try {
      const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi') }, auth: KEY });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await res.json()).choices[0].message.content, TEXT_ANSWER);
      assert.deepEqual((await st.fakeStats()).by_key, { [KEY]: 1 });
    } finally { await st.stop(); }
  });
});
