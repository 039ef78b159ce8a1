// limits.test.mjs - what one client can cost seekd, on the raw wire (node:net) with small
// configured limits: a request head has a deadline from its first byte (slowloris), a body a
// minimum rate; connections have a global and a per-address cap with a clean refusal; a request
// that needs a key is refused from its head, before its body is read or 100 Continue is sent;
// request bodies held at once are capped across connections; and under descriptor exhaustion
// new clients get a 503 instead of hanging in the backlog. Also: 1-byte chunks cost linear time.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack } from './harness.mjs';

const T = { timeout: 20000 };
const AUTH = 'Authorization: Bearer sk-test-0123456789abcdef\r\n';
const stacks = [];
after(async () => { for (const s of stacks) await s.stop(); });

async function stack(config) {
  const st = await startStack({ config, logLevel: 'info' });
  stacks.push(st);
  return st;
}

/** A raw connection collecting everything the server sends, and whether it closed. */
async function open(st) {
  const sock = net.connect({ port: st.port, host: '127.0.0.1' });
  const c = { sock, data: '', closed: false, error: null };
  sock.setEncoding('latin1');
  sock.on('data', (d) => { c.data += d; });
  sock.on('error', (e) => { c.error = e; });
  sock.on('close', () => { c.closed = true; });
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  c.write = (s) => new Promise((resolve) => sock.write(s, () => resolve()));
  return c;
}

async function until(pred, ms, what) {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
  return Date.now() - t0;
}

const statusOf = (c) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(c.data)?.[1] || 0);
const ping = 'GET /ping HTTP/1.1\r\nHost: x\r\n\r\n';

/** Opens connections (each served a ping) until one is refused; returns [held, refused]. The
 * harness's own fetch may keep one connection open, so the refusal comes at max or one before. */
async function fillUntilRefused(st, max) {
  const held = [];
  for (let i = 0; i <= max + 1; i++) {
    const c = await open(st);
    await c.write(ping);
    await until(() => statusOf(c) || c.closed, 5000, `connection ${i}`);
    if (statusOf(c) !== 200) {
      await until(() => c.closed, 5000, 'refused connection closed');
      assert.ok(i >= max - 1 && i <= max, `refused at connection ${i} of max ${max}`);
      return [held, c];
    }
    held.push(c);
  }
  throw new Error(`${max + 2} connections and none refused`);
}


test('a head sent one byte at a time is dropped at header_timeout_ms, not kept alive by each byte', T, async () => {
  // client_timeout_ms (the idle clock, reset by every byte) is 5 s, the head deadline 1 s.
  const st = await stack('header_timeout_ms = 1000\nclient_timeout_ms = 5000\n');
  const c = await open(st);
  const t0 = Date.now();
  const head = 'GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(100);
  for (let i = 0; i < head.length && !c.closed && Date.now() - t0 < 4500; i++) {
    await c.write(head[i]);
    await sleep(200);
  }
  assert.ok(c.closed, 'still open after 4.5 s of trickling');
  const took = Date.now() - t0;
  // 1 s deadline; up to 3.5 s for a loaded ASan build. The idle clock alone would never fire.
  assert.ok(took >= 900 && took < 3500, `closed after ${took} ms`);
  assert.equal(c.data, '', 'dropped without an answer, as for silence');
  const p = await open(st); // and the server serves everybody else
  await p.write(ping);
  await until(() => statusOf(p) === 200, 5000, 'pong');
  p.sock.destroy();
});

test('a body slower than min_body_rate gets 408 and the connection closes', T, async () => {
  const st = await stack('header_timeout_ms = 1000\nclient_timeout_ms = 10000\nmin_body_rate = 1k\n');
  const c = await open(st);
  const t0 = Date.now();
  await c.write(`POST /chat/completions HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 100000\r\n\r\n`);
  while (!c.closed && Date.now() - t0 < 8000) { // 50 bytes every 200 ms: 250 B/s
    await c.write('x'.repeat(50));
    await sleep(200);
  }
  const took = Date.now() - t0;
  assert.equal(statusOf(c), 408, c.data.slice(0, 200));
  assert.match(c.data, /request body arrives too slowly/);
  // one 1 s window, checked once it ends; 5 s is slack for ASan. Idle (10 s) cannot explain it.
  assert.ok(took < 5000, `closed after ${took} ms`);
});

test('max_connections: one more client gets 503 with Retry-After and a close; a freed slot serves again', T, async () => {
  const st = await stack('max_connections = 6\n');
  const [held, extra] = await fillUntilRefused(st, 6);
  assert.equal(statusOf(extra), 503, extra.data.slice(0, 200));
  assert.match(extra.data, /\r\nRetry-After: 1\r\n/);
  assert.match(extra.data, /too many connections/);
  assert.equal(extra.error, null, 'a FIN, not a reset');
  held.pop().sock.destroy();
  // the server counts the slot free once it saw the close: retry a few times
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    const c = await open(st);
    await c.write(ping);
    await until(() => statusOf(c) || c.closed, 5000, 'answer');
    ok = statusOf(c) === 200;
    c.sock.destroy();
    if (!ok) await sleep(50);
  }
  assert.ok(ok, 'a slot freed by a close is reused');
  for (const h of held) h.sock.destroy();
});

test('max_connections_per_ip, when configured, holds loopback too: the extra one gets 429', T, async () => {
  const st = await stack('max_connections_per_ip = 3\n');
  const [held, extra] = await fillUntilRefused(st, 3);
  assert.equal(statusOf(extra), 429, extra.data.slice(0, 200));
  assert.match(extra.data, /too many connections from this address/);
  for (const h of held) h.sock.destroy();
});

test('a request without a key is refused from its head: 401 before its body, no 100 Continue', T, async () => {
  const st = await stack('');
  // Expect: 100-continue: the answer is the 401, never a 100 inviting the body
  const c = await open(st);
  await c.write('POST /chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n' +
    'Expect: 100-continue\r\n\r\n');
  await until(() => c.closed, 5000, 'closed after the 401');
  assert.equal(statusOf(c), 401, c.data.slice(0, 200));
  assert.doesNotMatch(c.data, /100 Continue/);
  assert.match(c.data, /\r\nConnection: close\r\n/);
  // without Expect: the 401 comes without waiting for a byte of the body
  const d = await open(st);
  await d.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n{');
  await until(() => statusOf(d), 5000, 'the 401 before the body');
  assert.equal(statusOf(d), 401);
  d.sock.destroy();
  // with a key, 100 Continue still comes
  const e = await open(st);
  await e.write(`POST /chat/completions HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 2\r\nExpect: 100-continue\r\n\r\n`);
  await until(() => e.data.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), 5000, '100 Continue');
  e.sock.destroy();
});

test('max_body_total: a body beyond what all connections may hold gets 503 + Retry-After before it is read', T, async () => {
  const st = await stack('max_body = 64k\nmax_body_total = 100k\n');
  const a = await open(st);
  await a.write(`POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n` + 'x'.repeat(1000));
  await sleep(200); // a's 60 000 bytes are held
  const b = await open(st);
  await b.write(`POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n`);
  await until(() => b.closed, 5000, 'b refused');
  assert.equal(statusOf(b), 503, b.data.slice(0, 200));
  assert.match(b.data, /\r\nRetry-After: 1\r\n/);
  // a goes on and is answered; then its bytes are free again for another
  await a.write('x'.repeat(59000));
  await until(() => statusOf(a) === 404, 5000, 'a answered');
  a.sock.destroy();
  const c = await open(st);
  await c.write(`POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n` + 'x'.repeat(50000));
  await until(() => statusOf(c), 5000, 'c answered');
  assert.equal(statusOf(c), 404);
  c.sock.destroy();
});

test('out of descriptors, new clients get a 503 rather than hanging in the backlog', T, async () => {
  const st = await stack('');
  // 48 descriptors in all: the listener, libevent's, the log, the upstream's... leave ~30
  execFileSync('prlimit', ['--pid', String(st.seekd.pid), '--nofile=48:48']);
  const conns = [];
  for (let i = 0; i < 60; i++) conns.push(await open(st));
  // the first ones are served; the ones past the limit are refused, none is left hanging
  await until(() => conns.every((c) => c.closed || c.data.length || false) ||
    conns.filter((c) => c.closed).length > 0, 5000, 'a refusal');
  const refused = conns.filter((c) => c.closed && statusOf(c) === 503);
  assert.ok(refused.length > 0, `no 503 among ${conns.length} connections`);
  for (const c of conns) c.sock.destroy();
  await sleep(300);
  const p = await open(st);
  await p.write(ping);
  await until(() => statusOf(p) === 200, 5000, 'pong after the pressure');
  p.sock.destroy();
});

test('1-byte chunks cost linear time: a body of 1 000 000 of them is read in seconds', { timeout: 60000 }, async () => {
  // Each chunk line used to memmove all input buffered behind it (up to 128 KiB): ~14 s for
  // this body on an ASan build. Linear, it takes well under one; 5 s leaves room for 2 loaded
  // cores.
  const st = await stack('');
  const n = 1000000;
  const c = await open(st);
  const t0 = Date.now();
  await c.write(`POST /nowhere HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${'1\r\nz\r\n'.repeat(n)}0\r\n\r\n`);
  await until(() => statusOf(c), 30000, 'the answer');
  const took = Date.now() - t0;
  assert.equal(statusOf(c), 404);
  assert.ok(took < 5000, `${n} one-byte chunks took ${took} ms`);
  c.sock.destroy();
});
