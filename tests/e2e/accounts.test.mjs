// accounts.test.mjs - metered keys end to end: seekd serve --db with keys made by `seekd keys`,
// the official openai SDK as the client, the fake DeepSeek upstream behind. Every request is
// held before the upstream is called and billed exactly from its usage (nano-units, rounded up
// once per line as docs/pricing.md says); nothing is billed for what was never delivered; a
// balance is never overspent by concurrent requests.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startStack, runSeekd, userMsg, freshDb, DB_SKIP, TEXT_ANSWER } from './harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const T = { timeout: 60000 };
const MODEL = 'deepseek-chat'; // the fake's model; priced below with a fixed tier
// Per 1M tokens, no off-peak discount, so the expected cost does not depend on the hour.
const PRICE = { hit: 100000000n, miss: 1000000000n, output: 2000000000n }; // 0.1, 1, 2 USD in nano
// A priced model whose name a spreadsheet would run as a formula (names come from clients).
const FORMULA = '=1+1,"x"';
const CONFIG = `price = ${MODEL} USD hit=0.1 miss=1 output=2 offpeak=none\nprice = ${FORMULA} USD hit=0.1 miss=1 output=2 offpeak=none\nclient_key = sk-unmetered-000000000001\n`;

// DeepSeek's 402, as seekd must send it.
const NO_BALANCE = '{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}';

const nano = (s) => { // "1.250000000" -> 1250000000n
  const neg = s.startsWith('-');
  const [u, f = ''] = s.replace('-', '').split('.');
  const v = BigInt(u) * 1000000000n + BigInt((f + '000000000').slice(0, 9));
  return neg ? -v : v;
};
const ceilDiv = (a, b) => (a + b - 1n) / b;
const costOf = (u) => {
  const hit = BigInt(u.prompt_cache_hit_tokens ?? 0);
  const miss = BigInt(u.prompt_cache_miss_tokens ?? u.prompt_tokens);
  const out = BigInt(u.completion_tokens);
  return ceilDiv(hit * PRICE.hit, 1000000n) + ceilDiv(miss * PRICE.miss, 1000000n) + ceilDiv(out * PRICE.output, 1000000n);
};

describe('metered keys', { skip: DB_SKIP }, () => {
  let st, db, alice, bob, poor;
  const keys = (args, env = {}) => runSeekd(['keys', ...args, '--db', db], { env });
  const show = async (who) => JSON.parse((await keys(['show', who, '--json'])).stdout);

  before(async () => {
    // the database and its keys first, as an operator would
    db = freshDb('accounts');
    alice = (await keys(['create', '--name', 'alice', '--balance', '5', '--granted', '0.001'])).stdout.trim();
    bob = (await keys(['create', '--name', 'bob', '--balance', '5', '--models', 'deepseek-v4-pro'])).stdout.trim();
    poor = (await keys(['create', '--name', 'poor', '--balance', '0.000001'])).stdout.trim();
    st = await startStack({ serverKey: 'sk-server-000000000001', config: CONFIG, seekdArgs: ['--db', db] });
  });
  after(async () => { await st?.stop(); });

  const client = (apiKey) => st.client({ apiKey });

  test('no key, or a key the database does not know: 401, the upstream never called', T, async () => {
    await st.fakeReset();
    for (const k of ['sk-0123456789abcdef0123456789abcdef', 'not-a-key']) {
      await assert.rejects(client(k).chat.completions.create({ model: MODEL, messages: userMsg('hi') }),
        (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
    }
    assert.equal((await st.fakeStats()).requests, 0);
  });

  test('a request is billed exactly its usage at the configured price, granted part first', T, async () => {
    const before = await show('alice');
    const r = await client(alice).chat.completions.create({ model: MODEL, messages: userMsg('bill me') });
    assert.equal(r.choices[0].message.content, TEXT_ANSWER);
    const cost = costOf(r.usage);
    assert.ok(cost > 0n);
    let after;
    for (let i = 0; i < 50; i++) { // the settle is written just after the answer
      after = await show('alice');
      if (after.held === '0.000000000' && after.balance !== before.balance) break;
      await sleep(20);
    }
    assert.equal(nano(before.balance) - nano(after.balance), cost, 'balance down by the exact cost');
    // the log line names the account by its key id, never the key
    assert.ok(await st.waitLog(new RegExp(`POST \/chat\/completions .* account=${after.key_id} `)), 'account= in the log');
    assert.ok(!st.logs().includes(alice), 'the key itself is never logged');
    assert.equal(after.held, '0.000000000');
    // 0.001 granted is spent before the topped-up part
    const fromGranted = cost < 1000000n ? cost : 1000000n;
    assert.equal(nano(before.granted) - nano(after.granted), fromGranted);
    assert.equal(nano(before.topped_up) - nano(after.topped_up), cost - fromGranted);
  });

  test('a stream is billed from the usage on its last chunk', T, async () => {
    const before = await show('alice');
    const s = await client(alice).chat.completions.create({ model: MODEL, messages: userMsg('stream bill'), stream: true });
    let usage = null;
    for await (const ch of s) if (ch.usage) usage = ch.usage;
    assert.ok(usage, 'usage on the last chunk, as DeepSeek sends it');
    let after;
    for (let i = 0; i < 50; i++) {
      after = await show('alice');
      if (after.balance !== before.balance) break;
      await sleep(20);
    }
    assert.equal(nano(before.balance) - nano(after.balance), costOf(usage));
  });

  test('GET /user/balance answers for the caller\'s key in DeepSeek\'s shape', T, async () => {
    const k = await show('alice');
    const res = await st.fetch('/user/balance', { headers: { Authorization: `Bearer ${alice}` } });
    assert.equal(res.status, 200);
    const two = (s) => { const n = nano(s); const c = (n + 5000000n) / 10000000n; return `${c / 100n}.${String(c % 100n).padStart(2, '0')}`; };
    assert.deepEqual(await res.json(), { is_available: true, balance_infos: [{
      currency: 'USD', total_balance: two(k.balance), granted_balance: two(k.granted), topped_up_balance: two(k.topped_up),
    }] });
  });

  test('a model outside the key\'s list is 403; a model without a price is refused, never free', T, async () => {
    await st.fakeReset();
    await assert.rejects(client(bob).chat.completions.create({ model: MODEL, messages: userMsg('hi') }),
      (e) => e.status === 403 && e.message === "403 this api key may not use the model 'deepseek-chat'");
    await assert.rejects(client(alice).chat.completions.create({ model: 'unpriced-model', messages: userMsg('hi') }),
      (e) => e.status === 400 && /the model 'unpriced-model' has no USD price on this server/.test(e.message));
    assert.equal((await st.fakeStats()).requests, 0, 'the upstream was not called');
  });

  test('a balance below the hold: DeepSeek\'s 402 byte for byte, the upstream never called', T, async () => {
    await st.fakeReset();
    const res = await st.fetch('/chat/completions', {
      headers: { Authorization: `Bearer ${poor}` }, json: { model: MODEL, messages: userMsg('hi') },
    });
    assert.equal(res.status, 402);
    assert.equal(await res.text(), NO_BALANCE);
    assert.equal((await st.fakeStats()).requests, 0);
    const p = await show('poor');
    assert.equal(p.balance, '0.000001000');
    assert.equal(p.held, '0.000000000');
  });

  test('an upstream failure before any answer bills nothing', T, async () => {
    const before = await show('alice');
    await assert.rejects(client(alice).chat.completions.create({ model: MODEL, messages: userMsg('hi'), fake: { fault: '500' } }),
      (e) => e.status === 500);
    await sleep(300);
    const after = await show('alice');
    assert.equal(after.balance, before.balance);
    assert.equal(after.held, '0.000000000');
  });

  test('a client that leaves mid-stream is billed its prompt and what it was given, as an estimate', T, async () => {
    const before = await show('alice');
    const ac = new AbortController();
    const res = await fetch(`${st.baseURL}/chat/completions`, {
      method: 'POST', signal: ac.signal,
      headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: userMsg('leave early'), stream: true, fake: { chunks: 20, delay_ms: 200 } }),
    });
    const reader = res.body.getReader();
    let got = '';
    while (!/"content":"[^"]/.test(got)) got += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const line = await st.waitLog(/billed without a usage report: prompt=(\d+) output=(\d+) counted by seekd \(estimated\)/, 5000);
    assert.ok(line, 'the estimate is logged');
    const prompt = BigInt(line[1]), output = BigInt(line[2]);
    assert.ok(prompt > 0n && output > 0n, `never 0: ${line[0]}`);
    let after;
    for (let i = 0; i < 50; i++) {
      after = await show('alice');
      if (after.balance !== before.balance && after.held === '0.000000000') break;
      await sleep(20);
    }
    const cost = ceilDiv(prompt * PRICE.miss, 1000000n) + ceilDiv(output * PRICE.output, 1000000n);
    assert.equal(nano(before.balance) - nano(after.balance), cost);
    assert.equal(after.held, '0.000000000');
  });

  test('a configured client_key still works, unmetered', T, async () => {
    const r = await client('sk-unmetered-000000000001').chat.completions.create({ model: MODEL, messages: userMsg('hi') });
    assert.equal(r.choices[0].message.content, TEXT_ANSWER);
  });

  test('40 concurrent requests on a balance that covers some: no overspend, the rest 402', T, async () => {
    // A key whose balance covers a few holds: each hold is (body bytes x miss + 8192 x output).
    const carol = (await keys(['create', '--name', 'carol', '--balance', '0.1'])).stdout.trim();
    await sleep(1200); // the running server sees the new key within a second
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) =>
      // each answer takes 300 ms, so the holds overlap: a refused hold is counted and asked
      // again, and by then only answers that ended have let their holds go
      client(carol).chat.completions.create({ model: MODEL, messages: userMsg(`race ${i}`), fake: { chunks: 2, delay_ms: 300 }, ...(i % 2 ? { stream: false } : {}) })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    assert.ok(ok.length > 0, 'some were admitted');
    assert.ok(refused.length > 0, 'some were refused');
    for (const r of refused) assert.equal(r.reason.status, 402, String(r.reason));
    const spent = ok.reduce((a, r) => a + costOf(r.value.usage), 0n);
    let k;
    for (let i = 0; i < 100; i++) {
      k = await show('carol');
      if (k.held === '0.000000000') break;
      await sleep(20);
    }
    assert.equal(k.held, '0.000000000');
    assert.equal(100000000n - nano(k.balance), spent, 'initial - final == the sum of the costs, to the nano-unit');
    assert.ok(nano(k.balance) >= 0n, 'never below zero: every admitted request was covered by its hold');
  });

  test('a key disabled with the CLI is refused by the running server within a second', T, async () => {
    const dave = (await keys(['create', '--name', 'dave', '--balance', '1'])).stdout.trim();
    await sleep(1200);
    await client(dave).chat.completions.create({ model: MODEL, messages: userMsg('hi') });
    assert.equal((await keys(['disable', 'dave'])).code, 0);
    await sleep(1200);
    await assert.rejects(client(dave).chat.completions.create({ model: MODEL, messages: userMsg('hi') }),
      (e) => e.status === 401 && /disabled/.test(e.message));
  });

  test('a burst over the key\'s rpm gets 429 with the Retry-After GCRA gives; a second request in flight over concurrency 1 too', T, async () => {
    const erin = (await keys(['create', '--name', 'erin', '--balance', '1', '--rpm', '2'])).stdout.trim();
    const fay = (await keys(['create', '--name', 'fay', '--balance', '1', '--concurrency', '1'])).stdout.trim();
    await sleep(1200);
    const req = (k, extra = {}) => st.fetch('/chat/completions', {
      headers: { Authorization: `Bearer ${k}` }, json: { model: MODEL, messages: userMsg('limits'), ...extra },
    });
    assert.equal((await req(erin)).status, 200);
    assert.equal((await req(erin)).status, 200);
    const third = await req(erin);
    assert.equal(third.status, 429);
    // two a minute: the next one is due 30 s after the first
    const ra = Number(third.headers.get('retry-after'));
    assert.ok(ra >= 29 && ra <= 30, `Retry-After ${ra}`);
    assert.deepEqual((await third.json()).error, {
      message: 'Rate Limit Reached: this key allows 2 requests a minute', type: 'rate_limit_error',
      param: null, code: 'rate_limit_exceeded',
    });
    // concurrency 1: a slow stream holds the slot, a second request is refused, then the slot frees
    const slow = req(fay, { stream: true, fake: { chunks: 5, delay_ms: 200 } });
    await sleep(300);
    const second = await req(fay);
    assert.equal(second.status, 429);
    assert.match((await second.json()).error.message, /allows 1 requests at once/);
    await (await slow).text();
    assert.equal((await req(fay)).status, 200);
  });

  test('ledger export and usage: every row, the sum of alice\'s rows is what her balance lost', T, async () => {
    await client(alice).chat.completions.create({ model: FORMULA, messages: userMsg('csv') });
    let k;
    for (let i = 0; i < 50; i++) {
      k = await show('alice');
      if (k.held === '0.000000000') break;
      await sleep(20);
    }
    const ex = await runSeekd(['ledger', 'export', '--format', 'json', '--key', 'alice', '--db', db]);
    assert.equal(ex.code, 0, ex.stderr);
    const rows = JSON.parse(ex.stdout);
    assert.equal(rows.length, 4, 'billed: the request, the stream, the disconnect, the formula model');
    for (const r of rows) {
      assert.equal(r.key_id, k.key_id);
      assert.equal(r.currency, 'USD');
      assert.match(r.cost, /^\d+\.\d{9}$/);
    }
    const spent = rows.reduce((a, r) => a + nano(r.cost), 0n);
    assert.equal(nano('5.001') - nano(k.balance), spent, 'the rows add up to what the balance lost');
    assert.equal(rows.filter((r) => r.estimated).length, 1, 'the mid-stream disconnect');
    assert.ok(rows.every((r) => ['ok', 'client_gone'].includes(r.status)));

    const csv = await runSeekd(['ledger', 'export', '--key', k.key_id, '--db', db]);
    const lines = csv.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'id,at,key_id,currency,request_id,model,backend,upstream,upstream_key_id,status,cache_hit_tokens,cache_miss_tokens,output_tokens,reasoning_tokens,tier,cost,ttft_ms,duration_ms,estimated');
    assert.equal(lines.length, rows.length + 1);
    assert.ok(lines.at(-1).includes(',"\'=1+1,""x""",upstream,'), `the formula is inert and quoted: ${lines.at(-1)}`);

    const u = await runSeekd(['usage', '--key', 'alice', '--by', 'model', '--json', '--db', db]);
    assert.equal(u.code, 0, u.stderr);
    const totals = JSON.parse(u.stdout);
    assert.deepEqual(totals.map((t) => t.model), [FORMULA, MODEL].sort());
    assert.equal(totals.reduce((a, t) => a + t.requests, 0), rows.length);
    assert.equal(totals.reduce((a, t) => a + nano(t.cost), 0n), spent);
  });

  test('GET /metrics: spend equals the ledger, estimates and refusals counted', T, async () => {
    await sleep(300);
    const all = JSON.parse((await runSeekd(['ledger', 'export', '--format', 'json', '--db', db])).stdout);
    const text = await (await st.fetch('/metrics')).text();
    const metric = (name) => Number(text.split('\n').find((l) => l.startsWith(`${name} `)).split(' ')[1]);
    assert.equal(BigInt(metric('seekd_spend_nanounits_total{currency="USD"}')), all.reduce((a, r) => a + nano(r.cost), 0n));
    assert.equal(metric('seekd_estimated_usage_total'), all.filter((r) => r.estimated).length);
    assert.ok(metric('seekd_refused_total{limit="balance"}') >= 1);
    assert.equal(metric('seekd_refused_total{limit="rpm"}'), 1);
    assert.equal(metric('seekd_refused_total{limit="concurrency"}'), 1);
    assert.equal(metric('seekd_holds_in_flight'), 0);
  });

  test('the ledger verifies after all of the above', T, async () => {
    const r = await runSeekd(['ledger', 'verify', '--db', db]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ledger ok: \d+ keys, every balance matches its credits, settles and holds\n$/);
  });
});
