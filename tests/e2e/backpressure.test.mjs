// backpressure.test.mjs - a slow client slows the upstream down instead of filling seekd's
// memory, and a client that stops reading is dropped after client_timeout_ms with its upstream
// transfer cancelled: seekd never buffers without bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, waitFor, SANITIZED } from './harness.mjs';

let st;
before(async () => {
  st = await startStack({ config: 'max_output = 64k\nclient_timeout_ms = 1500\n' });
});
after(async () => { await st?.stop(); });

function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]);
}

// ~30k chunks of 4 bytes: about 7 MB of SSE, far beyond socket buffers plus 64 KiB.
const N = 120000;
const BODY = JSON.stringify({
  model: 'deepseek-chat', stream: true,
  messages: [{ role: 'user', content: 'echo:' + 'x'.repeat(N) }],
});
// The same answer, but the fake then holds the stream open forever instead of ending it (stall
// after every event): only a cancel by seekd can end that upstream request.
const STALL_BODY = JSON.stringify({ ...JSON.parse(BODY), fake: { fault: 'stall', after: 1 << 30 } });
// What seekd may grow by for one stalled 7 MB answer: its 64 KiB output cap and the 7 MB are
// far apart, so 2 MiB is loose for allocator noise and still fails if seekd read even a third
// of the answer into memory.
const MAX_GROWTH_KIB = 2 * 1024;

test('a client reading slower than the upstream still gets every byte', { timeout: 30000 }, async () => {
  const res = await st.fetch('/chat/completions', { body: BODY, headers: { 'Content-Type': 'application/json' }, timeoutMs: 25000 });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let text = '';
  let reads = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
    if (++reads % 20 === 0) await sleep(10); // a slow reader
  }
  assert.ok(text.endsWith('data: [DONE]\n\n'), 'complete stream');
  let content = '';
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    content += JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? '';
  }
  assert.equal(content, 'x'.repeat(N));
  assert.ok(await st.waitLog(/stream=1 status=200 .* ok\n/, 2000), 'logged as a complete answer');
});

test('a client that stops reading is dropped and its upstream cancelled', { timeout: 20000 }, async () => {
  await st.fakeReset();
  const rss0 = rssKiB(st.seekd.pid);
  const sock = net.connect(st.port, '127.0.0.1');
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  sock.pause(); // never read a byte
  sock.write(`POST /chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test-0123456789abcdef\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(STALL_BODY)}\r\n\r\n${STALL_BODY}`);
  // The upstream's side: its never-ending request was cancelled (the fake saw seekd close it).
  const s = await waitFor(async () => { const x = await st.fakeStats(); return x.cancelled >= 1 ? x : null; }, 10000);
  assert.ok(s, `the upstream request was never cancelled; logs:\n${st.logs().slice(-2000)}`);
  assert.equal(s.cancelled, 1);
  assert.equal(s.completed, 0, 'the upstream request did not end by itself');
  assert.equal(s.active, 0, 'nothing left in flight at the upstream');
  assert.ok(await st.waitLog(/status=499 .* client disconnected; upstream cancelled/, 2000),
    `seekd logs the dropped client; logs:\n${st.logs().slice(-2000)}`);
  // The upstream was paused, not drained into seekd: its memory stayed flat. Under
  // AddressSanitizer freed memory sits in quarantine, so RSS says nothing there.
  const grown = rssKiB(st.seekd.pid) - rss0;
  console.log(`seekd grew by ${grown} KiB for one stalled client`);
  if (!SANITIZED) {
    assert.ok(grown < MAX_GROWTH_KIB, `seekd grew by ${grown} KiB for one stalled client (7 MB answer)`);
  }
  sock.destroy();
  const res = await st.fetch('/ping');
  assert.equal(await res.text(), 'pong');
});
