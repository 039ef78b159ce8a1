// admin.test.mjs - the accounts' /admin/ API: the operations of `seekd keys` over HTTP, for the
// admin token only. A key made here works at once (within a second) through the openai SDK, is
// billed, topped up, disabled and deleted; every refusal has DeepSeek's envelope.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startStack, runSeekd, userMsg, freshDb, DB_SKIP, ADMIN_TOKEN, TEXT_ANSWER } from './harness.mjs';

const T = { timeout: 30000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MODEL = 'deepseek-chat';

describe('/admin/keys', { skip: DB_SKIP }, () => {
  let st, db;
  before(async () => {
    db = freshDb('admin');
    st = await startStack({
      serverKey: 'sk-server-admin-0001', seekdArgs: ['--db', db],
      config: `price = ${MODEL} USD hit=0.1 miss=1 output=2 offpeak=none\n`,
    });
  });
  after(async () => { await st?.stop(); });

  const admin = (method, p, body, token = ADMIN_TOKEN) => st.fetch(`/admin/${p}`, {
    method, headers: token ? { Authorization: `Bearer ${token}` } : {},
    ...(body === undefined ? {} : typeof body === 'string' ? { body } : { json: body }),
  });

  test('only the admin token: none, a wrong one, or a client key is 401', T, async () => {
    for (const tok of [null, 'adm-not-the-token-000000', 'sk-0123456789abcdef0123456789abcdef']) {
      const r = await admin('GET', 'keys', undefined, tok);
      assert.equal(r.status, 401);
      assert.equal((await r.json()).error.message, 'Authentication Fails: the admin API takes the admin token');
    }
  });

  test('create, use, top up, disable, delete: one key through its whole life', T, async () => {
    const r = await admin('POST', 'keys', { name: 'web', balance: '2.5', granted: 1, models: [MODEL], rpm: 100, expires: '2099-01-01' });
    assert.equal(r.status, 201);
    const k = await r.json();
    assert.match(k.key, /^sk-[0-9a-f]{32}$/);
    assert.deepEqual({ ...k, key: undefined, created: undefined, key_id: undefined }, {
      name: 'web', currency: 'USD', balance: '3.500000000', granted: '1.000000000', topped_up: '2.500000000',
      held: '0.000000000', enabled: true, expires: '2099-01-01T00:00:00Z', rpm: 100, tpm: null,
      concurrency: null, models: [MODEL], key: undefined, created: undefined, key_id: undefined,
    });
    // the CLI sees the same key
    const shown = JSON.parse((await runSeekd(['keys', 'show', k.key, '--json', '--db', db])).stdout);
    assert.equal(shown.key_id, k.key_id);

    await sleep(1200); // the running server's key table takes it within a second
    const c = st.client({ apiKey: k.key });
    const a = await c.chat.completions.create({ model: MODEL, messages: userMsg('admin made me') });
    assert.equal(a.choices[0].message.content, TEXT_ANSWER);

    assert.deepEqual((await (await admin('GET', 'keys')).json()).map((x) => x.name), ['web']);
    let g;
    for (let i = 0; i < 50; i++) {
      g = await (await admin('GET', 'keys/web')).json();
      if (g.balance !== '3.500000000') break;
      await sleep(20);
    }
    assert.ok(g.balance !== '3.500000000', 'the request was billed');

    const up = await admin('POST', `keys/${k.key_id}/topup`, { amount: '1.25' });
    assert.equal(up.status, 200);
    assert.equal((await up.json()).topped_up,
      (() => { const [u, f] = g.topped_up.split('.'); const n = BigInt(u) * 1000000000n + BigInt(f) + 1250000000n; return `${n / 1000000000n}.${String(n % 1000000000n).padStart(9, '0')}`; })());

    const off = await admin('POST', 'keys/web/disable');
    assert.equal((await off.json()).enabled, false);
    await sleep(1200);
    await assert.rejects(c.chat.completions.create({ model: MODEL, messages: userMsg('x') }),
      (e) => e instanceof OpenAI.AuthenticationError);

    const del = await admin('DELETE', 'keys/web');
    assert.equal(del.status, 200);
    assert.deepEqual(await del.json(), { key_id: k.key_id, deleted: true });
    assert.equal((await admin('GET', 'keys/web')).status, 404);
    const v = await runSeekd(['ledger', 'verify', '--db', db]);
    assert.equal(v.code, 0, v.stdout);
  });

  test('bad requests: exact refusals, nothing changed', T, async () => {
    assert.equal((await admin('POST', 'keys', { name: 'dup' })).status, 201);
    const cases = [
      ['POST', 'keys', { name: 'dup' }, 409, "a key named 'dup' (or with that id) exists"],
      ['POST', 'keys', {}, 400, 'name is required: 1 to 64 bytes, not in the form of a key'],
      ['POST', 'keys', { name: 'x', balance: 1.5 }, 400, 'balance: must be a decimal string such as "1.25" (a JSON fraction would not be exact)'],
      ['POST', 'keys', { name: 'x', balance: '0.0000000001' }, 400, 'balance: more than 9 decimals (amounts are exact to 1e-9)'],
      ['POST', 'keys', { name: 'x', currency: 'EUR' }, 400, 'currency must be USD or CNY'],
      ['POST', 'keys', { name: 'x', rpm: -1 }, 400, 'rpm must be a whole number from 0 to 10^12'],
      ['POST', 'keys', { name: 'x', models: 'a,b' }, 400, 'models must be an array of names'],
      ['POST', 'keys', '{"name":', 400, 'the body must be a JSON object'],
      ['POST', 'keys/dup/topup', { amount: '-1' }, 400, 'amount: must be above 0'],
      ['POST', 'keys/dup/topup', {}, 400, 'amount: must be above 0'],
      ['POST', 'keys/nobody/topup', { amount: '1' }, 404, 'no such key'],
      ['GET', 'keys/dup/frob', undefined, 404, 'no such admin route'],
      ['GET', 'users', undefined, 404, 'no such admin route'],
      ['PUT', 'keys', undefined, 405, 'Method Not Allowed'],
    ];
    for (const [method, p, body, status, message] of cases) {
      const r = await admin(method, p, body);
      assert.equal(r.status, status, `${method} ${p} ${JSON.stringify(body)}`);
      const e = (await r.json()).error;
      assert.equal(e.message, message, `${method} ${p}`);
      assert.ok(['invalid_request_error', 'api_error'].includes(e.type));
    }
    const list = await (await admin('GET', 'keys')).json();
    assert.deepEqual(list.map((x) => [x.name, x.balance]), [['dup', '0.000000000']]);
  });
});

describe('/admin/ without accounts', () => {
  let st;
  before(async () => { st = await startStack({}); });
  after(async () => { await st?.stop(); });
  test('404: the admin API needs the accounts', T, async () => {
    const r = await st.fetch('/admin/keys', { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error.message, 'the admin API needs the accounts (db = ...)');
  });
});
