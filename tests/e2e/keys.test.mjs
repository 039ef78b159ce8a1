// keys.test.mjs - who authenticates where: bring-your-own-token (one key, or a "k1,k2,k3" list
// rotated across requests), server-side keys with client keys, and keys never logged in full.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import OpenAI from 'openai';
import { startStack, userMsg, TEXT_ANSWER } from './harness.mjs';

const T = { timeout: 10000 };

describe('bring your own token', () => {
  let st;
  before(async () => { st = await startStack(); });
  after(async () => { await st?.stop(); });

  test('the client bearer is forwarded upstream unchanged', T, async () => {
    await st.fakeReset();
    const key = 'sk-byot-0123456789abcdef';
    const r = await st.client({ apiKey: key }).chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
    assert.equal(r.choices[0].message.content, TEXT_ANSWER);
    const s = await st.fakeStats();
    assert.equal(s.last_authorization, `Bearer ${key}`);
    assert.deepEqual(s.by_key, { [key]: 1 });
  });

  test('a stream uses the client bearer too', T, async () => {
    await st.fakeReset();
    const key = 'sk-byot-stream-9999';
    const s1 = await st.client({ apiKey: key }).chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi'), stream: true });
    for await (const _ of s1) { /* drain */ }
    assert.equal((await st.fakeStats()).last_authorization, `Bearer ${key}`);
  });

  test('"k1,k2,k3" rotates across successive requests', T, async () => {
    await st.fakeReset();
    const keys = ['sk-rot-k1-1111', 'sk-rot-k2-2222', 'sk-rot-k3-3333'];
    const c = st.client({ apiKey: keys.join(',') });
    const seen = [];
    for (let i = 0; i < 3; i++) {
      await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
      seen.push((await st.fakeStats()).last_authorization);
    }
    assert.deepEqual(new Set(seen), new Set(keys.map((k) => `Bearer ${k}`)), seen.join(' | '));
    const s = await st.fakeStats();
    assert.deepEqual(s.by_key, { [keys[0]]: 1, [keys[1]]: 1, [keys[2]]: 1 });
  });

  test('no Authorization at all -> 401 AuthenticationError', T, async () => {
    const res = await st.fetch('/chat/completions', { auth: false, json: { model: 'deepseek-chat', messages: userMsg('hi') } });
    assert.equal(res.status, 401);
    const b = await res.json();
    assert.equal(typeof b.error.message, 'string');
  });

  test('client keys are never logged in full', T, async () => {
    const logs = st.logs();
    for (const k of ['sk-byot-0123456789abcdef', 'sk-byot-stream-9999', 'sk-rot-k1-1111', 'sk-test-0123456789abcdef']) {
      assert.ok(!logs.includes(k), `log contains ${k}`);
    }
  });
});

describe('server key + client keys', () => {
  const SERVER = 'sk-server-aaaa1111';
  const CLIENT = 'sk-client-bbbb2222';
  let st;
  before(async () => {
    st = await startStack({ serverKey: SERVER, config: `client_key = ${CLIENT}\n` });
  });
  after(async () => { await st?.stop(); });

  test('missing auth -> AuthenticationError 401, upstream not called', T, async () => {
    await st.fakeReset();
    const res = await st.fetch('/chat/completions', { auth: false, json: { model: 'deepseek-chat', messages: userMsg('hi') } });
    assert.equal(res.status, 401);
    assert.ok(res.headers.get('x-request-id'));
    const b = await res.json();
    assert.equal(b.error.type, 'authentication_error');
    assert.equal((await st.fakeStats()).requests, 0);
  });

  test('bad client key -> AuthenticationError 401 via SDK', T, async () => {
    let e;
    try {
      await st.client({ apiKey: 'sk-client-wrong-0000' }).chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
    } catch (x) { e = x; }
    assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
    assert.equal(e.status, 401);
    assert.ok(!JSON.stringify(e.error).includes('sk-client-wrong-0000'), 'error does not echo the key');
  });

  test('bad client key -> 401 on /user/balance (the server\'s balance is private)', T, async () => {
    for (const auth of ['sk-client-wrong-0000', false]) {
      const res = await st.fetch('/user/balance', { auth });
      assert.equal(res.status, 401, String(auth));
      await res.arrayBuffer();
    }
  });

  test('bad client key -> 401 on /models too (as DeepSeek answers)', T, async () => {
    const bad = st.client({ apiKey: 'sk-client-wrong-0000' });
    const e1 = await bad.models.list().catch((x) => x);
    assert.ok(e1 instanceof OpenAI.AuthenticationError, `models.list: ${e1?.constructor?.name}`);
    const e2 = await bad.models.retrieve('deepseek-chat').catch((x) => x);
    assert.ok(e2 instanceof OpenAI.AuthenticationError, `models.retrieve: ${e2?.constructor?.name}`);
    const ok = await st.client({ apiKey: CLIENT }).models.list();
    assert.ok(ok.data.length >= 1);
  });

  test('good client key -> upstream sees the server key', T, async () => {
    await st.fakeReset();
    const c = st.client({ apiKey: CLIENT });
    const r = await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
    assert.equal(r.choices[0].message.content, TEXT_ANSWER);
    let s = await st.fakeStats();
    assert.equal(s.last_authorization, `Bearer ${SERVER}`);
    assert.deepEqual(s.by_key, { [SERVER]: 1 });
    const stream = await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi'), stream: true });
    for await (const _ of stream) { /* drain */ }
    s = await st.fakeStats();
    assert.equal(s.last_authorization, `Bearer ${SERVER}`);
    const bal = await st.fetch('/user/balance', { auth: CLIENT });
    assert.equal(bal.status, 200);
    await bal.json();
    s = await st.fakeStats();
    assert.equal(s.last_path, '/user/balance');
    assert.equal(s.last_authorization, `Bearer ${SERVER}`);
  });

  test('logs name the server key by its key id and never show it or the client key in full', T, async () => {
    const logs = st.logs();
    assert.ok(logs.length > 0);
    assert.ok(!logs.includes(SERVER), 'server key appears in full');
    assert.ok(!logs.includes('aaaa1111'), 'server key tail+body appears');
    assert.ok(!logs.includes(CLIENT), 'client key appears in full');
    assert.ok(!logs.includes('sk-client-wrong-0000'), 'rejected key appears in full');
    const id = crypto.createHash('sha256').update(SERVER).digest('hex').slice(0, 8);
    assert.match(logs, new RegExp(`key_ids=\\[${id}\\]`), 'the server key is named by its key id');
  });
});
