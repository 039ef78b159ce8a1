// accounts-proof.test.mjs - issue 13's proofs for metered keys, end to end against the real
// binary and the fake DeepSeek upstream, on SQLite (e2e.accounts-proof) and PostgreSQL
// (e2e.accounts-proof-pg):
// - DeepSeek's server-side tools (usage.server_tool_use) are relayed and billed per call;
// - a hold the body's bytes cannot get is counted and asked again;
// - 500 concurrent requests, half of them streams, on a key whose balance covers only some:
//   no overspend, every other one a 402, and initial - final == the sum of the ledger's costs
//   to the nano-unit;
// - kill -9 with 100 streams open: a second server on the same database leaves the live
//   server's holds alone; after a restart none is left open, each one is logged, and
//   `seekd ledger verify` passes.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, runSeekd, userMsg, DB_SKIP, TEXT_ANSWER } from './harness.mjs';
import { sleep, T, MODEL, LEASE_MS, CONFIG, SERVER_KEY, NO_BALANCE, nano, costOf, meteredStack } from './accounts-common.mjs';

describe('metered keys: proofs', { skip: DB_SKIP }, () => {
  const m = meteredStack('proof');
  const { keys, show, settled, ledger, post } = m;
  let st, db;
  before(async () => { await m.start(); st = m.st; db = m.db; });
  after(async () => { await m.stop(); });

  test('server-side tool calls are relayed in usage and billed per call from the price table', T, async () => {
    const k = (await keys(['create', '--name', 'searcher', '--balance', '1'])).stdout.trim();
    await sleep(1200); // the running server sees a new key within a second
    const tools = { web_search_requests: 3, web_fetch_requests: 2 };
    const r = await post(k, { model: MODEL, messages: userMsg('search the web'), fake: { server_tool_use: tools } });
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.choices[0].message.content, TEXT_ANSWER);
    assert.deepEqual(body.usage.server_tool_use, tools, 'relayed as DeepSeek reported it');
    // streamed: on the last chunk's usage
    const s = await post(k, { model: MODEL, messages: userMsg('search again'), stream: true, fake: { server_tool_use: tools } });
    const text = await s.text();
    const last = text.split('\n\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).at(-1);
    assert.deepEqual(last.usage.server_tool_use, tools);
    const after = await settled('searcher');
    const want = costOf(body.usage) + costOf(last.usage);
    // 3 searches at 0.75/1000 and 2 fetches at 0.5/1000 = 0.00325 each time, on top of the tokens
    assert.equal(costOf(body.usage) - costOf({ ...body.usage, server_tool_use: undefined }), 3250000n);
    assert.equal(nano('1') - nano(after.balance), want, 'billed tokens plus calls, exactly');
    const rows = await ledger('searcher');
    assert.equal(rows.length, 2);
    assert.equal(rows.reduce((a, x) => a + nano(x.cost), 0n), want);
  });

  test('a server-side tool with no price in the key\'s currency: the hold is billed, marked estimated, never 0', T, async () => {
    // CNY has token prices but no search or fetch price (the default table's USD case)
    const y = (await keys(['create', '--name', 'yuan', '--balance', '1', '--currency', 'CNY'])).stdout.trim();
    await sleep(1200);
    const body = JSON.stringify({ model: MODEL, messages: userMsg('search in yuan'), max_tokens: 50,
      fake: { server_tool_use: { web_search_requests: 1 } } });
    const r = await fetch(`${st.baseURL}/chat/completions`, {
      method: 'POST', headers: { Authorization: `Bearer ${y}`, 'Content-Type': 'application/json' }, body });
    assert.equal(r.status, 200);
    await r.text();
    const after = await settled('yuan');
    // the hold: every body byte a cache-miss token at 1 CNY/1M, plus 50 output tokens at 2/1M
    const hold = BigInt(Buffer.byteLength(body)) * 1000n + 50n * 2000n;
    assert.equal(nano('1') - nano(after.balance), hold);
    const rows = await ledger('yuan');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].estimated, true);
    assert.ok(await st.waitLog(/usage cannot be priced \(a server-side tool was used that has no price\); billing the hold/));
  });

  test('a balance short of the body\'s bytes but enough for its counted prompt is admitted; images are held at hold_image_tokens', T, async () => {
    // ~8 KB of English: the first hold counts every byte as a token (0.008 USD at 1/1M), the
    // counted one about a quarter of that; 0.004 covers only the second
    const words = 'the quick brown fox jumps over the lazy dog while seekd counts tokens ';
    const text = words.repeat(Math.ceil(8000 / words.length));
    const k = (await keys(['create', '--name', 'tight', '--balance', '0.004'])).stdout.trim();
    await sleep(1200);
    const r = await post(k, { model: MODEL, messages: userMsg(text), max_tokens: 10 });
    assert.equal(r.status, 200, await r.clone().text());
    const body = await r.json();
    const after = await settled('tight');
    assert.equal(nano('0.004') - nano(after.balance), costOf(body.usage), 'billed its usage, exactly');
    // an image part: 100 tokens held for it, whatever its bytes (a 20 KB data URL here)
    const image = { type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(20000)}` } };
    const r2 = await post(k, { model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, image] }] });
    assert.equal(r2.status, 200, await r2.clone().text());
    await r2.text();
    // and one whose counted prompt does not fit either: DeepSeek's 402
    const r3 = await post(k, { model: MODEL, messages: userMsg(text.repeat(4)), max_tokens: 10 });
    assert.equal(r3.status, 402);
    assert.equal(await r3.text(), NO_BALANCE);
    assert.equal((await settled('tight')).held, '0.000000000');
  });

  test('500 concurrent requests, half streaming, on a balance that covers some: no overspend, the rest 402, and initial - final == the ledger', T, async (t) => {
    // Each hold is the body's bytes at the miss price plus max_tokens (100) at the output
    // price: about 0.0004 USD. 0.05 USD covers about 125 of them at once; the fake holds
    // every answer 400 ms, so most of the 500 arrive while the first are still in flight.
    const initial = '0.05';
    const k = (await keys(['create', '--name', 'crowd', '--balance', initial])).stdout.trim();
    await sleep(1200);
    await st.fakeReset();
    const one = async (i) => {
      const stream = i % 2 === 0;
      const r = await post(k, {
        model: MODEL, messages: userMsg(`crowd ${i}`), max_tokens: 100, stream,
        fake: { chunks: 2, delay_ms: 200 },
      });
      const text = await r.text();
      if (r.status !== 200) return { status: r.status, text };
      if (!stream) return { status: 200, usage: JSON.parse(text).usage };
      const chunks = text.split('\n\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
      assert.ok(text.endsWith('data: [DONE]\n\n'), 'every admitted stream ends properly');
      return { status: 200, usage: chunks.at(-1).usage };
    };
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => one(i)));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    for (const r of refused) {
      assert.equal(r.status, 402, r.text);
      assert.equal(r.text, NO_BALANCE, 'DeepSeek\'s body, byte for byte');
    }
    t.diagnostic(`admitted ${ok.length}, refused ${refused.length}`);
    assert.ok(ok.length >= 50, `some were admitted: ${ok.length}`);
    assert.ok(refused.length >= 50, `some were refused: ${refused.length}`);
    assert.equal((await st.fakeStats()).requests, ok.length, 'a refused request never reached the upstream');
    const spent = ok.reduce((a, r) => a + costOf(r.usage), 0n);
    const after = await settled('crowd');
    assert.equal(after.held, '0.000000000');
    assert.ok(nano(after.balance) >= 0n, `never below zero: ${after.balance}`);
    assert.equal(nano(initial) - nano(after.balance), spent, 'initial - final == the costs the clients were shown');
    const rows = await ledger('crowd');
    assert.equal(rows.length, ok.length, 'one ledger row per admitted request');
    assert.equal(rows.reduce((a, x) => a + nano(x.cost), 0n), spent, 'and the ledger says the same, to the nano-unit');
    assert.ok(rows.every((x) => x.status === 'ok' && !x.estimated));
    const v = await runSeekd(['ledger', 'verify', '--db', db]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test('kill -9 with 100 streams open: a second server sharing the database leaves them alone; after a restart no hold is open, each is logged, and the ledger verifies', T, async () => {
    const k = (await keys(['create', '--name', 'crash', '--balance', '10'])).stdout.trim();
    await sleep(1200);
    const before = await show('crash');
    // 100 slow streams: 60 chunks, 200 ms apart, far longer than the test waits
    const opened = [];
    const readers = [];
    for (let i = 0; i < 100; i++) {
      opened.push((async () => {
        const r = await post(k, { model: MODEL, messages: userMsg(`crash ${i}`), stream: true, fake: { chunks: 60, delay_ms: 200 } });
        assert.equal(r.status, 200);
        const reader = r.body.getReader();
        readers.push(reader);
        let got = '';
        while (!/"content":"[^"]/.test(got)) {
          const { value, done } = await reader.read();
          if (done) break;
          got += new TextDecoder().decode(value);
        }
      })());
    }
    await Promise.all(opened);
    const mid = await show('crash');
    assert.ok(nano(mid.held) > 0n, 'the 100 streams hold money');

    // another server on the same database: the holds are a live server's, it must not touch them
    const other = await startStack({ serverKey: SERVER_KEY, config: CONFIG, seekdArgs: ['--db', db], logLevel: 'info' });
    try {
      await sleep(LEASE_MS + 2500);
      assert.doesNotMatch(other.logs(), /released hold/);
      assert.equal((await show('crash')).held, mid.held, 'a live server\'s holds stay held');

      st.seekd.kill('SIGKILL');
      const { signal } = await st.seekd.exited;
      assert.equal(signal, 'SIGKILL');
      for (const r of readers) r.cancel().catch(() => {});
      // the killed server's holds are still in the database, consistent but unresolved
      assert.equal((await show('crash')).held, mid.held);
      const open = await runSeekd(['ledger', 'verify', '--db', db]);
      assert.equal(open.code, 0, open.stdout);

      // it restarts; within a lease and a sweep every one of its holds is released, and said
      await st.stop(); // its fake upstream; the killed server is gone already
      st = m.st = await startStack({ serverKey: SERVER_KEY, config: CONFIG, seekdArgs: ['--db', db], logLevel: 'info' });
      let after;
      for (let i = 0; i < 100; i++) {
        after = await show('crash');
        if (after.held === '0.000000000') break;
        await sleep(200);
      }
      assert.equal(after.held, '0.000000000', 'no hold left open');
      const released = (st.logs() + other.logs())
        .match(/accounts: released hold \d+ of key [0-9a-f]{12} \(request [^)]*\): its server \([^)]+\) stopped/g) || [];
      assert.equal(released.length, 100);
      assert.equal(after.balance, before.balance, 'released, not billed: what they delivered is not known');
      const v = await runSeekd(['ledger', 'verify', '--db', db]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /^ledger ok: /);
    } finally {
      await other.stop();
    }
  });
});
