// access.test.mjs - who may reach seekd (issue 10): with server keys and no client keys a
// browser page could spend the server's key, so foreign origins and Hosts that do not name the
// server are refused there, while bring-your-own-key mode keeps `*`; preflights reflect the
// headers the SDKs ask for; /health shows details only to the admin token; X-Forwarded-For is
// believed only from trusted_proxies. The real-browser proof is browser.test.mjs.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startStack, userMsg, ADMIN_TOKEN } from './harness.mjs';

const T = { timeout: 15000 };
const SERVER_KEY = 'sk-srv-5f0e1d2c3b4a5968';
const ALLOWED = 'http://app.allowed.test:5173';
const CHAT = JSON.stringify({ model: 'deepseek-chat', messages: userMsg('hi') });

/** One request with full control of the head (fetch will not set Host). */
function raw(port, { method = 'GET', path = '/ping', headers = {}, body = null } = {}) {
  return new Promise((resolve, reject) => {
    const h = { Host: `127.0.0.1:${port}`, ...headers };
    if (body !== null) {
      h['Content-Type'] = 'application/json';
      h['Content-Length'] = Buffer.byteLength(body);
    }
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: h, timeout: 10000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body ?? undefined);
  });
}

function envelope(message, code) {
  return { error: { message, type: 'invalid_request_error', param: null, code } };
}

const AUTH = { Authorization: 'Bearer anything-goes' };
const corsHeaders = (h) => Object.keys(h).filter((k) => k.startsWith('access-control-')).sort();

describe('server keys, no client keys: origins and hosts are checked', () => {
  let st;
  before(async () => {
    st = await startStack({
      serverKey: SERVER_KEY,
      config: `cors_origins = ${ALLOWED}\nallowed_hosts = seekd.lan, pinned.lan:1\n`,
    });
  });
  after(async () => { await st?.stop(); });

  test('a foreign origin\'s preflight is refused: 403 envelope, no CORS headers', T, async () => {
    const r = await raw(st.port, {
      method: 'OPTIONS', path: '/chat/completions',
      headers: { Origin: 'http://evil.test:8080', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
    });
    assert.equal(r.status, 403);
    assert.deepEqual(corsHeaders(r.headers), []);
    assert.deepEqual(JSON.parse(r.text), envelope(
      "Origin 'http://evil.test:8080' may not call this server: it spends its own upstream keys; list the origin in cors_origins to allow it",
      'origin_not_allowed'));
  });

  test('a foreign origin\'s request is refused before it reaches the upstream', T, async () => {
    await st.fakeReset();
    const r = await raw(st.port, { method: 'POST', path: '/chat/completions', headers: { ...AUTH, Origin: 'http://evil.test:8080' }, body: CHAT });
    assert.equal(r.status, 403);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(JSON.parse(r.text).error.code, 'origin_not_allowed');
    assert.equal((await st.fakeStats()).requests, 0, 'the upstream was not called');
    // "null" (sandboxed frames, file://) is foreign too
    const n = await raw(st.port, { path: '/models', headers: { ...AUTH, Origin: 'null' } });
    assert.equal(n.status, 403);
  });

  test('an allowed origin: preflight reflects the SDKs\' headers, the answer names the origin', T, async () => {
    const asked = 'authorization, content-type, x-stainless-os, x-stainless-helper-method, user-agent';
    const p = await raw(st.port, {
      method: 'OPTIONS', path: '/chat/completions',
      headers: { Origin: ALLOWED, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': asked, 'Access-Control-Request-Private-Network': 'true' },
    });
    assert.equal(p.status, 204);
    assert.equal(p.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(p.headers['access-control-allow-headers'], asked);
    assert.equal(p.headers['access-control-allow-methods'], 'GET, POST, OPTIONS');
    assert.equal(p.headers['access-control-allow-private-network'], 'true');
    assert.equal(p.headers['access-control-max-age'], '86400');
    assert.equal(p.headers.vary, 'Origin');
    const r = await raw(st.port, { method: 'POST', path: '/chat/completions', headers: { ...AUTH, Origin: ALLOWED }, body: CHAT });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(r.headers['access-control-expose-headers'], 'x-request-id');
    assert.equal(JSON.parse(r.text).object, 'chat.completion');
  });

  test('no Origin (curl, SDKs outside a browser): served, no CORS headers', T, async () => {
    const r = await raw(st.port, { path: '/models', headers: AUTH });
    assert.equal(r.status, 200);
    assert.deepEqual(corsHeaders(r.headers), []);
  });

  test('a page served from seekd\'s own origin may call it', T, async () => {
    const r = await raw(st.port, { path: '/models', headers: { ...AUTH, Host: `localhost:${st.port}`, Origin: `http://localhost:${st.port}` } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], `http://localhost:${st.port}`);
  });

  test('Host must name this server (DNS rebinding): 403 envelope otherwise', T, async () => {
    for (const host of [`localhost:${st.port}`, `127.0.0.1:${st.port}`, `[::1]:${st.port}`, `LOCALHOST.:${st.port}`,
      'seekd.lan', `seekd.lan:${st.port}`, 'pinned.lan:1']) {
      const r = await raw(st.port, { headers: { Host: host } });
      assert.equal(r.status, 200, `Host: ${host}`);
    }
    for (const host of [`rebind.evil.test:${st.port}`, 'rebind.evil.test', `127.0.0.1:${st.port + 1}`, 'localhost',
      'pinned.lan:2', `127.0.0.1.evil.test:${st.port}`]) {
      const r = await raw(st.port, { headers: { Host: host } });
      assert.equal(r.status, 403, `Host: ${host}`);
      assert.deepEqual(JSON.parse(r.text), envelope(
        `Host '${host}' does not name this server; list it in allowed_hosts to reach seekd under that name`,
        'host_not_allowed'));
    }
    await st.fakeReset();
    const chat = await raw(st.port, { method: 'POST', path: '/chat/completions', headers: { ...AUTH, Host: `rebind.evil.test:${st.port}` }, body: CHAT });
    assert.equal(chat.status, 403);
    assert.equal((await st.fakeStats()).requests, 0, 'the upstream was not called');
  });
});

describe('bring your own key: any origin, `*`', () => {
  let st;
  before(async () => { st = await startStack({ config: 'trusted_proxies = 127.0.0.1, 10.0.0.0/8\n' }); });
  after(async () => { await st?.stop(); });

  test('a foreign origin is answered with `*`; the preflight reflects what it asks for', T, async () => {
    const asked = 'authorization, content-type, x-stainless-retry-count, user-agent';
    const p = await raw(st.port, {
      method: 'OPTIONS', path: '/chat/completions',
      headers: { Origin: 'http://any.test:3000', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': asked },
    });
    assert.equal(p.status, 204);
    assert.equal(p.headers['access-control-allow-origin'], '*');
    assert.equal(p.headers['access-control-allow-headers'], asked);
    const r = await raw(st.port, { method: 'POST', path: '/chat/completions', headers: { Authorization: 'Bearer sk-own-1234', Origin: 'http://any.test:3000', Host: 'whatever.test' }, body: CHAT });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], '*');
  });

  test('X-Forwarded-For names the client when the peer is a trusted proxy', T, async () => {
    const xff = async (id, value) => {
      const headers = { 'x-request-id': id };
      if (value !== null) headers['X-Forwarded-For'] = value;
      await raw(st.port, { headers });
      return (await st.waitLog(new RegExp(`req=${id} GET /ping status=200 dur_us=\\d+ client=(\\S+)`)))?.[1];
    };
    assert.equal(await xff('xff-none', null), '127.0.0.1');
    assert.equal(await xff('xff-one', '203.0.113.7'), '203.0.113.7');
    // hops we trust are skipped; what an untrusted client claims before itself is not believed
    assert.equal(await xff('xff-chain', '198.51.100.1, 203.0.113.7, 10.1.2.3'), '203.0.113.7');
    assert.equal(await xff('xff-v6', '[2001:db8::7]:4711'), '2001:db8::7');
    assert.equal(await xff('xff-mapped', '::ffff:203.0.113.8'), '203.0.113.8');
    assert.equal(await xff('xff-junk', 'not-an-address'), '127.0.0.1');
  });
});

describe('/health: public status, details for the admin token', () => {
  let st;
  before(async () => { st = await startStack({ serverKey: SERVER_KEY, fakeArgs: ['--key-fault', `${SERVER_KEY}=401`], config: 'probe_interval_ms = 600000\n' }); });
  after(async () => { await st?.stop(); });

  test('without the admin token only {"status"} is shown, to anyone', T, async () => {
    for (const headers of [{}, { Authorization: `Bearer ${SERVER_KEY}` }, { Authorization: 'Bearer wrong-admin-token-0000' }]) {
      const r = await raw(st.port, { path: '/health', headers });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.text, '{"status":"ok"}');
    }
    const d = await st.health();
    assert.equal(d.status, 'ok');
    assert.equal(d.ready, true);
    assert.ok(d.backends[0].upstreams[0].url.startsWith('http://127.0.0.1:'));
  });

  test('nothing can serve: /health/ready 503, /health still 200 "degraded"', T, async () => {
    let r = await raw(st.port, { path: '/health/ready' });
    assert.equal(r.status, 200);
    assert.equal(r.text, '{"status":"ok"}');
    const c = await raw(st.port, { method: 'POST', path: '/chat/completions', headers: AUTH, body: CHAT });
    assert.notEqual(c.status, 200);
    r = await raw(st.port, { path: '/health/ready' });
    assert.equal(r.status, 503);
    assert.equal(r.text, '{"status":"unavailable"}');
    r = await raw(st.port, { path: '/health' });
    assert.equal(r.status, 200);
    assert.equal(r.text, '{"status":"degraded"}');
    const d = await st.health();
    assert.equal(d.status, 'degraded');
    assert.equal(d.ready, false);
    assert.equal(d.backends[0].upstreams[0].keys[0].state, 'disabled');
  });
});

test('admin_token and the access lists are checked when read', T, async () => {
  const { runSeekd, tmpDir } = await import('./harness.mjs');
  const fs = await import('node:fs');
  const path = await import('node:path');
  const cases = [
    ['admin_token = short', 'admin_token must be one word of 16 to 1024 visible ASCII characters'],
    ['trusted_proxies = 10.0.0.0/33', "trusted_proxies: '10.0.0.0/33' is not an IP address or a CIDR range like 10.0.0.0/8"],
    ['cors_origins = app.example', "cors_origins: 'app.example' is not an origin like https://app.example or http://localhost:3000"],
    ['allowed_hosts = a/b', "allowed_hosts: 'a/b' is not a host name like seekd.lan or seekd.lan:8000"],
  ];
  for (const [line, msg] of cases) {
    const dir = tmpDir();
    const cfg = path.join(dir, 'c.conf');
    fs.writeFileSync(cfg, `${line}\n`);
    const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--config', cfg]);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(r.code, 2, line);
    assert.equal(r.stderr, `seekd: ${cfg}:1: ${msg}\n`);
  }
});
