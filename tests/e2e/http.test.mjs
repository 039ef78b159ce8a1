// http.test.mjs - seekd's own HTTP/1.1 server on the raw wire (node:net): keep-alive and
// pipelining, chunked request bodies, Expect: 100-continue, HTTP/1.0 (close-delimited answers and
// streams), refused heads (400/431/501/505) with their JSON envelope, bodies over max_body (413
// without reading them, no reset), HEAD, CORS preflight, the idle timeout on a half-sent head,
// and a client leaving while its upstream answer is pending. Regressions: a chunk size near 2^64
// (413, not a hang), a client uploading fast after its 413 (cut off after the linger time, not
// read for as long as it sends), and a client pipelining without reading its answers (held to
// max_output, then dropped by the idle timeout).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, parseSSE, aggregate, withDeadline, waitFor, TEXT_ANSWER, SANITIZED } from './harness.mjs';

const MAX_BODY = 65536;
const CLIENT_TIMEOUT_MS = 1000;
const MAX_OUTPUT = 1 << 20; // seekd's default

let st;
before(async () => {
  st = await startStack({ config: `max_body = 64k\nclient_timeout_ms = ${CLIENT_TIMEOUT_MS}\n` });
});
after(async () => { await st?.stop(); });

const T = { timeout: 15000 };
const LINGER_MS = 2000; // src/http/http.c: how long a closing connection drains input
const AUTH = 'Authorization: Bearer sk-test-0123456789abcdef\r\n';
const DATE_RE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

/** One client connection with a strict HTTP/1.1 response reader. */
class Raw {
  /** halfOpen: keep our side writable after the server's FIN (a client still uploading). */
  static async open({ halfOpen = false } = {}) {
    const sock = net.connect({ port: st.port, host: '127.0.0.1', allowHalfOpen: halfOpen });
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    return new Raw(sock);
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.ended = false; // the server's FIN arrived
    this.closed = false;
    this.error = null; // e.g. ECONNRESET
    this.wake = null;
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this._wake(); });
    sock.on('end', () => { this.ended = true; this._wake(); });
    sock.on('error', (e) => { this.error = e; this._wake(); });
    sock.on('close', () => { this.closed = true; this._wake(); });
  }

  _wake() {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  write(data) {
    return new Promise((resolve, reject) => this.sock.write(data, (e) => (e ? reject(e) : resolve())));
  }

  /** Waits until pred() is truthy and returns it; throws on timeout, reset or a close first. */
  async until(pred, what, timeoutMs = 5000) {
    const t0 = Date.now();
    for (;;) {
      const v = pred();
      if (v) return v;
      const got = JSON.stringify(this.buf.toString('latin1').slice(0, 300));
      if (this.error) throw new Error(`${what}: socket error ${this.error.code}; got ${got}`);
      if (this.ended || this.closed) throw new Error(`${what}: connection closed; got ${got}`);
      const left = timeoutMs - (Date.now() - t0);
      if (left <= 0) throw new Error(`${what}: nothing in ${timeoutMs} ms; got ${got}`);
      await withDeadline(new Promise((resolve) => { this.wake = resolve; }), left, null);
    }
  }

  /** Waits for the server to close its side cleanly (FIN, not a reset). */
  async serverCloses(timeoutMs = 5000) {
    await this.until(() => this.ended || this.closed, 'server close', timeoutMs);
    assert.equal(this.error, null, `no reset: ${this.error?.code}`);
    assert.equal(this.ended, true, 'a FIN from the server');
  }

  /** Waits until pred() is truthy, whatever happens to the connection; returns pred(). */
  async waitFor(pred, timeoutMs) {
    const t0 = Date.now();
    for (;;) {
      const v = pred();
      const left = timeoutMs - (Date.now() - t0);
      if (v || left <= 0) return v;
      await withDeadline(new Promise((resolve) => { this.wake = resolve; }), left, null);
    }
  }

  /** Whether the connection is still open after ms (nothing closed it). */
  async staysOpen(ms = 100) {
    await sleep(ms);
    return !this.ended && !this.closed && !this.error;
  }

  /** Reads one response. head: the request was HEAD (no body whatever the headers say). */
  async response({ head = false, timeoutMs = 5000 } = {}) {
    const end = await this.until(() => {
      const i = this.buf.indexOf('\r\n\r\n');
      return i >= 0 ? i + 4 : 0;
    }, 'response head', timeoutMs);
    const headText = this.buf.subarray(0, end - 4).toString('latin1');
    this.buf = this.buf.subarray(end);
    const [statusLine, ...lines] = headText.split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) [A-Za-z -]+$/.exec(statusLine);
    assert.ok(m, `status line ${JSON.stringify(statusLine)}`);
    const headers = lines.map((l) => {
      const c = l.indexOf(': ');
      assert.ok(c > 0, `header line ${JSON.stringify(l)}`);
      return [l.slice(0, c), l.slice(c + 2)];
    });
    const res = { statusLine, status: Number(m[1]), headers, framing: 'none' };
    res.get = (name) => {
      const all = headers.filter(([k]) => k.toLowerCase() === name.toLowerCase());
      assert.ok(all.length <= 1, `header ${name} sent ${all.length} times`);
      return all[0]?.[1];
    };
    const cl = res.get('content-length');
    const te = res.get('transfer-encoding');
    assert.ok(cl === undefined || te === undefined, 'never both Content-Length and Transfer-Encoding');
    if (res.status < 200 || res.status === 204 || head) {
      res.body = Buffer.alloc(0);
    } else if (te !== undefined) {
      assert.equal(te, 'chunked');
      res.framing = 'chunked';
      res.body = await this._chunkedBody(timeoutMs);
    } else if (cl !== undefined) {
      assert.match(cl, /^\d+$/);
      const n = Number(cl);
      res.framing = 'length';
      await this.until(() => this.buf.length >= n, 'response body', timeoutMs);
      res.body = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
    } else {
      res.framing = 'close';
      await this.until(() => this.ended || this.closed, 'close-delimited body', timeoutMs);
      assert.equal(this.error, null, `no reset: ${this.error?.code}`);
      res.body = this.buf;
      this.buf = Buffer.alloc(0);
    }
    res.text = res.body.toString('utf8');
    return res;
  }

  async _chunkedBody(timeoutMs) {
    const parts = [];
    for (;;) {
      const nl = await this.until(() => this.buf.indexOf('\r\n') + 1, 'chunk size', timeoutMs);
      const line = this.buf.subarray(0, nl - 1).toString('latin1');
      assert.match(line, /^[0-9a-f]+$/, 'a bare lowercase hex chunk size');
      const size = Number.parseInt(line, 16);
      this.buf = this.buf.subarray(nl + 1);
      if (size === 0) {
        await this.until(() => this.buf.length >= 2, 'last CRLF', timeoutMs);
        assert.equal(this.buf.subarray(0, 2).toString('latin1'), '\r\n', 'no trailers, then CRLF');
        this.buf = this.buf.subarray(2);
        return Buffer.concat(parts);
      }
      await this.until(() => this.buf.length >= size + 2, 'chunk data', timeoutMs);
      parts.push(this.buf.subarray(0, size));
      assert.equal(this.buf.subarray(size, size + 2).toString('latin1'), '\r\n');
      this.buf = this.buf.subarray(size + 2);
      this.chunks = (this.chunks || 0) + 1;
    }
  }

  destroy() { this.sock.destroy(); }
}

/** Checks the exact header set (names case-insensitive, each once): expected maps a name to a
 * string or a RegExp. */
function assertHeaders(res, expected) {
  const got = res.headers.map(([k]) => k.toLowerCase()).sort();
  const want = Object.keys(expected).map((k) => k.toLowerCase()).sort();
  assert.deepEqual(got, want, `header names of ${res.statusLine}`);
  for (const [k, v] of Object.entries(expected)) {
    if (v instanceof RegExp) assert.match(res.get(k), v, k);
    else assert.equal(res.get(k), v, k);
  }
}

function pingHeaders(id, extra = {}) {
  return {
    Date: DATE_RE,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': '4',
    'x-request-id': id,
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': 'x-request-id',
    ...extra,
  };
}

function assertPong(res, id, extra) {
  assert.equal(res.statusLine, 'HTTP/1.1 200 OK');
  assertHeaders(res, pingHeaders(id, extra));
  assert.equal(res.text, 'pong');
}

/** seekd's own refusal of a request it does not hand to a handler. */
function assertRefusal(res, statusLine, message) {
  const body = JSON.stringify({
    error: { message, type: 'invalid_request_error', param: null, code: 'invalid_request_error' },
  });
  assert.equal(res.statusLine, statusLine);
  assertHeaders(res, {
    Date: DATE_RE,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
  });
  assert.equal(res.text, body);
}

/** DeepSeek's 413 envelope from the chat handler, on a connection that then closes. */
function assert413(res, id, declared) {
  const body = JSON.stringify({
    error: {
      message: `Request body is too large (${declared} bytes; the limit is ${MAX_BODY})`,
      type: 'invalid_request_error', param: null, code: 'invalid_request_error',
    },
  });
  assert.equal(res.statusLine, 'HTTP/1.1 413 Payload Too Large');
  assertHeaders(res, {
    Date: DATE_RE,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    'x-request-id': id,
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': 'x-request-id',
    Connection: 'close',
  });
  assert.equal(res.text, body);
}

const ping = (id, v = '1.1', extra = '') => `GET /ping HTTP/${v}\r\nHost: x\r\nx-request-id: ${id}\r\n${extra}\r\n`;

function chatReq(id, body, { v = '1.1', extra = '' } = {}) {
  return `POST /chat/completions HTTP/${v}\r\nHost: x\r\n${AUTH}x-request-id: ${id}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

const echoBody = (text, extra = {}) =>
  JSON.stringify({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'echo:' + text }], ...extra });

/** A non-stream chat answer with the echoed text, Content-Length framed. */
function assertChatAnswer(res, id, text) {
  assert.equal(res.statusLine, 'HTTP/1.1 200 OK');
  assert.equal(res.framing, 'length');
  assert.equal(res.get('content-type'), 'application/json');
  assert.equal(res.get('x-request-id'), id);
  assert.equal(Number(res.get('content-length')), res.body.length);
  const j = JSON.parse(res.text);
  assert.equal(j.object, 'chat.completion');
  assert.equal(j.choices[0].message.content, text);
  assert.equal(j.choices[0].finish_reason, 'stop');
}

test('(a) two requests on one keep-alive connection', T, async () => {
  const c = await Raw.open();
  await c.write(ping('ka-1'));
  assertPong(await c.response(), 'ka-1');
  assert.equal(c.buf.length, 0, 'nothing after the first response');
  assert.ok(await c.staysOpen(), 'HTTP/1.1 keeps the connection open');
  await c.write(ping('ka-2'));
  assertPong(await c.response(), 'ka-2');
  assert.ok(await c.staysOpen(), 'still open');
  // Connection: close from the client: answered with Connection: close, then closed.
  await c.write(ping('ka-3', '1.1', 'Connection: close\r\n'));
  assertPong(await c.response(), 'ka-3', { Connection: 'close' });
  await c.serverCloses();
  assert.equal(c.buf.length, 0);
});

test('(b) pipelined requests in one write are answered in order', T, async () => {
  const c = await Raw.open();
  // The chat request needs the upstream; the requests behind it must wait for its answer.
  await c.write(ping('pl-1') + chatReq('pl-2', echoBody('pipelined')) +
    'GET /nope HTTP/1.1\r\nHost: x\r\nx-request-id: pl-3\r\n\r\n' + ping('pl-4'));
  assertPong(await c.response(), 'pl-1');
  assertChatAnswer(await c.response(), 'pl-2', 'pipelined');
  const nf = await c.response();
  assert.equal(nf.statusLine, 'HTTP/1.1 404 Not Found');
  assert.equal(nf.get('x-request-id'), 'pl-3');
  assert.equal(nf.text, JSON.stringify({
    error: { message: 'Not found: GET /nope', type: 'invalid_request_error', param: null, code: null },
  }));
  assertPong(await c.response(), 'pl-4');
  assert.ok(await c.staysOpen());
  assert.equal(c.buf.length, 0, 'exactly four responses');
  c.destroy();
});

test('(c) chunked request body with extensions and a trailer', T, async () => {
  const c = await Raw.open();
  const body = echoBody('chunked body arrives whole: ünïcödé');
  const b = Buffer.from(body);
  const cuts = [0, 7, 8, 50, b.length]; // sizes 7, 1, 0x2A and the rest
  let wire = `POST /chat/completions HTTP/1.1\r\nHost: x\r\n${AUTH}x-request-id: ch-1\r\n` +
    'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
  const pieces = [Buffer.from(wire)];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const part = b.subarray(cuts[i], cuts[i + 1]);
    const size = part.length.toString(16).toUpperCase(); // hex digits in either case
    const ext = i === 1 ? ';name=value;flag' : i === 2 ? ' ;ext="q"' : '';
    pieces.push(Buffer.from(`${size}${ext}\r\n`), part, Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from('0\r\nX-Trailer: yes\r\n\r\n'));
  // Sent in separate writes with pauses, so the decoder sees chunk lines split across reads.
  for (const p of pieces) {
    await c.write(p);
    await sleep(5);
  }
  assertChatAnswer(await c.response(), 'ch-1', 'chunked body arrives whole: ünïcödé');
  // The body (with its trailer) was consumed exactly: the connection goes on.
  await c.write(ping('ch-2'));
  assertPong(await c.response(), 'ch-2');
  assert.equal(c.buf.length, 0);
  c.destroy();
});

test('(c2) malformed chunked bodies -> 400 envelope, connection closed', T, async () => {
  const head = `POST /chat/completions HTTP/1.1\r\nHost: x\r\n${AUTH}Transfer-Encoding: chunked\r\n\r\n`;
  const bodies = [
    'zz\r\n{}\r\n0\r\n\r\n', // not a hex size
    '2\r\n{}X\r\n0\r\n\r\n', // more than the chunk size before its CRLF
    '10000000000000000\r\n', // a size above 64 bits
    '2;' + 'x'.repeat(2000), // a size line over 1 KiB that never ends
  ];
  for (const b of bodies) {
    const c = await Raw.open();
    await c.write(head + b);
    assertRefusal(await c.response(), 'HTTP/1.1 400 Bad Request', 'malformed chunked request body');
    await c.serverCloses();
    assert.equal(c.buf.length, 0);
  }
});

test('(d) Expect: 100-continue gets 100 Continue before the body is sent', T, async () => {
  const c = await Raw.open();
  const body = echoBody('after continue');
  const full = chatReq('ex-1', body, { extra: 'Expect: 100-continue\r\n' });
  await c.write(full.slice(0, full.length - body.length)); // the head only
  const cont = await c.response();
  assert.equal(cont.statusLine, 'HTTP/1.1 100 Continue');
  assert.deepEqual(cont.headers, []);
  await sleep(50);
  assert.equal(c.buf.length, 0, 'nothing but 100 Continue until the body arrives');
  await c.write(body);
  assertChatAnswer(await c.response(), 'ex-1', 'after continue');
  assert.equal(c.buf.length, 0);
  // A declared body over max_body is refused at once: no 100 Continue, a 413 and a close.
  const c2 = await Raw.open();
  await c2.write(`POST /chat/completions HTTP/1.1\r\nHost: x\r\n${AUTH}x-request-id: ex-2\r\n` +
    `Expect: 100-continue\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`);
  assert413(await c2.response(), 'ex-2', MAX_BODY + 1);
  await c2.serverCloses();
  c.destroy();
});

test('(e) HTTP/1.0: the server closes after the answer; keep-alive only when asked', T, async () => {
  const c = await Raw.open();
  await c.write(ping('h10-1', '1.0'));
  assertPong(await c.response(), 'h10-1', { Connection: 'close' });
  await c.serverCloses();
  assert.equal(c.buf.length, 0);

  const k = await Raw.open();
  await k.write(ping('h10-2', '1.0', 'Connection: keep-alive\r\n'));
  assertPong(await k.response(), 'h10-2', { Connection: 'keep-alive' });
  assert.ok(await k.staysOpen(), 'HTTP/1.0 keep-alive keeps the connection');
  await k.write(ping('h10-3', '1.0'));
  assertPong(await k.response(), 'h10-3', { Connection: 'close' });
  await k.serverCloses();
});

test('(e) HTTP/1.0 stream: no chunked coding, the stream ends with the close', T, async () => {
  const c = await Raw.open();
  await c.write(chatReq('h10-s', echoBody('streamed to 1.0', { stream: true }), { v: '1.0' }));
  const res = await c.response({ timeoutMs: 8000 });
  assert.equal(res.statusLine, 'HTTP/1.1 200 OK');
  assert.equal(res.framing, 'close');
  assertHeaders(res, {
    Date: DATE_RE,
    'Content-Type': 'text/event-stream; charset=utf-8',
    'x-request-id': 'h10-s',
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': 'x-request-id',
    'Cache-Control': 'no-cache',
    'X-Accel-Buffering': 'no',
    Connection: 'close',
  });
  assert.ok(res.text.startsWith('data: {'), JSON.stringify(res.text.slice(0, 40)));
  assert.ok(res.text.endsWith('\n\ndata: [DONE]\n\n'), JSON.stringify(res.text.slice(-40)));
  const { events } = parseSSE(res.text);
  assert.equal(events.at(-1), '[DONE]');
  assert.equal(aggregate(events.slice(0, -1)).content, 'streamed to 1.0');
  assert.equal(c.ended, true);
});

test('(e) HTTP/1.1 stream: chunked coding, and the connection goes on', T, async () => {
  const c = await Raw.open();
  await c.write(chatReq('h11-s', echoBody('streamed to 1.1', { stream: true })));
  const res = await c.response({ timeoutMs: 8000 });
  assert.equal(res.statusLine, 'HTTP/1.1 200 OK');
  assert.equal(res.framing, 'chunked');
  assert.equal(res.get('connection'), undefined);
  assert.equal(res.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.ok(c.chunks >= 2, `chunks: ${c.chunks}`);
  const { events } = parseSSE(res.text);
  assert.equal(events.at(-1), '[DONE]');
  assert.equal(aggregate(events.slice(0, -1)).content, 'streamed to 1.1');
  await c.write(ping('h11-s2'));
  assertPong(await c.response(), 'h11-s2');
  c.destroy();
});

test('(f) malformed request line -> 400 envelope, connection closed, nothing after it read', T, async () => {
  const c = await Raw.open();
  await c.write('GET /ping HTTP/1.1 extra\r\nHost: x\r\n\r\n' + ping('after-400'));
  assertRefusal(await c.response(), 'HTTP/1.1 400 Bad Request', 'malformed HTTP request');
  await c.serverCloses();
  assert.equal(c.buf.length, 0, 'the pipelined request behind it is not answered');
});

test('(f) other refused heads: exact status and message', T, async () => {
  const cases = [
    ['nonsense\r\n\r\n', 'HTTP/1.1 400 Bad Request', 'malformed HTTP request'],
    ['GET /ping HTTP/2.0\r\nHost: x\r\n\r\n', 'HTTP/1.1 505 HTTP Version Not Supported',
      'unsupported HTTP version'],
    ['GET /ping HTTP/1.1\r\nHost : x\r\n\r\n', 'HTTP/1.1 400 Bad Request', 'malformed HTTP request'],
    ['GET /ping HTTP/1.1\r\nX: a\r\n folded\r\n\r\n', 'HTTP/1.1 400 Bad Request', 'malformed HTTP request'],
    ['POST /chat/completions HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', 'HTTP/1.1 501 Not Implemented',
      'unsupported transfer coding'],
    ['POST /chat/completions HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n',
      'HTTP/1.1 400 Bad Request', 'malformed HTTP request'],
    ['POST /chat/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
      'HTTP/1.1 400 Bad Request', 'malformed HTTP request'],
    ['GET /ping HTTP/1.1\r\n' + Array.from({ length: 101 }, (_, i) => `H${i}: v\r\n`).join('') + '\r\n',
      'HTTP/1.1 431 Request Header Fields Too Large', 'too many request headers'],
  ];
  for (const [wire, statusLine, message] of cases) {
    const c = await Raw.open();
    await c.write(wire);
    assertRefusal(await c.response(), statusLine, message);
    await c.serverCloses();
    assert.equal(c.buf.length, 0, wire);
  }
});

test('(g) a 70 KB header -> 431, full response, no reset', T, async () => {
  const c = await Raw.open();
  await c.write(`GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
  assertRefusal(await c.response(), 'HTTP/1.1 431 Request Header Fields Too Large', 'request head too large');
  await c.serverCloses();
  assert.equal(c.buf.length, 0);
});

test('(h) Content-Length far above max_body -> 413 before the body is read, no reset', T, async () => {
  await st.fakeReset();
  const declared = 50 * 1024 * 1024;
  const head = (id) => `POST /chat/completions HTTP/1.1\r\nHost: x\r\n${AUTH}x-request-id: ${id}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n` +
    '{"model":"deepseek-chat","messages":[{"role":"user","content":"';
  const c = await Raw.open();
  await c.write(head('big-1') + 'x'.repeat(4096));
  // Only ~4 KB of the 50 MB were sent: the answer cannot have waited for the body.
  assert413(await c.response(), 'big-1', declared);
  await c.serverCloses();
  assert.equal(c.buf.length, 0);
  // A client that goes on uploading after the answer (as curl does): seekd has half-closed and
  // discards the rest instead of closing on unread bytes, which would reset the connection (and
  // lose an answer still on its way).
  const c2 = await Raw.open({ halfOpen: true });
  await c2.write(head('big-2') + 'x'.repeat(256 * 1024));
  assert413(await c2.response(), 'big-2', declared);
  await c2.until(() => c2.ended, 'server FIN');
  for (let i = 0; i < 15; i++) {
    await c2.write('x'.repeat(16 * 1024));
    await sleep(20);
  }
  await sleep(50);
  assert.equal(c2.error, null, `still taking the body after the answer: ${c2.error?.code}`);
  c2.sock.end();
  await withDeadline(new Promise((resolve) => c2.sock.once('close', resolve)), 3000, null);
  assert.equal(c2.closed, true);
  assert.equal(c2.error, null);
  assert.equal(c2.buf.length, 0);
  assert.equal((await st.fakeStats()).requests, 0, 'nothing went upstream');
  assert.ok(await st.waitLog(/req=big-1 POST \/chat\/completions status=413 /), 'logged as 413');
});

test('(i) a chunked body growing past max_body -> 413, connection closed', T, async () => {
  await st.fakeReset();
  const c = await Raw.open();
  const chunk = 'a'.repeat(16384);
  let wire = `POST /chat/completions HTTP/1.1\r\nHost: x\r\n${AUTH}x-request-id: big-3\r\n` +
    'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
  // Four chunks fill max_body exactly; the fifth one's size line goes past it.
  for (let i = 0; i < 5; i++) wire += `4000\r\n${chunk}\r\n`;
  await c.write(wire);
  assert413(await c.response(), 'big-3', MAX_BODY + 16384);
  await c.serverCloses();
  assert.equal((await st.fakeStats()).requests, 0);
});

test('(i) a chunked body of exactly max_body is read', T, async () => {
  const c = await Raw.open();
  const body = echoBody('fits');
  // The JSON followed by spaces up to max_body, in 16 KiB chunks.
  const padded = body + ' '.repeat(MAX_BODY - Buffer.byteLength(body));
  let wire = `POST /chat/completions HTTP/1.1\r\nHost: x\r\n${AUTH}x-request-id: fit-1\r\n` +
    'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
  for (let off = 0; off < MAX_BODY; off += 16384) wire += `4000\r\n${padded.slice(off, off + 16384)}\r\n`;
  await c.write(wire + '0\r\n\r\n');
  assertChatAnswer(await c.response(), 'fit-1', 'fits');
  assert.ok(await c.staysOpen());
  c.destroy();
});

test('(j) HEAD /ping: Content-Length 4 and no body', T, async () => {
  const c = await Raw.open();
  await c.write('HEAD /ping HTTP/1.1\r\nHost: x\r\nx-request-id: hd-1\r\n\r\n');
  const res = await c.response({ head: true });
  assert.equal(res.statusLine, 'HTTP/1.1 200 OK');
  assertHeaders(res, pingHeaders('hd-1'));
  await sleep(50);
  assert.equal(c.buf.length, 0, 'no body bytes after the head');
  // Were there a stray body, it would show up in front of this answer.
  await c.write(ping('hd-2'));
  assertPong(await c.response(), 'hd-2');
  c.destroy();
});

test('(k) OPTIONS preflight -> 204 with the CORS headers, the asked-for headers allowed', T, async () => {
  const c = await Raw.open();
  await c.write('OPTIONS /chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: https://example.com\r\n' +
    'Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type, x-stainless-os\r\n' +
    'x-request-id: pf-1\r\n\r\n');
  const res = await c.response();
  assert.equal(res.statusLine, 'HTTP/1.1 204 No Content');
  assertHeaders(res, {
    Date: DATE_RE,
    'x-request-id': 'pf-1',
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': 'x-request-id',
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    'Access-Control-Allow-Headers': 'authorization, content-type, x-stainless-os',
    'Access-Control-Max-Age': '86400',
  });
  await sleep(50);
  assert.equal(c.buf.length, 0, '204 has no body');
  await c.write(ping('pf-2'));
  assertPong(await c.response(), 'pf-2');
  c.destroy();
});

test('(l) a half-sent head and silence: dropped after client_timeout_ms', T, async () => {
  const half = await Raw.open();
  const idle = await Raw.open(); // an idle keep-alive connection after one answer
  const t0 = Date.now();
  await half.write('GET /ping HTTP/1.1\r\nHo');
  await idle.write(ping('idle-1'));
  assertPong(await idle.response(), 'idle-1');
  const t1 = Date.now();
  await half.until(() => half.ended || half.closed, 'half-sent head dropped', CLIENT_TIMEOUT_MS + 3000);
  const waited = Date.now() - t0;
  assert.equal(half.buf.length, 0, 'dropped without an answer');
  assert.equal(half.error, null);
  assert.ok(waited >= CLIENT_TIMEOUT_MS - 50 && waited < CLIENT_TIMEOUT_MS + 1500, `dropped after ${waited} ms`);
  await idle.until(() => idle.ended || idle.closed, 'idle connection dropped', CLIENT_TIMEOUT_MS + 3000);
  const idled = Date.now() - t1;
  assert.equal(idle.buf.length, 0);
  assert.ok(idled >= CLIENT_TIMEOUT_MS - 100 && idled < CLIENT_TIMEOUT_MS + 1500, `idle dropped after ${idled} ms`);
});

test('(m) a client leaving while its upstream answer is pending: "client disconnected"', T, async () => {
  await st.fakeReset();
  const c = await Raw.open();
  // A non-stream request whose upstream sends nothing for 5 s; longer than client_timeout_ms,
  // which must not apply while the handler works with nothing to send.
  await c.write(chatReq('gone-1', echoBody('never read', { fake: { fault: 'slow_first_byte', delay_ms: 5000 } })));
  let active = 0;
  for (let i = 0; i < 200 && active < 1; i++) {
    active = (await st.fakeStats()).active;
    if (active < 1) await sleep(10);
  }
  assert.equal(active, 1, 'the upstream has the request');
  await sleep(CLIENT_TIMEOUT_MS + 300);
  assert.ok(await c.staysOpen(0), 'not dropped by the idle timer while the answer is pending');
  assert.doesNotMatch(st.logs(), /req=gone-1 POST/);
  const tGone = Date.now();
  c.destroy();
  const m = await st.waitLog(
    /req=gone-1 POST \/chat\/completions model=deepseek-chat stream=0 status=499 .* client disconnected; upstream cancelled\n/, 2000);
  assert.ok(m, `seekd logs the disconnect; logs:\n${st.logs().slice(-1500)}`);
  // and the upstream saw it: its request cancelled before it sent a byte, long before its 5 s
  const s = await waitFor(async () => { const x = await st.fakeStats(); return x.cancelled >= 1 ? x : null; }, 2000);
  assert.ok(s, 'the upstream request was cancelled');
  assert.equal(s.completed, 0, 'the upstream never answered');
  assert.equal(s.cancel_events.at(-1).ms_after_last_byte, -1, 'cancelled before its first byte');
  // 2 s, not the 5 s the upstream would take: loose enough for ASan on two shared cores
  assert.ok(Date.now() - tGone < 2000, 'seen at once, not when the upstream answers');
});

test('(n) a chunk size near 2^64 does not wrap the max_body check -> 413, connection closed', T, async () => {
  await st.fakeReset();
  // The body so far plus the new chunk's size wraps around 2^64 to 0: once taken as fitting
  // max_body, the request then waited for the chunk and hung without an answer until the idle
  // timeout. The refused length saturates at SIZE_MAX.
  const cases = [
    ['wrap-1', '1\r\na\r\nffffffffffffffff\r\n'],
    ['wrap-2', `10\r\n${'b'.repeat(16)}\r\nfffffffffffffff0\r\n`],
  ];
  for (const [id, chunks] of cases) {
    const c = await Raw.open();
    const t0 = Date.now();
    await c.write(`POST /chat/completions HTTP/1.1\r\nHost: x\r\n${AUTH}x-request-id: ${id}\r\n` +
      'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' + chunks + 'c'.repeat(1000));
    const res = await c.response({ timeoutMs: CLIENT_TIMEOUT_MS + 2000 });
    const took = Date.now() - t0;
    assert413(res, id, '18446744073709551615');
    assert.ok(took < CLIENT_TIMEOUT_MS, `answered after ${took} ms, not at once`);
    await c.serverCloses();
    assert.equal(c.buf.length, 0);
  }
  assert.equal((await st.fakeStats()).requests, 0, 'nothing went upstream');
});

test('(o) a client uploading fast after its 413 is cut off once the linger time is over', { timeout: 20000 }, async () => {
  // (h) checks that a client still sending after the answer gets no reset while seekd lingers.
  // Here the client sends as fast as it can: the linger timer, armed once when seekd half-closes,
  // must still end the connection; re-armed by every read, it kept reading for as long as the
  // client sent.
  const declared = 1000000000;
  const c = await Raw.open({ halfOpen: true });
  await c.write(`POST /chat/completions HTTP/1.1\r\nHost: x\r\n${AUTH}x-request-id: linger-1\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n` +
    '{"model":"deepseek-chat","messages":[{"role":"user","content":"');
  const blk = Buffer.alloc(65536, 'x');
  const gone = () => c.closed || c.error;
  let sent = 0;
  let stop = false;
  const writer = (async () => {
    while (!stop && !gone()) {
      const more = c.sock.write(blk);
      sent += blk.length;
      if (!more) {
        let onDrain;
        await Promise.race([new Promise((resolve) => c.sock.once('drain', onDrain = resolve)), sleep(100)]);
        c.sock.off('drain', onDrain);
      } else {
        await new Promise(setImmediate); // let the answer and the close be seen
      }
    }
  })();
  try {
    const res = await c.response({ timeoutMs: 5000 });
    const tAnswer = Date.now();
    assert413(res, 'linger-1', declared);
    await c.waitFor(gone, LINGER_MS + 6000);
    const cut = Date.now() - tAnswer;
    const took = ((sent - c.sock.writableLength) / 1e6).toFixed(0);
    assert.ok(gone(), `still read ${cut} ms after the answer; the client sent ${took} MB`);
    assert.equal(c.ended, true, 'a FIN came first, with the answer');
    assert.ok(cut >= LINGER_MS - 500, `cut off ${cut} ms after the answer, before the linger time`);
    assert.ok(cut < LINGER_MS + 4000, `cut off only ${cut} ms after the answer`);
    assert.equal(c.buf.length, 0);
  } finally {
    stop = true;
    await writer;
    c.destroy();
  }
});

/** Field i of /proc/sys/net/ipv4/<name> (e.g. tcp_wmem's maximum), or dflt where unreadable. */
function sysctlField(name, i, dflt) {
  try {
    const v = Number(fs.readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[i]);
    return v > 0 ? v : dflt;
  } catch {
    return dflt;
  }
}

function rssKiB(pid) {
  return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]);
}

test('(p) a client pipelining without reading its answers is held to max_output, then dropped', { timeout: 30000 }, async (t) => {
  // seekd takes no request while more than max_output (1 MiB) of answers is unsent: its
  // input then fills, it stops reading, and the idle timeout drops the client. Before, it took
  // every request, queueing ~7 bytes of answer per byte of request without bound.
  const pid = st.seekd.pid;
  const rss0 = rssKiB(pid);
  const log0 = st.logs().length;
  const sock = net.connect({ port: st.port, host: '127.0.0.1' });
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  sock.pause(); // never read an answer
  let err = null;
  let closed = false;
  const closedP = new Promise((resolve) => sock.once('close', () => { closed = true; resolve(); }));
  sock.on('error', (e) => { err = e; });
  const reqs = Buffer.from('GET /ping HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2048)); // 63 KB
  const CAP = 48 << 20; // queued by the client: far more than seekd ever should take
  let sent = 0;
  let pinged = false;
  let stalled = false;
  let took = 0; // what the kernel took of our writes: seekd's reads plus the buffers between us
  const t0 = Date.now();
  while (!err && !closed && sent < CAP && Date.now() - t0 < 8000) {
    const more = sock.write(reqs);
    sent += reqs.length;
    took = sent - sock.writableLength;
    if (more) {
      await new Promise(setImmediate);
      continue;
    }
    if (!pinged && sent > (2 << 20)) {
      // The kernel buffers are full: seekd still answers everybody else meanwhile.
      pinged = true;
      const o = await Raw.open();
      await o.write(ping('beside-stalled'));
      assertPong(await o.response(), 'beside-stalled');
      o.destroy();
    }
    const drained = await Promise.race([
      new Promise((resolve) => sock.once('drain', () => resolve(true))),
      sleep(1500).then(() => false), closedP.then(() => false)]);
    if (!drained) {
      stalled = true;
      break;
    }
    took = sent - sock.writableLength;
  }
  const tStop = Date.now();
  try {
    // How many requests seekd answered: each answer is logged.
    const answered = (st.logs().slice(log0).match(/ GET \/ping status=200 /g) || []).length;
    const grown = rssKiB(pid) - rss0;
    const what = `client queued ${(sent / 1e6).toFixed(1)} MB in ${tStop - t0} ms, the kernel took ` +
      `${(took / 1e6).toFixed(1)} MB; seekd answered ${answered} requests, its RSS grew ${grown} KiB`;
    t.diagnostic(what);
    // Answers (~245 bytes each) are unsent in seekd (max_output, plus one answer), in its socket's
    // send buffer (at most tcp_wmem's maximum) and in ours (we read nothing, so it stays near
    // tcp_rmem's default); 1 MiB of slack, and 150 bytes an answer to be safe.
    const bound = Math.round((MAX_OUTPUT + sysctlField('tcp_wmem', 2, 4 << 20) +
      2 * sysctlField('tcp_rmem', 1, 128 << 10) + (1 << 20)) / 150);
    assert.ok(answered < bound, `seekd kept taking requests (bound ${bound}): ${what}`);
    // Under AddressSanitizer freed memory sits in quarantine, so RSS says nothing there.
    if (!SANITIZED) assert.ok(grown < 8 * 1024, `seekd's memory grew: ${what}`);
    assert.ok(pinged, `the client never filled the buffers: ${what}`);
    assert.ok(stalled || err || closed, `seekd kept reading: ${what}`);
    // The stalled connection is dropped (client_timeout_ms after its last progress); our writes
    // still queued fail on the reset.
    await withDeadline(closedP, CLIENT_TIMEOUT_MS + 4000, null);
    assert.ok(closed, `the stalled connection is still open ${Date.now() - tStop} ms after the client stopped`);
  } finally {
    sock.destroy();
  }
  const c = await Raw.open();
  await c.write(ping('after-stalled'));
  assertPong(await c.response(), 'after-stalled');
  c.destroy();
});

test('(q) HTTP/1.1 without Host, or any request with two, -> 400 (RFC 9112 §3.2)', T, async () => {
  for (const wire of [
    'GET /ping HTTP/1.1\r\nx-request-id: nohost\r\n\r\n',
    'GET /ping HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
    'GET /ping HTTP/1.0\r\nHost: x\r\nhost: x\r\n\r\n',
  ]) {
    const c = await Raw.open();
    await c.write(wire);
    assertRefusal(await c.response(), 'HTTP/1.1 400 Bad Request', 'malformed HTTP request');
    await c.serverCloses();
  }
  const c = await Raw.open(); // HTTP/1.0 needs none
  await c.write('GET /ping HTTP/1.0\r\nx-request-id: h10\r\n\r\n');
  assertPong(await c.response(), 'h10', { Connection: 'close' });
  await c.serverCloses();
});

test('(r) HTTP/1.0 with Transfer-Encoding: answered, then closed even if keep-alive was asked', T, async () => {
  const c = await Raw.open();
  await c.write('POST /nowhere HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '2\r\n{}\r\n0\r\n\r\n' + ping('after-te', '1.0', 'Connection: keep-alive\r\n'));
  const res = await c.response();
  assert.equal(res.status, 404);
  assert.equal(res.get('connection'), 'close');
  await c.serverCloses();
  assert.equal(c.buf.length, 0, 'the request behind it is not read: its framing is in doubt');
});

test('(s) an absolute-form request target is served by its path', T, async () => {
  const c = await Raw.open();
  await c.write(`GET http://127.0.0.1:${st.port}/ping HTTP/1.1\r\nHost: x\r\nx-request-id: abs-1\r\n\r\n`);
  assertPong(await c.response(), 'abs-1');
  await c.write('GET HTTP://x/ping?q=1 HTTP/1.1\r\nHost: x\r\nx-request-id: abs-2\r\n\r\n');
  assertPong(await c.response(), 'abs-2');
  c.destroy();
});

test('seekd still serves after all of the above', T, async () => {
  const c = await Raw.open();
  await c.write(ping('final'));
  assertPong(await c.response(), 'final');
  c.destroy();
});
