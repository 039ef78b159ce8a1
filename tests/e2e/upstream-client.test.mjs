// upstream-client.test.mjs - seekd's own HTTP/1.1 client (src/http/client.c), the transport of
// plain http:// upstreams, against a scripted upstream written here with node's `net` module:
// each test decides the exact bytes every accepted connection gets, and sees what seekd wrote.
// Covers the request on the wire, keep-alive reuse and its limits, stale pooled connections,
// framing (chunked with odd splits, extensions and trailers; close-delimited; 1xx heads; lenient
// heads), error statuses, an answer that comes before the request is sent, bad upstream bytes
// (each a 502 envelope or an error event, seekd serving on), connection refused, name
// resolution, and the startup line naming the transport. Every seekd must exit with code 0 (so
// under ASan: no error, no leak).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { SEEKD_BIN, FAKE_BIN, ADMIN_TOKEN, tmpDir, runSeekd, parseSSE, withDeadline, waitFor } from './harness.mjs';

const T = { timeout: 8000 };
const SERVER_KEY = 'sk-test-made-up-key';
const CLIENT_AUTH = 'Bearer sk-client-not-sent-upstream';

// Every seekd and scripted upstream this file started and has not stopped yet: a test that
// fails or times out half-way leaves nothing behind to keep node (or a port) alive.
const procs = new Set();
const servers = new Set();
process.on('exit', () => {
  for (const p of procs) {
    try { p.kill('SIGKILL'); } catch { /* gone */ }
  }
});
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all([...servers].map((s) => s.close()));
});

// What this machine allows: IPv6 loopback, and a user+mount namespace in which seekd can get
// its own /etc/hosts (for the ::1-first resolution test).
const hostsDir = tmpDir();
const hostsFile = path.join(hostsDir, 'hosts');
fs.writeFileSync(hostsFile, '::1 localhost\n127.0.0.1 localhost\n');
const nsOK = spawnSync('unshare', ['-rm', 'sh', '-c', `mount --bind ${hostsFile} /etc/hosts && head -1 /etc/hosts`],
  { encoding: 'utf8', timeout: 3000 }).stdout === '::1 localhost\n';
const v6OK = (() => {
  try {
    return fs.readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001');
  } catch { return false; }
})();
after(() => fs.rmSync(hostsDir, { recursive: true, force: true }));
const inHostsNs = (bin, args) => ['unshare', ['-rm', 'sh', '-c', `mount --bind "$0" /etc/hosts && exec "$@"`, hostsFile, bin, ...args]];

// ---- the scripted upstream ----

/** A TCP server that parses the HTTP/1.1 requests seekd sends (head + Content-Length body) and
 * hands each to `handler(req, conn, srv)`, which writes whatever bytes it likes to conn.sock.
 * conns: every accepted connection in order ({id, sock, requests, peerEnded, closed}). */
class Scripted {
  constructor(handler) {
    this.handler = handler;
    this.conns = [];
    this.requests = [];
    this.errors = [];
    this.server = net.createServer((sock) => this.accept(sock));
    servers.add(this);
  }

  async listen(host = '127.0.0.1', port = 0) {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => { this.server.off('error', reject); resolve(); });
    });
    this.port = this.server.address().port;
    return this;
  }

  accept(sock) {
    sock.setNoDelay(true);
    const conn = { id: this.conns.length + 1, sock, buf: Buffer.alloc(0), requests: [], peerEnded: false, closed: false };
    this.conns.push(conn);
    sock.on('data', (d) => {
      conn.received = (conn.received || 0) + d.length;
      if (conn.raw) return; // a test took the connection over
      conn.buf = Buffer.concat([conn.buf, d]);
      this.parse(conn);
    });
    sock.on('end', () => { conn.peerEnded = true; });
    sock.on('close', () => { conn.closed = true; });
    sock.on('error', () => { /* resets are part of the game */ });
  }

  parse(conn) {
    for (;;) {
      const he = conn.buf.indexOf('\r\n\r\n');
      if (he < 0) return;
      const lines = conn.buf.subarray(0, he).toString('latin1').split('\r\n');
      const [method, target, version, ...rest] = lines[0].split(' ');
      const headers = {};
      const rawHeaders = [];
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        const name = l.slice(0, i);
        const value = l.slice(i + 1).trim();
        rawHeaders.push([name, value]);
        headers[name.toLowerCase()] = value;
      }
      const cl = Number(headers['content-length'] ?? 0);
      if (this.onHead && !conn.headSeen) {
        conn.headSeen = true;
        // onHead may take the connection over (conn.raw = true) before the body is in
        this.onHead({ method, target, headers, headLen: he + 4, contentLength: cl }, conn);
        if (conn.raw) return;
      }
      if (conn.buf.length < he + 4 + cl) return;
      conn.headSeen = false;
      const body = conn.buf.subarray(he + 4, he + 4 + cl).toString('utf8');
      conn.buf = conn.buf.subarray(he + 4 + cl);
      const req = {
        n: this.requests.length + 1, method, target, version, extra: rest, headers, rawHeaders, body, conn,
      };
      conn.requests.push(req);
      this.requests.push(req);
      Promise.resolve()
        .then(() => this.handler(req, conn, this))
        .catch((e) => { this.errors.push(e); conn.sock.destroy(); });
    }
  }

  async close() {
    servers.delete(this);
    for (const c of this.conns) c.sock.destroy();
    if (this.server.listening) await new Promise((resolve) => this.server.close(resolve));
  }
}

// ---- answers ----

const USAGE = { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 };

function answerJSON(content = 'hi') {
  return JSON.stringify({
    id: 'x', object: 'chat.completion', created: 1, model: 'deepseek-chat',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: USAGE,
  });
}

function chunkJSON(delta, finish = null, usage = null) {
  return JSON.stringify({
    id: 'x', object: 'chat.completion.chunk', created: 1, model: 'deepseek-chat',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage,
  });
}

/** SSE events: the role chunk, one chunk per piece; with `end`, the finish chunk (with usage)
 * and [DONE]. */
function sse(pieces, { end = true } = {}) {
  const ev = [chunkJSON({ role: 'assistant', content: '' }), ...pieces.map((p) => chunkJSON({ content: p }))];
  if (end) ev.push(chunkJSON({ content: '' }, 'stop', USAGE));
  return ev.map((e) => `data: ${e}\n\n`).join('') + (end ? 'data: [DONE]\n\n' : '');
}

/** A 200 with Content-Length. */
function withLength(body, ctype = 'application/json', extra = '') {
  return Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: ${ctype}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n`),
    Buffer.from(body),
  ]);
}

/** Chunked coding of body in pieces of the given byte sizes (cycled), each chunk-size line
 * with `ext`, ended by the last chunk and `trailers` (lines with CRLF). */
function chunked(body, sizes = [7], ext = '', trailers = '') {
  const b = Buffer.from(body);
  const out = [];
  for (let off = 0, i = 0; off < b.length; i++) {
    const n = Math.min(sizes[i % sizes.length], b.length - off);
    out.push(Buffer.from(`${n.toString(16)}${ext}\r\n`), b.subarray(off, off + n), Buffer.from('\r\n'));
    off += n;
  }
  out.push(Buffer.from(`0${ext}\r\n${trailers}\r\n`));
  return Buffer.concat(out);
}

function chunkedHead(ctype) {
  return `HTTP/1.1 200 OK\r\nContent-Type: ${ctype}\r\nTransfer-Encoding: chunked\r\n\r\n`;
}

/** Writes buf in slices of `step` bytes, `delayMs` apart (stops if the socket goes). */
async function dribble(sock, buf, step = 1, delayMs = 1) {
  const b = Buffer.from(buf);
  for (let off = 0; off < b.length; off += step) {
    if (sock.destroyed) return;
    sock.write(b.subarray(off, off + step));
    await sleep(delayMs);
  }
}

// ---- seekd ----

/** The environment for seekd: no proxy or transport override inherited from ours. */
function seekdEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY',
    'no_proxy', 'NO_PROXY', 'SEEKD_UPSTREAM_CLIENT']) delete env[k];
  env.DEEPSEEK_API_KEY = SERVER_KEY;
  return { ...env, ...extra };
}

/** Starts seekd in front of `upstreamUrl`, with `config` (text of a config file) if given.
 * `wrap(bin, args)` may return [bin, args] to run it through another program that execs it
 * (same pid). */
async function startSeekd(upstreamUrl, { env = {}, wrap = null, config = null } = {}) {
  const dir = tmpDir();
  const portFile = path.join(dir, 'seekd.port');
  const args = ['serve', '--listen', '127.0.0.1:0', '--port-file', portFile, '--upstream', upstreamUrl,
    '--log-level', 'debug'];
  fs.writeFileSync(path.join(dir, 'seekd.conf'), `admin_token = ${ADMIN_TOKEN}\n${config || ''}`);
  args.push('--config', path.join(dir, 'seekd.conf'));
  const [bin, argv] = wrap ? wrap(SEEKD_BIN, args) : [SEEKD_BIN, args];
  const proc = spawn(bin, argv, { env: seekdEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
  procs.add(proc);
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { procs.delete(proc); resolve({ code, signal }); });
  });
  const sd = {
    proc,
    logs: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        if (!(await withDeadline(exited, 5000, null))) proc.kill('SIGKILL');
      }
      const r = await exited;
      fs.rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      await sd.stop();
      throw new Error(`seekd exited early: ${err}`);
    }
    try {
      const s = fs.readFileSync(portFile, 'utf8');
      if (s.endsWith('\n') && Number.parseInt(s, 10) > 0) {
        sd.url = `http://127.0.0.1:${Number.parseInt(s, 10)}`;
        return sd;
      }
    } catch { /* not yet */ }
    if (Date.now() - t0 > 5000) {
      await sd.stop();
      throw new Error(`seekd wrote no port file in 5 s: ${err}`);
    }
    await sleep(10);
  }
}

/** Runs fn({up, sd}) with a scripted upstream (`handler`) and a seekd in front of it; both are
 * stopped afterwards, and seekd must then exit cleanly (code 0: no sanitizer report). */
async function withStack(handler, fn, { url = (port) => `http://127.0.0.1:${port}`, env, wrap, config, upHost } = {}) {
  const up = await new Scripted(handler).listen(upHost);
  let sd = null;
  let exit = null;
  try {
    sd = await startSeekd(url(up.port), { env, wrap, config });
    await fn({ up, sd });
  } finally {
    if (sd) exit = await sd.stop();
    await up.close();
  }
  assert.deepEqual(exit, { code: 0, signal: null }, `seekd exits cleanly:\n${sd.logs().slice(-3000)}`);
  assert.deepEqual(up.errors, [], 'the scripted upstream had no errors');
}

/** POSTs a chat request (raw body string or object) to seekd; reads the whole answer. */
async function chat(sd, body, { timeoutMs = 5000 } = {}) {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const t0 = Date.now();
  const res = await fetch(`${sd.url}/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: CLIENT_AUTH },
    body: raw,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* a stream */ }
  return { status: res.status, ctype: res.headers.get('content-type') || '', retryAfter: res.headers.get('retry-after'), text, json, ms: Date.now() - t0, ...parseSSE(text) };
}

function req(text = 'hi', extra = {}) {
  return { model: 'deepseek-chat', messages: [{ role: 'user', content: text }], ...extra };
}

/** A 200 non-stream answer whose message content is `content`. */
function assertAnswer(r, content = 'hi', what = 'answer') {
  assert.equal(r.status, 200, `${what}: status (${r.text.slice(0, 300)})`);
  assert.equal(r.json?.choices?.[0]?.message?.content, content, `${what}: content (${r.text.slice(0, 300)})`);
  assert.equal(r.json.choices[0].finish_reason, 'stop');
  assert.deepEqual(r.json.usage && { p: r.json.usage.prompt_tokens, c: r.json.usage.completion_tokens }, { p: 5, c: 1 });
}

function streamContent(events) {
  let s = '';
  for (const e of events) for (const ch of e?.choices || []) if (typeof ch.delta?.content === 'string') s += ch.delta.content;
  return s;
}

/** A complete 200 stream: the exact content, a stop finish, [DONE] last, no error event. */
function assertStream(r, content, what = 'stream') {
  assert.equal(r.status, 200, `${what}: status (${r.text.slice(0, 300)})`);
  assert.match(r.ctype, /^text\/event-stream/);
  assert.equal(r.events.at(-1), '[DONE]', `${what}: ends with [DONE]:\n${r.text.slice(-500)}`);
  assert.ok(!r.events.some((e) => e?.error || e?.raw), `${what}: no error or broken event`);
  assert.equal(streamContent(r.events), content, `${what}: content`);
  assert.ok(r.events.some((e) => e?.choices?.[0]?.finish_reason === 'stop'), `${what}: finish_reason stop`);
}

/** A DeepSeek error envelope with this status and type, its message matching re. */
function assertEnvelope(r, status, type, re, what = 'error') {
  assert.equal(r.status, status, `${what}: status (${r.text.slice(0, 300)})`);
  assert.match(r.ctype, /^application\/json/);
  assert.equal(typeof r.json?.error, 'object', `${what}: envelope: ${r.text.slice(0, 300)}`);
  assert.equal(r.json.error.type, type, `${what}: type`);
  assert.equal(typeof r.json.error.message, 'string');
  assert.match(r.json.error.message, re, `${what}: message`);
}

/** A stream that broke after some events: those events, then one error event, no [DONE]. */
function assertStreamError(r, content, re, what = 'stream') {
  assert.equal(r.status, 200, `${what}: status (${r.text.slice(0, 300)})`);
  assert.ok(!r.events.includes('[DONE]'), `${what}: no [DONE] after a failure:\n${r.text.slice(-600)}`);
  const last = r.events.at(-1);
  assert.equal(typeof last?.error, 'object', `${what}: last event is an error: ${JSON.stringify(last)}`);
  assert.match(last.error.message, re, `${what}: error message`);
  for (const e of r.events.slice(0, -1)) assert.ok(!e.raw && !e.error, `${what}: only valid events before the error`);
  assert.equal(streamContent(r.events), content, `${what}: the content sent before the failure`);
}

/** Answers every request with a Content-Length JSON answer (keep-alive). */
const okHandler = (r, conn) => { conn.sock.write(withLength(answerJSON('hi'))); };

// ---- 1. the request seekd writes ----

test('request: POST /chat/completions, Host, Content-Length, server key, JSON body untouched', T, async () => {
  const raw = '{"model":"deepseek-chat","messages":[{"role":"user","content":"héllo 你好"}],"temperature":0.5}';
  await withStack(okHandler, async ({ up, sd }) => {
    const r = await chat(sd, raw);
    assertAnswer(r);
    assert.equal(up.requests.length, 1);
    const q = up.requests[0];
    assert.equal(q.method, 'POST');
    assert.equal(q.target, '/chat/completions');
    assert.equal(q.version, 'HTTP/1.1');
    assert.deepEqual(q.extra, []);
    const count = (name) => q.rawHeaders.filter(([n]) => n.toLowerCase() === name).length;
    for (const h of ['host', 'content-length', 'authorization', 'content-type']) assert.equal(count(h), 1, `one ${h} header`);
    assert.equal(q.headers.host, `127.0.0.1:${up.port}`);
    assert.equal(q.headers['content-length'], String(Buffer.byteLength(raw)));
    assert.equal(q.headers.authorization, `Bearer ${SERVER_KEY}`);
    assert.equal(q.headers['content-type'], 'application/json');
    assert.equal(q.headers.accept, 'application/json');
    assert.equal(q.headers['transfer-encoding'], undefined);
    assert.equal(q.headers.expect, undefined);
    assert.equal(q.body, raw, 'the client\'s bytes go upstream as they were');
  });
});

test('request: a stream to an upstream with a base path -> /v1/chat/completions, stream_options spliced in', T, async () => {
  const raw = '{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}],"stream":true}';
  const handler = (q, conn) => { conn.sock.write(withLength(sse(['Hel', 'lo']), 'text/event-stream')); };
  await withStack(handler, async ({ up, sd }) => {
    const r = await chat(sd, raw);
    assertStream(r, 'Hello');
    // DeepSeek's rule: the upstream's usage on the last chunk whether or not the client asked,
    // and no usage field on the chunks before it.
    const data = r.events.filter((e) => e && typeof e === 'object');
    assert.deepEqual(data.at(-1).usage, USAGE, 'the last chunk carries the usage');
    assert.ok(data.slice(0, -1).every((e) => !('usage' in e)), 'no usage field before it');
    const q = up.requests[0];
    assert.equal(q.method, 'POST');
    assert.equal(q.target, '/v1/chat/completions');
    assert.equal(q.headers.host, `127.0.0.1:${up.port}`);
    const want = `{"stream_options":{"include_usage":true},${raw.slice(1)}`;
    assert.equal(q.body, want);
    assert.equal(q.headers['content-length'], String(Buffer.byteLength(want)));
    assert.equal(q.headers.authorization, `Bearer ${SERVER_KEY}`);
    assert.equal(q.headers['content-type'], 'application/json');
    assert.equal(q.headers.accept, 'text/event-stream');
  }, { url: (port) => `http://127.0.0.1:${port}/v1` });
});

test('request: a base path with a trailing slash -> /v1/chat/completions (no double slash)', T, async () => {
  await withStack(okHandler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()));
    assert.equal(up.requests[0].target, '/v1/chat/completions');
  }, { url: (port) => `http://127.0.0.1:${port}/v1/` });
});

test('request: an IPv6 literal upstream -> Host [::1]:PORT', {
  ...T, skip: !v6OK ? 'no IPv6 loopback' : false,
}, async () => {
  await withStack(okHandler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()));
    assert.equal(up.requests[0].headers.host, `[::1]:${up.port}`);
  }, { url: (port) => `http://[::1]:${port}`, upHost: '::1' });
});

// ---- 2. keep-alive ----

test('keep-alive: sequential requests (non-stream, non-stream, chunked stream) share one connection', T, async () => {
  const handler = (q, conn) => {
    if (JSON.parse(q.body).stream) conn.sock.write(Buffer.concat([Buffer.from(chunkedHead('text/event-stream')), chunked(sse(['a', 'b']), [64])]));
    else conn.sock.write(withLength(answerJSON(JSON.parse(q.body).messages[0].content)));
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req('one')), 'one', 'first');
    assertAnswer(await chat(sd, req('two')), 'two', 'second');
    assertStream(await chat(sd, req('three', { stream: true })), 'ab', 'third');
    assertAnswer(await chat(sd, req('four')), 'four', 'fourth');
    assert.equal(up.conns.length, 1, 'one upstream connection');
    assert.deepEqual(up.conns[0].requests.map((q) => JSON.parse(q.body).messages[0].content), ['one', 'two', 'three', 'four']);
  });
});

test('keep-alive: a connection idle longer than upstream_idle_ms is closed, not reused', T, async () => {
  const handler = (q, conn) => conn.sock.write(withLength(answerJSON(JSON.parse(q.body).messages[0].content)));
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req('one')), 'one', 'first');
    assertAnswer(await chat(sd, req('two')), 'two', 'second, at once');
    await sleep(500);
    assertAnswer(await chat(sd, req('three')), 'three', 'third, after 500 ms idle');
    assert.deepEqual(up.conns.map((c) => c.requests.length), [2, 1]);
    for (let i = 0; i < 100 && !up.conns[0].peerEnded; i++) await sleep(20);
    assert.ok(up.conns[0].peerEnded, 'seekd closed the idle connection');
  }, { config: 'upstream_idle_ms = 300\n' });
  // the default (60 s) keeps it across the same pause
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req('one')), 'one');
    await sleep(500);
    assertAnswer(await chat(sd, req('two')), 'two');
    assert.deepEqual(up.conns.map((c) => c.requests.length), [2]);
  });
});

test('keep-alive: "Connection: close" answers and HTTP/1.0 answers are not reused', T, async () => {
  const handler = (q, conn) => {
    const n = q.n;
    if (n === 1) conn.sock.end(withLength(answerJSON('c1'), 'application/json', 'Connection: close\r\n'));
    else if (n === 2) {
      const b = answerJSON('c2');
      conn.sock.write(`HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
      // a 1.0 server without keep-alive closes afterwards; leave it open a while: seekd must
      // not reuse it anyway
      setTimeout(() => conn.sock.end(), 300);
    } else conn.sock.write(withLength(answerJSON('c3')));
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()), 'c1');
    assertAnswer(await chat(sd, req()), 'c2');
    assertAnswer(await chat(sd, req()), 'c3');
    assert.deepEqual(up.conns.map((c) => c.requests.length), [1, 1, 1]);
  });
});

test('keep-alive: bytes after a complete answer (in the same write, or later on the idle connection) end that connection', T, async () => {
  const stray = withLength(answerJSON('stray'));
  const handler = (q, conn) => {
    if (q.n === 1) conn.sock.write(Buffer.concat([withLength(answerJSON('n1')), stray]));
    else if (q.n === 2) {
      conn.sock.write(withLength(answerJSON('n2')));
      setTimeout(() => { if (!conn.sock.destroyed) conn.sock.write(stray); }, 50);
    } else conn.sock.write(withLength(answerJSON(`n${q.n}`)));
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()), 'n1');
    assertAnswer(await chat(sd, req()), 'n2', 'after excess bytes in the same write');
    await sleep(150);
    assertAnswer(await chat(sd, req()), 'n3', 'after stray bytes on the idle connection');
    assert.deepEqual(up.conns.map((c) => c.requests.length), [1, 1, 1]);
  });
});

test('keep-alive: stray bytes that reach an idle connection in the same loop pass as the next request never become its answer', { timeout: 30000 }, async () => {
  // seekd is stopped (SIGSTOP) while the client's next request and then a stray answer on the
  // idle upstream connection arrive, so on SIGCONT one epoll pass reports both, the request
  // first. Without a check at reuse, the request was written onto that connection and the
  // stray bytes, already there, were taken for its answer (another client's, in real life).
  let idle = null;
  const handler = (q, conn) => {
    conn.sock.write(withLength(answerJSON(`n${q.n}`)));
    idle = conn;
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()), 'n1');
    for (let i = 2; i <= 4; i++) {
      const c = idle;
      sd.proc.kill('SIGSTOP');
      const p = chat(sd, req(), { timeoutMs: 10000 });
      await sleep(100); // the request is in seekd's socket buffer (the client connection is kept alive)
      c.sock.write(withLength(answerJSON('stray')));
      await sleep(100);
      sd.proc.kill('SIGCONT');
      const r = await p;
      assert.equal(r.status, 200, `request ${i}: ${r.text.slice(0, 200)}`);
      assert.equal(r.json.choices[0].message.content, `n${up.requests.length}`, `request ${i}: its own answer`);
    }
    assert.deepEqual(up.conns.map((c) => c.requests.length), [1, 1, 1, 1], 'each stray-marked connection was dropped');
  });
});

// ---- 3. stale pooled connections ----

test('stale pool: upstream closes the connection (FIN) right after its answer -> next request on a new one', T, async () => {
  const handler = (q, conn) => { conn.sock.end(withLength(answerJSON(`n${q.n}`))); };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()), 'n1');
    assertAnswer(await chat(sd, req()), 'n2');
    assertAnswer(await chat(sd, req()), 'n3');
    assert.equal(up.conns.length, 3);
    // the close was noticed while idle: no request was written into a closed connection
    assert.deepEqual(up.conns.map((c) => c.requests.length), [1, 1, 1]);
  });
});

test('stale pool: upstream closes an idle connection later (keep-alive timeout) -> next request works', T, async () => {
  const handler = (q, conn) => {
    conn.sock.write(withLength(answerJSON(`n${q.n}`)));
    setTimeout(() => conn.sock.end(), 100);
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()), 'n1');
    await sleep(300);
    assert.ok(up.conns[0].peerEnded, 'seekd closed its side of the idle connection the server closed');
    assertAnswer(await chat(sd, req()), 'n2');
    assert.deepEqual(up.conns.map((c) => c.requests.length), [1, 1]);
  });
});

test('stale pool: upstream takes a request on a reused connection and closes without answering -> retried once on a new one', T, async () => {
  const handler = (q, conn) => {
    if (q.n === 2) conn.sock.destroy(); // got request 2's bytes, answers nothing
    else conn.sock.write(withLength(answerJSON(JSON.parse(q.body).messages[0].content)));
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req('first')), 'first');
    assertAnswer(await chat(sd, req('second')), 'second');
    assert.equal(up.conns.length, 2, 'exactly one new connection');
    const bodies = up.requests.map((q) => JSON.parse(q.body).messages[0].content);
    assert.deepEqual(bodies, ['first', 'second', 'second'], 'the second body went twice, no more');
    assert.deepEqual(up.conns.map((c) => c.requests.length), [2, 1]);
    assert.equal(up.requests[1].body, up.requests[2].body, 'the retry sends the same bytes');
  });
});

test('stale pool: the retry is once only — a reused connection and then the new one both closing -> 502', T, async () => {
  const handler = (q, conn) => {
    if (q.n >= 2) conn.sock.destroy();
    else conn.sock.write(withLength(answerJSON('first')));
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req('first')), 'first');
    const r = await chat(sd, req('second'));
    assertEnvelope(r, 502, 'api_error', /^upstream failed: connection closed before an answer$/);
    assert.equal(up.conns.length, 2);
    assert.equal(up.requests.length, 3, 'request 2 was sent twice, not more');
  });
});

// ---- 4. framing ----

test('framing: chunked JSON, one byte per write, chunk extensions and trailers; the connection is reused after', T, async () => {
  const body = answerJSON('chunked 你好 answer');
  const handler = async (q, conn) => {
    if (q.n === 1) {
      const bytes = Buffer.concat([
        Buffer.from(chunkedHead('application/json')),
        chunked(body, [1, 5, 17, 3, 40], ';ext=1;name="quoted value"', 'X-Trailer: yes\r\nX-Checksum: 123\r\n'),
      ]);
      await dribble(conn.sock, bytes, 1, 1);
    } else conn.sock.write(withLength(answerJSON('after')));
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req(), { timeoutMs: 7000 }), 'chunked 你好 answer');
    assertAnswer(await chat(sd, req()), 'after', 'the next request');
    assert.equal(up.conns.length, 1, 'the chunked answer with trailers ended exactly: the connection went back to the pool');
  });
});

test('framing: chunked SSE stream split at odd places (inside size lines, CRLFs, UTF-8 characters)', T, async () => {
  const pieces = ['Hel', 'lo, ', 'wörld ', '你好', '!'];
  const handler = async (q, conn) => {
    const bytes = Buffer.concat([
      Buffer.from(chunkedHead('text/event-stream; charset=utf-8')),
      chunked(sse(pieces), [3, 50, 1, 200, 13], ';a=b', 'Trailer-One: 1\r\n'),
    ]);
    await dribble(conn.sock, bytes, 11, 1);
  };
  await withStack(handler, async ({ sd }) => {
    assertStream(await chat(sd, req('hi', { stream: true })), pieces.join(''));
  });
});

test('framing: close-delimited answers (HTTP/1.0, and 1.1 without length), non-stream and stream', T, async () => {
  const handler = async (q, conn) => {
    const stream = JSON.parse(q.body).stream;
    const version = q.n % 2 ? 'HTTP/1.0' : 'HTTP/1.1';
    const body = stream ? sse(['clo', 'sed']) : answerJSON(`closed ${q.n}`);
    conn.sock.write(`${version} 200 OK\r\nContent-Type: ${stream ? 'text/event-stream' : 'application/json'}\r\n\r\n`);
    await dribble(conn.sock, body, 37, 2);
    conn.sock.end();
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()), 'closed 1', 'HTTP/1.0 JSON');
    assertAnswer(await chat(sd, req()), 'closed 2', 'HTTP/1.1 JSON');
    assertStream(await chat(sd, req('hi', { stream: true })), 'closed', 'HTTP/1.0 stream');
    assertStream(await chat(sd, req('hi', { stream: true })), 'closed', 'HTTP/1.1 stream');
    assert.deepEqual(up.conns.map((c) => c.requests.length), [1, 1, 1, 1]);
  });
});

test('framing: 100 Continue and 103 Early Hints heads before the real one are skipped', T, async () => {
  const handler = async (q, conn) => {
    const stream = JSON.parse(q.body).stream;
    const real = stream ? Buffer.concat([Buffer.from(chunkedHead('text/event-stream')), chunked(sse(['ea', 'rly']), [20])])
      : withLength(answerJSON(`after 1xx ${q.n}`));
    if (q.n === 1) {
      conn.sock.write(Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), real]));
    } else if (q.n === 2) {
      conn.sock.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n');
      await sleep(30);
      conn.sock.write(real);
    } else {
      // both, each in pieces, and a 1xx split from its 200 mid-line
      await dribble(conn.sock, Buffer.concat([
        Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n'), real]), 9, 1);
    }
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()), 'after 1xx 1', '100 Continue');
    assertAnswer(await chat(sd, req()), 'after 1xx 2', '103 Early Hints');
    assertStream(await chat(sd, req('hi', { stream: true })), 'early', '100 + 103 before a stream');
    assert.equal(up.conns.length, 1, 'the connection stayed usable');
  });
});

test('framing: a lenient head (no reason phrase, bare LF line ends, odd-case names, parameters)', T, async () => {
  const handler = (q, conn) => {
    const b = answerJSON(`lenient ${q.n}`);
    if (q.n === 1) conn.sock.write(`HTTP/1.1 200\r\ncontent-TYPE: Application/JSON; charset=utf-8\r\ncontent-length:${b.length}\r\n\r\n${b}`);
    else conn.sock.write(`HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: ${b.length}  \n\n${b}`);
  };
  await withStack(handler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()), 'lenient 1', 'no reason phrase');
    assertAnswer(await chat(sd, req()), 'lenient 2', 'bare LF');
    assert.equal(up.conns.length, 1);
  });
});

test('error answers through the client: 400, HTML 500, 503 keep their meaning; the connection stays pooled', T, async () => {
  const handler = async (q, conn) => {
    const env = (m) => JSON.stringify({ error: { message: m, type: 'invalid_request_error', param: null, code: 'invalid_request_error' } });
    if (q.n === 1) {
      conn.sock.write(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
      await dribble(conn.sock, chunked(env('This model\'s maximum context length is 65536 tokens'), [9]), 13, 1);
    } else if (q.n === 2) {
      const html = '<html><body><h1>500 Internal Server Error</h1></body></html>';
      conn.sock.write(`HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: ${html.length}\r\n\r\n${html}`);
    } else if (q.n === 3) {
      const b = JSON.stringify({ message: 'the server is busy' });
      conn.sock.write(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 2\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
    } else conn.sock.write(withLength(answerJSON('fine')));
  };
  await withStack(handler, async ({ up, sd }) => {
    assertEnvelope(await chat(sd, req()), 400, 'invalid_request_error', /^This model's maximum context length is 65536 tokens$/, '400');
    assertEnvelope(await chat(sd, req()), 502, 'api_error', /^upstream answered 500 with an HTML page \(a proxy or firewall\?\)$/, 'html 500');
    const r = await chat(sd, req());
    assertEnvelope(r, 503, 'server_overloaded', /^Server Overloaded: the server is busy$/, '503');
    assert.equal(r.retryAfter, '2');
    assertAnswer(await chat(sd, req()), 'fine');
    assert.equal(up.conns.length, 1, 'error answers with keep-alive leave the connection usable');
    assert.equal(up.requests.length, 4, 'one attempt each (one key)');
  });
});

test('an answer before the whole request was sent (413 to a big body): seekd stops sending and relays it', T, async () => {
  let head = null;
  const handler = (q, conn) => { conn.sock.write(withLength(answerJSON('small'))); };
  await withStack(handler, async ({ up, sd }) => {
    up.onHead = (h, conn) => {
      if (conn.id !== 1) return;
      head = h;
      conn.raw = true;
      conn.sock.pause(); // read no more: seekd's writes stall once the socket buffers are full
      const b = JSON.stringify({ error: { message: 'Request Entity Too Large', type: 'invalid_request_error' } });
      conn.sock.write(`HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
      setTimeout(() => conn.sock.resume(), 300); // then drain whatever seekd did send, to its close
    };
    // far more than loopback socket buffers hold (a few MiB each side)
    const r = await chat(sd, req('x'.repeat(24 << 20)), { timeoutMs: 7000 });
    assertEnvelope(r, 413, 'invalid_request_error', /^Request Entity Too Large$/);
    assert.ok(r.ms < 2000, `answered in ${r.ms} ms`);
    const c1 = up.conns[0];
    await withDeadline(new Promise((resolve) => { if (c1.closed || c1.peerEnded) resolve(); else c1.sock.once('end', resolve).once('close', resolve); }), 3000, null);
    assert.ok(c1.peerEnded || c1.closed, 'seekd closed the connection it could not finish writing on');
    assert.ok(c1.received < head.headLen + head.contentLength,
      `seekd stopped sending: ${c1.received} of ${head.headLen + head.contentLength} bytes`);
    up.onHead = null;
    assertAnswer(await chat(sd, req()), 'small', 'the next request');
    assert.equal(up.conns.length, 2);
  }, { config: 'max_body = 32m\n' });
});

// ---- 5. bad upstream bytes ----

const PAD = `X-Pad: ${'a'.repeat(1000)}\r\n`;
const badCases = [
  {
    name: 'a garbage status line',
    send: (sock) => sock.write('HELLO\r\n\r\n'),
    re: /^upstream failed: malformed answer head$/,
  },
  {
    name: 'an HTTP/2 status line',
    send: (sock) => { const b = answerJSON(); sock.write(`HTTP/2 200\r\ncontent-type: application/json\r\ncontent-length: ${b.length}\r\n\r\n${b}`); },
    re: /^upstream failed: malformed answer head$/,
  },
  {
    name: 'a head over 64 KiB that never ends (connection left open)',
    send: (sock) => sock.write(`HTTP/1.1 200 OK\r\n${PAD.repeat(70)}`),
    re: /^upstream failed: answer head too large$/,
  },
  {
    name: 'both Content-Length and chunked',
    send: (sock) => sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`),
    re: /^upstream failed: malformed answer head$/,
  },
  {
    name: 'two different Content-Lengths',
    send: (sock) => { const b = answerJSON(); sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\nContent-Length: ${b.length + 1}\r\n\r\n${b}`); },
    re: /^upstream failed: malformed answer head$/,
  },
  {
    name: 'a transfer coding other than chunked',
    send: (sock) => sock.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`),
    re: /^upstream failed: malformed answer head$/,
  },
  {
    name: 'a chunk size that overflows 64 bits',
    send: (sock) => sock.write(`${chunkedHead('application/json')}10000000000000000\r\n${answerJSON()}\r\n0\r\n\r\n`),
    re: /^upstream failed: malformed chunked coding$/,
  },
  {
    name: 'a malformed chunk size',
    send: (sock) => sock.write(`${chunkedHead('application/json')}zz\r\n${answerJSON()}\r\n0\r\n\r\n`),
    re: /^upstream failed: malformed chunked coding$/,
  },
  {
    name: 'a Content-Length answer cut short by close',
    send: (sock) => { const b = withLength(answerJSON()); sock.end(b.subarray(0, b.length - 20)); },
    re: /^upstream failed: connection closed in the middle of the answer$/,
  },
  {
    name: 'a close before any answer byte on a new connection (no retry there)',
    send: (sock) => sock.end(),
    re: /^upstream failed: connection closed before an answer$/,
  },
  {
    name: 'a close in the middle of the head',
    send: (sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Type: applic'),
    re: /^upstream failed: connection closed before an answer$/,
  },
];

for (const c of badCases) {
  test(`bad upstream bytes: ${c.name} -> 502 envelope, and seekd serves the next request`, T, async () => {
    const handler = (q, conn) => {
      if (q.n === 1) c.send(conn.sock);
      else conn.sock.write(withLength(answerJSON('recovered')));
    };
    await withStack(handler, async ({ up, sd }) => {
      const r = await chat(sd, req());
      assertEnvelope(r, 502, 'api_error', c.re, c.name);
      assert.ok(r.ms < 2000, `answered in ${r.ms} ms`);
      assert.equal(up.requests.length, 1, 'one attempt (one key)');
      assertAnswer(await chat(sd, req()), 'recovered', 'the next request');
    });
  });
}

const THREE = `data: ${chunkJSON({ content: ' three' })}\n\n`;

/** A chunked stream: the role chunk and two content events, then a chunk announcing
 * `announced` whose data is cut by a close after `sent`. */
function cutStreamHandler(announced, sent) {
  return async (q, conn) => {
    if (q.n > 1) {
      conn.sock.write(withLength(answerJSON('recovered')));
      return;
    }
    const events = sse(['one', ' two'], { end: false });
    conn.sock.write(Buffer.concat([Buffer.from(chunkedHead('text/event-stream')), chunked(events, [10000]).subarray(0, -5)]));
    await sleep(50);
    conn.sock.end(`${Buffer.byteLength(announced).toString(16)}\r\n${sent}`);
  };
}

test('bad upstream bytes: a stream cut mid-chunk, between events -> those events, then an error event', T, async () => {
  // the chunk would hold two events; one arrives whole and is relayed, then the cut is reported
  await withStack(cutStreamHandler(THREE + THREE, THREE), async ({ sd }) => {
    const r = await chat(sd, req('hi', { stream: true }));
    assertStreamError(r, 'one two three', /^upstream stream ended before the answer was complete \(4 chunks\)$/);
    assertAnswer(await chat(sd, req()), 'recovered', 'the next request');
  });
});

test('bad upstream bytes: a stream cut mid-chunk, inside an event -> the events before it, then an error event', T, async () => {
  // the unfinished event is dropped, not parsed: the cut is reported as a cut, not as a
  // malformed chunk from the upstream
  await withStack(cutStreamHandler(THREE, THREE.slice(0, 40)), async ({ sd }) => {
    const r = await chat(sd, req('hi', { stream: true }));
    assertStreamError(r, 'one two', /^upstream stream ended before the answer was complete \(3 chunks\)$/);
    assertAnswer(await chat(sd, req()), 'recovered', 'the next request');
  });
});

test('bad upstream bytes: a malformed chunk size mid-stream -> the events before it, then an error event', T, async () => {
  const handler = async (q, conn) => {
    if (q.n > 1) {
      conn.sock.write(withLength(answerJSON('recovered')));
      return;
    }
    const events = sse(['one', ' two'], { end: false });
    conn.sock.write(Buffer.concat([Buffer.from(chunkedHead('text/event-stream')), chunked(events, [10000]).subarray(0, -5)]));
    await sleep(50);
    conn.sock.write('-1\r\nxx\r\n'); // keeps the connection open: the error must not wait for a close
  };
  await withStack(handler, async ({ sd }) => {
    const r = await chat(sd, req('hi', { stream: true }));
    assertStreamError(r, 'one two', /^upstream failed: malformed chunked coding$/);
    assert.ok(r.ms < 2000, `ended in ${r.ms} ms`);
    assertAnswer(await chat(sd, req()), 'recovered', 'the next request');
  });
});

// ---- 6. connecting ----

test('connection refused -> 502 envelope at once', T, async () => {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  const sd = await startSeekd(`http://127.0.0.1:${port}`);
  let exit;
  try {
    const r = await chat(sd, req());
    assertEnvelope(r, 502, 'api_error', /^upstream failed: Connection refused$/);
    assert.ok(r.ms < 2000, `answered in ${r.ms} ms`);
    const r2 = await chat(sd, req('hi', { stream: true }));
    assertEnvelope(r2, 502, 'api_error', /^upstream failed: Connection refused$/, 'stream');
  } finally {
    exit = await sd.stop();
  }
  assert.deepEqual(exit, { code: 0, signal: null }, sd.logs().slice(-2000));
});

test('name resolution: http://localhost:PORT reaches a server on 127.0.0.1', T, async () => {
  await withStack(okHandler, async ({ up, sd }) => {
    assertAnswer(await chat(sd, req()));
    assertAnswer(await chat(sd, req()));
    assert.equal(up.requests[0].headers.host, `localhost:${up.port}`);
    assert.equal(up.conns.length, 1, 'the connection of a resolved name is pooled too');
  }, { url: (port) => `http://localhost:${port}` });
});

// With a hosts file naming ::1 first for localhost (bind-mounted in a user and mount namespace,
// where the system allows one), seekd must try ::1, be refused, and fall back to 127.0.0.1.
test('name resolution: localhost resolving to ::1 first falls back to 127.0.0.1', {
  ...T, skip: !nsOK ? 'no user+mount namespace (unshare -rm) to give seekd its own hosts file' : false,
}, async () => {
  // where IPv6 loopback exists, first the premise: ::1 really is the first address tried (a
  // listener there, on the same port, gets the request) ...
  if (v6OK) {
    const v4 = await new Scripted(okHandler).listen('127.0.0.1');
    try {
      const v6 = await new Scripted(okHandler).listen('::1', v4.port).catch(() => null); // port taken on ::1: skip this half
      if (v6) {
        const sd = await startSeekd(`http://localhost:${v4.port}`, { wrap: inHostsNs });
        try {
          assertAnswer(await chat(sd, req()));
          assert.deepEqual([v6.requests.length, v4.requests.length], [1, 0], '::1 (first in the hosts file) is the first address tried');
        } finally {
          await sd.stop();
          await v6.close();
        }
      }
    } finally {
      await v4.close();
    }
  }
  // ... then, with nothing on ::1, the same request goes to 127.0.0.1
  await withStack(okHandler, async ({ up, sd }) => {
    const r = await chat(sd, req());
    assertAnswer(r);
    assert.ok(r.ms < 2000, `answered in ${r.ms} ms`);
    assertAnswer(await chat(sd, req()));
    assert.equal(up.requests.length, 2);
  }, { url: (port) => `http://localhost:${port}`, wrap: inHostsNs });
});

// A name with two addresses whose first drops SYNs (the fake's --blackhole: a listener with a
// full accept queue, on 127.0.0.2 and the same port): that address gets its share of
// connect_timeout_ms (half, with two), then the second one answers.
test('name resolution: a first address that drops SYNs gets its share of the connect timeout, then the next is tried', {
  ...T, skip: !nsOK ? 'no user+mount namespace (unshare -rm) to give seekd its own hosts file' : false,
}, async () => {
  const dir = tmpDir();
  const hosts = path.join(dir, 'hosts');
  fs.writeFileSync(hosts, '127.0.0.2 twoaddr\n127.0.0.1 twoaddr\n');
  const wrap = (bin, args) => ['unshare', ['-rm', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, bin, ...args]];
  const up = await new Scripted(okHandler).listen('127.0.0.1');
  const bhPort = path.join(dir, 'bh.port');
  const bh = spawn(FAKE_BIN, ['--listen', '127.0.0.1:0', '--port-file', bhPort, '--blackhole', `127.0.0.2:${up.port}`, '--quiet'],
    { stdio: 'ignore' });
  procs.add(bh);
  let exit = null;
  try {
    assert.ok(await waitFor(() => fs.existsSync(bhPort), 3000), 'the blackhole is up');
    // 4 s, so "half of it" and "all of it" are 2 s apart: room for ASan on two shared cores.
    const sd = await startSeekd(`http://twoaddr:${up.port}`, { wrap, config: 'connect_timeout_ms = 4000\n' });
    try {
      const r = await chat(sd, req());
      assertAnswer(r);
      assert.ok(r.ms >= 1900 && r.ms < 3800, `answered after the first address's half of 4000 ms: ${r.ms} ms`);
      const r2 = await chat(sd, req());
      assertAnswer(r2);
      assert.ok(r2.ms < 1900, `the second request does not wait for the dead address again: ${r2.ms} ms`);
      assert.equal(up.conns.length, 1);
    } finally {
      exit = await sd.stop();
    }
  } finally {
    bh.kill('SIGTERM');
    procs.delete(bh);
    await up.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(exit, { code: 0, signal: null });
});

// ---- 7. the startup line ----

async function startupLine(url, env) {
  const dir = tmpDir();
  try {
    const portFile = path.join(dir, 'seekd.port');
    const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--port-file', portFile, '--upstream', url, '--log-level', 'info'], {
      env: {
        DEEPSEEK_API_KEY: SERVER_KEY, http_proxy: '', HTTP_PROXY: '', all_proxy: '', ALL_PROXY: '', SEEKD_UPSTREAM_CLIENT: '', ...env,
      },
      portFile,
    });
    assert.ok(r.started, `seekd started: ${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => / info {2}upstream default: /.test(l));
    assert.equal(lines.length, 1, r.stderr);
    return lines[0].replace(/^.* info {2}/, '');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('startup line: which transport each upstream uses', T, async () => {
  const url = 'http://127.0.0.1:9/v1';
  assert.equal(await startupLine(url, {}), `upstream default: ${url} through seekd's HTTP client`);
  assert.equal(await startupLine(url, { SEEKD_UPSTREAM_CLIENT: 'curl' }), `upstream default: ${url} through libcurl`);
  assert.equal(await startupLine(url, { http_proxy: 'http://127.0.0.1:1' }), `upstream default: ${url} through libcurl`);
  assert.equal(await startupLine('https://api.deepseek.com', {}), 'upstream default: https://api.deepseek.com through libcurl');
});

test('/health names each upstream\'s transport: builtin for http://, libcurl when asked for', T, async () => {
  const transport = async (sd) => {
    const r = await fetch(`${sd.url}/health`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(5000),
    });
    assert.equal(r.status, 200);
    return (await r.json()).backends[0].upstreams.map((u) => [u.name, u.transport]);
  };
  await withStack(okHandler, async ({ sd }) => {
    assert.deepEqual(await transport(sd), [['default', 'builtin']]);
  });
  await withStack(okHandler, async ({ sd }) => {
    assert.deepEqual(await transport(sd), [['default', 'libcurl']]);
    assertAnswer(await chat(sd, req()), 'hi', 'and libcurl reaches the same upstream');
  }, { env: { SEEKD_UPSTREAM_CLIENT: 'curl' } });
});

test('a relayed GET answer over its 4 MiB bound is a 502, never a cut 200 (both transports)', T, async () => {
  // A balance answer padded past the bound: handing the first 4 MiB on would be a 200 whose
  // body is not the upstream's.
  const pad = 'x'.repeat((4 << 20) + 1024);
  const body = JSON.stringify({ is_available: true, balance_infos: [], pad });
  const handler = (q, conn) => { conn.sock.write(withLength(body)); };
  for (const env of [{ SEEKD_UPSTREAM_CLIENT: 'curl' }, {}]) {
    await withStack(handler, async ({ sd }) => {
      const res = await fetch(`${sd.url}/user/balance`, { headers: { Authorization: CLIENT_AUTH }, signal: AbortSignal.timeout(10000) });
      const text = await res.text();
      assert.equal(res.status, 502, `${JSON.stringify(env)}: ${text.slice(0, 200)}`);
      const err = JSON.parse(text).error;
      assert.match(err.message, /exceeds 4194304 bytes/);
    }, { env });
  }
});

test('an upstream header value with a CR never reaches the client as a header of its own (both transports)', T, async () => {
  // A relayed GET (/user/balance) copies the upstream's Content-Type into seekd's answer. A bare
  // CR inside it would end the line for some clients and start one the upstream chose.
  const body = JSON.stringify({ is_available: true, balance_infos: [] });
  const handler = (q, conn) => {
    conn.sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\rSet-Cookie: evil=1\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  };
  // The raw answer head, read with a plain socket: fetch's parser would refuse it before we could look.
  const rawGet = (sd, p) => new Promise((resolve, reject) => {
    const u = new URL(sd.url);
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.write(`GET ${p} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: ${CLIENT_AUTH}\r\nConnection: close\r\n\r\n`);
    });
    let got = Buffer.alloc(0);
    s.on('data', (d) => { got = Buffer.concat([got, d]); });
    s.on('end', () => resolve(got.toString('latin1')));
    s.on('error', reject);
    s.setTimeout(5000, () => { s.destroy(); reject(new Error('timeout')); });
  });
  for (const env of [{ SEEKD_UPSTREAM_CLIENT: 'curl' }, {}]) {
    await withStack(handler, async ({ sd }) => {
      const text = await rawGet(sd, '/user/balance');
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      assert.ok(!/set-cookie/i.test(head), `no injected header (${JSON.stringify(env)}):\n${head}`);
      assert.ok(!/\r(?!\n)/.test(head), `no bare CR in the head:\n${JSON.stringify(head)}`);
      if (env.SEEKD_UPSTREAM_CLIENT) {
        // libcurl hands the value over as it came: seekd keeps it up to the CR
        assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
        assert.match(head, /\r\nContent-Type: application\/json\r\n/);
        assert.equal(text.slice(text.indexOf('\r\n\r\n') + 4), body);
      } else {
        // seekd's own parser refuses a head with a control byte in a value: 502
        assert.match(head, /^HTTP\/1\.1 502 /);
      }
    }, { env });
  }
});
