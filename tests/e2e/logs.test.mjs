// logs.test.mjs - what an operator reads: each answered request's log line names the upstream
// and key that served it and the client's address, with dur_ms never below upstream_ttfb_ms;
// log_level = debug adds each attempt (where it went, how it ended) and each probe; keys are
// never written in full.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, userMsg, waitFor, keyId, TEXT_ANSWER } from './harness.mjs';

const T = { timeout: 15000 };
const K = ['sk-logs-first-aaaa1111', 'sk-logs-second-bbbb2222'];

/** How logs name a key: its key id. */
const keyName = keyId;

function poolConfig(extra = '') {
  return (url) => `${extra}\n[upstream up1]\nurl = ${url}\napi_key = ${K.join(', ')}\n`;
}

function lineOf(logs, rid) {
  return logs.split('\n').find((l) => l.includes(`req=${rid} POST /chat/completions`));
}

async function chat(st, fake = {}) {
  const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi'), fake } });
  const body = await res.json();
  return { res, body, rid: res.headers.get('x-request-id') };
}

describe('log lines at debug', () => {
  let st;
  before(async () => {
    st = await startStack({ config: poolConfig('probe_interval_ms = 200\n'), fakeArgs: ['--key-fault', `${K[0]}=500`] });
  });
  after(async () => { await st?.stop(); });

  test('the request line names the upstream, the key that served and the client; dur_ms >= upstream_ttfb_ms', T, async () => {
    const { res, body, rid } = await chat(st);
    assert.equal(res.status, 200);
    assert.equal(body.choices[0].message.content, TEXT_ANSWER);
    assert.ok(await st.waitLog(new RegExp(`req=${rid} POST /chat/completions`)));
    const line = lineOf(st.logs(), rid);
    // the first key answered 500, so the second one served
    assert.match(line, new RegExp(`status=200 upstream=up1 key=${keyName(K[1])} upstream_ttfb_ms=`), line);
    assert.match(line, /client=127\.0\.0\.1 /);
    const ttfb = Number(line.match(/upstream_ttfb_ms=([\d.]+)/)[1]);
    const dur = Number(line.match(/dur_ms=([\d.]+)/)[1]);
    assert.ok(ttfb > 0 && dur >= ttfb, `dur_ms ${dur} >= upstream_ttfb_ms ${ttfb}: ${line}`);
  });

  test('each attempt is logged: where it went, and how it ended', T, async () => {
    const { rid } = await chat(st);
    assert.ok(await st.waitLog(new RegExp(`req=${rid} attempt 2 on upstream up1`)));
    const lines = st.logs().split('\n').filter((l) => / debug /.test(l) && l.includes(`req=${rid} attempt`));
    assert.equal(lines.length, 4, lines.join('\n'));
    // a failure before the first byte is also worth a line at info
    assert.ok(st.logs().includes(`req=${rid} attempt 1 on upstream up1 key ${keyName(K[0])} failed before the first byte: Server Error`));
    assert.match(lines[0], new RegExp(`attempt 1: upstream up1 key ${keyName(K[0])}, POST /chat/completions through (builtin|libcurl)`));
    assert.match(lines[1], new RegExp(`attempt 1 on upstream up1 key ${keyName(K[0])}: status 500, failed: Server Error`));
    assert.match(lines[2], new RegExp(`attempt 2: upstream up1 key ${keyName(K[1])}, POST /chat/completions`));
    assert.match(lines[3], new RegExp(`attempt 2 on upstream up1 key ${keyName(K[1])}: status 200, answered`));
  });

  test('probes are logged, and no key appears in full anywhere', T, async () => {
    await st.setKeyFault(K[1], '401');
    const { res } = await chat(st); // both keys fail: the second is disabled, then probed
    assert.equal(res.status, 502);
    assert.ok(await waitFor(async () => /probe of upstream up1 key \S+ \(disabled\): GET \/models/.test(st.logs()), 5000), st.logs().slice(-2000));
    assert.ok(await st.waitLog(/probe of upstream up1 key \S+: probe answered 401/, 5000));
    for (const k of K) assert.ok(!st.logs().includes(k) && !st.logs().includes(k.slice(3)), `key ${k} in the log`);
    await st.setKeyFault(K[1], null);
  });
});

test('at log_level info an answered attempt adds no line', T, async () => {
  const st = await startStack({ config: poolConfig(), logLevel: 'info' });
  try {
    const { res, rid } = await chat(st);
    assert.equal(res.status, 200);
    assert.ok(await st.waitLog(new RegExp(`req=${rid} POST`)));
    assert.ok(!st.logs().includes(`req=${rid} attempt`), st.logs());
  } finally { await st.stop(); }
});
