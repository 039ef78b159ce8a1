// backpressure.test.mjs - a client that stops reading is dropped once max_output bytes wait for
// it, and its upstream transfer is cancelled: seekd never buffers without bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startStack } from './harness.mjs';

let st;
before(async () => {
  st = await startStack({ config: 'max_output = 64k\n' });
});
after(async () => { await st?.stop(); });

function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]);
}

test('a client that stops reading is dropped, its answer not buffered', { timeout: 20000 }, async () => {
  await st.fakeReset();
  const rss0 = rssKiB(st.seekd.pid);
  // ~100k chunks of 4 bytes: about 25 MB of SSE, far beyond socket buffers plus 64 KiB.
  const body = JSON.stringify({
    model: 'deepseek-chat', stream: true,
    messages: [{ role: 'user', content: 'echo:' + 'x'.repeat(400000) }],
  });
  const sock = net.connect(st.port, '127.0.0.1');
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  sock.pause(); // never read a byte
  sock.write(`POST /chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-test-0123456789abcdef\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const m = await st.waitLog(/stream=1 status=200 .* dropped: client not reading/, 15000);
  assert.ok(m, `seekd logs the drop; logs:\n${st.logs().slice(-2000)}`);
  // The fake may finish writing into socket buffers before the drop, so its counters cannot show
  // the cancel; what matters is that seekd kept no more than its cap for this client.
  const grown = rssKiB(st.seekd.pid) - rss0;
  assert.ok(grown < 16 * 1024, `seekd grew by ${grown} KiB for one stalled client (25 MB answer)`);
  const stats = await st.fakeStats();
  assert.equal(stats.requests, 1);
  sock.destroy();
  // seekd is fine afterwards
  const res = await st.fetch('/ping');
  assert.equal(await res.text(), 'pong');
});
