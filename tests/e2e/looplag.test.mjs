// looplag.test.mjs - large request bodies are parsed and validated on the worker pool, not on
// the event loop: the loop does not stall while several 8 MB bodies are read, and a client
// that leaves while its body is parsed costs nothing afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, userMsg, TEXT_ANSWER } from './harness.mjs';

let st;
before(async () => { st = await startStack({ config: 'max_body = 16m\n' }); });
after(async () => { await st?.stop(); });

function words(bytes, seed) {
  const parts = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = `w${(i * 7919 + seed) % 100003} `;
    parts.push(w);
    n += w.length;
  }
  return parts.join('').slice(0, bytes);
}

test('the loop does not stall while four 8 MB bodies are parsed', { timeout: 60000 }, async () => {
  // seekd's own measure of its loop (GET /health details: loop.recent_max_stall_ms, the
  // longest stretch the loop thread ran without getting back to its events since the last
  // read), so the figure does not depend on how busy this machine is. Parsing an 8 MB body
  // with jansson takes ~80 ms optimized and ~300 ms under ASan: on the loop, that was a stall.
  await st.health(); // starts a new window
  const bodies = [...Array(4).keys()].map((i) => JSON.stringify({ model: 'deepseek-chat', messages: userMsg(words(8e6, i)) }));
  const res = await Promise.all(bodies.map((b) => st.fetch('/chat/completions', {
    body: b, headers: { 'Content-Type': 'application/json' }, timeoutMs: 50000,
  }).then(async (r) => [r.status, await r.json()])));
  for (const [status, j] of res) {
    assert.equal(status, 200, JSON.stringify(j).slice(0, 300));
    assert.equal(j.choices[0].message.content, TEXT_ANSWER);
  }
  const loop = (await st.health()).loop;
  // What stays on the loop is reading the bytes and writing them upstream: a few ms, tens
  // under ASan.
  assert.ok(loop.recent_max_stall_ms < 60, `the loop stalled ${loop.recent_max_stall_ms} ms: ${JSON.stringify(loop)}`);
});

test('a client that leaves while its large body is parsed: nothing is sent upstream, the server serves on', { timeout: 30000 }, async () => {
  await st.fakeReset();
  const body = JSON.stringify({ model: 'deepseek-chat', messages: userMsg(words(8e6, 7)) });
  const u = new URL(st.baseURL);
  await new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.write(`POST /chat/completions HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\n`
        + `Authorization: Bearer sk-test-0123456789abcdef\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
      s.end(body, () => { s.destroy(); resolve(); }); // gone as soon as the last byte is out
    });
    s.on('error', reject);
  });
  await sleep(1500); // longer than the parse takes, even under ASan
  assert.equal((await st.fakeStats()).requests, 0, 'the abandoned request never reached the upstream');
  const r = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi') } });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).choices[0].message.content, TEXT_ANSWER);
});
