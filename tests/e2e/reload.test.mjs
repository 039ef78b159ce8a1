// reload.test.mjs - SIGHUP reloads the settings without dropping a connection: new requests get
// the new upstreams, keys, limits and log level; answers in flight finish as they began (the
// replaced key pool is freed after its last one); settings that do not load change nothing;
// what only a restart can change (the listen address) is named in the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, userMsg, parseSSE, withDeadline, ADMIN_TOKEN, TEXT_ANSWER } from './harness.mjs';

const T = { timeout: 20000 };
const K1 = 'sk-reload-first-1111aaaa';
const K2 = 'sk-reload-second-2222bbbb';
// The harness writes its admin_token line first: this text starts on the file's line 2.
const cfgFor = (url, key, extra = '') => `${extra}[upstream a]\nurl = ${url}\napi_key = ${key}\n`;
const write = (st, text) => fs.writeFileSync(path.join(st.dir, 'seekd.conf'), `admin_token = ${ADMIN_TOKEN}\n${text}`);

async function hup(st, re = /reload: settings applied/) {
  const n = (st.logs().match(new RegExp(re.source, 'g')) || []).length;
  st.seekd.kill('SIGHUP');
  for (let i = 0; i < 200; i++) {
    if ((st.logs().match(new RegExp(re.source, 'g')) || []).length > n) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${re} after SIGHUP:\n${st.logs().slice(-1500)}`);
}

const chat = (st) => st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi') } });

test('SIGHUP: new requests use the new key; a stream in flight finishes on the old pool, then it is freed', T, async () => {
  const st = await startStack({ config: (url) => cfgFor(url, K1) });
  try {
    const streamRes = await st.fetch('/chat/completions', {
      json: { model: 'deepseek-chat', messages: userMsg('hi'), stream: true, fake: { chunks: 8, delay_ms: 150 } },
    });
    const streamText = streamRes.text();
    write(st, cfgFor(st.fakeUrl, K2));
    await hup(st);
    const r = await chat(st);
    assert.equal(r.status, 200);
    assert.equal((await r.json()).choices[0].message.content, TEXT_ANSWER);
    const { events } = parseSSE(await streamText);
    assert.equal(events.at(-1), '[DONE]', 'the stream in flight finished whole');
    assert.deepEqual((await st.fakeStats()).by_key, { [K1]: 1, [K2]: 1 }, 'the stream on the old key, the new request on the new one');
    assert.ok(await st.waitLog(/reload: the replaced upstream pool has finished its last request/, 3000), st.logs().slice(-1500));
    st.seekd.kill('SIGTERM');
    assert.deepEqual(await withDeadline(st.seekd.exited, 5000, null), { code: 0, signal: null }, st.logs().slice(-2000));
  } finally { await st.stop(); }
});

test('SIGHUP with settings that do not load changes nothing', T, async () => {
  const st = await startStack({ config: (url) => cfgFor(url, K1) });
  try {
    write(st, cfgFor(st.fakeUrl, K2, 'max_body = lots\n'));
    await hup(st, /reload: .*still running with the settings loaded before/);
    assert.match(st.logs(), /reload: \S*seekd\.conf:2: max_body must be/);
    const r = await chat(st);
    assert.equal(r.status, 200);
    assert.deepEqual((await st.fakeStats()).by_key, { [K1]: 1 }, 'still the first key');
  } finally { await st.stop(); }
});

test('SIGHUP applies the log level and limits; the listen address waits for a restart', T, async () => {
  const st = await startStack({ config: (url) => cfgFor(url, K1, 'listen = 127.0.0.1:0\nlog_level = info\n'), fileOnly: true });
  try {
    write(st, cfgFor(st.fakeUrl, K1, 'max_body = 1k\nlisten = 127.0.0.1:1\nlog_level = info\n'));
    await hup(st, /reload: listen stays/);
    assert.match(st.logs(), new RegExp(`reload: listen stays 127\\.0\\.0\\.1:${st.port} until a restart \\(the settings say 127\\.0\\.0\\.1:1\\)`));
    const big = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('x'.repeat(2000)) } });
    assert.equal(big.status, 413, 'the new max_body applies');
    await big.text();
    write(st, cfgFor(st.fakeUrl, K1, 'listen = 127.0.0.1:0\nlog_level = warn\n'));
    st.seekd.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    const before = st.logs().length;
    const r = await chat(st);
    assert.equal(r.status, 200);
    await r.text();
    await new Promise((r2) => setTimeout(r2, 200));
    assert.equal(st.logs().slice(before).includes('POST /chat/completions'), false, 'no info line at log_level warn');
  } finally { await st.stop(); }
});
