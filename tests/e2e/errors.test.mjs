// errors.test.mjs - errors surface as the SDK's typed errors with DeepSeek envelopes: validation,
// malformed JSON, body limit, upstream 401/402/429/500/503/html502, unknown models and routes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startStack, userMsg } from './harness.mjs';

let st;
before(async () => { st = await startStack({ config: 'max_body = 64k\n' }); });
after(async () => { await st?.stop(); });

const T = { timeout: 10000 };

function assertEnvelope(body, status) {
  assert.equal(typeof body, 'object', `status ${status} body is a JSON object`);
  assert.equal(typeof body.error, 'object');
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  assert.equal(typeof body.error.type, 'string');
}

async function sdkError(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected an error');
}

test('temperature 3 -> BadRequestError 400, param temperature, upstream not called', T, async () => {
  await st.fakeReset();
  const e = await sdkError(st.client().chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), temperature: 3,
  }));
  assert.ok(e instanceof OpenAI.BadRequestError, e.constructor.name);
  assert.equal(e.status, 400);
  assert.equal(e.param, 'temperature');
  assert.equal(e.error.param, 'temperature');
  assert.equal(e.type, 'invalid_request_error');
  assert.match(e.message, /temperature/);
  assert.ok(e.headers['x-request-id'] || e.headers.get?.('x-request-id'));
  assert.equal((await st.fakeStats()).requests, 0);
});

test('empty messages -> 400', T, async () => {
  const e = await sdkError(st.client().chat.completions.create({ model: 'deepseek-chat', messages: [] }));
  assert.ok(e instanceof OpenAI.BadRequestError);
  assert.equal(e.status, 400);
});

test('malformed JSON -> 400 envelope', T, async () => {
  const res = await st.fetch('/chat/completions', {
    body: '{"model": "deepseek-chat", "messages": [', headers: { 'Content-Type': 'application/json' },
  });
  assert.equal(res.status, 400);
  assert.match(res.headers.get('content-type'), /application\/json/);
  assert.ok(res.headers.get('x-request-id'));
  const b = await res.json();
  assertEnvelope(b, 400);
  assert.equal(b.error.type, 'invalid_request_error');
});

test('body over max_body (64k) -> 413 envelope', T, async () => {
  await st.fakeReset();
  const big = 'a'.repeat(70 * 1024);
  const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg(big) } });
  assert.equal(res.status, 413);
  assertEnvelope(await res.json(), 413);
  assert.equal((await st.fakeStats()).requests, 0);
  // Just under the limit still works.
  const ok = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('a'.repeat(60 * 1024)) } });
  assert.equal(ok.status, 200);
  await ok.json();
});

test('body over max_body via the SDK -> APIError 413', T, async () => {
  const e = await sdkError(st.client().chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('b'.repeat(80 * 1024)),
  }));
  assert.ok(e instanceof OpenAI.APIError);
  assert.equal(e.status, 413);
});

// The upstream's own error envelope reaches the client as the upstream wrote it: the same
// status and the same bytes (DeepSeek's message, type, param and code, nothing prefixed or
// renamed), here with the client's own key (bring-your-own mode). The reference is what the
// upstream itself answers to the same request.
async function upstreamAnswer(fake) {
  const body = JSON.stringify({ model: 'deepseek-chat', messages: userMsg('hi'), fake });
  const r = await fetch(`${st.fakeUrl}/chat/completions`, {
    method: 'POST', body,
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer sk-test-0123456789abcdef' },
  });
  return { status: r.status, text: await r.text() };
}

for (const fault of ['422', '429', '402', '500', '503']) {
  test(`upstream ${fault}: the client gets the upstream's envelope byte for byte`, T, async () => {
    const want = await upstreamAnswer({ fault });
    const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault } } });
    assert.equal(res.status, want.status);
    assert.equal(await res.text(), want.text);
    assert.match(res.headers.get('content-type'), /^application\/json/);
  });
}

test('upstream 401 on the client\'s own key: the upstream\'s envelope byte for byte', T, async () => {
  const key = 'sk-bad-000011112222';
  const direct = await fetch(`${st.fakeUrl}/chat/completions`, {
    method: 'POST', body: JSON.stringify({ model: 'deepseek-chat', messages: userMsg('hi') }),
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
  });
  const want = await direct.text();
  const res = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi') }, auth: key });
  assert.equal(res.status, 401);
  assert.equal(await res.text(), want);
});

test('upstream 429 -> RateLimitError with Retry-After relayed', T, async () => {
  const e = await sdkError(st.client().chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: '429', retry_after: 7 },
  }));
  assert.ok(e instanceof OpenAI.RateLimitError, e.constructor.name);
  assert.equal(e.status, 429);
  assertEnvelope(e.error ? { error: e.error } : null, 429);
  assert.equal(e.headers.get?.('retry-after') ?? e.headers['retry-after'], '7');
});

test('upstream 500 -> InternalServerError with DeepSeek envelope', T, async () => {
  const e = await sdkError(st.client().chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: '500' },
  }));
  assert.ok(e instanceof OpenAI.InternalServerError, e.constructor.name);
  assert.equal(e.status, 500); /* relayed as the upstream said it */
  assert.deepEqual(e.error, { message: 'Server Error', type: 'server_error', param: null, code: 'invalid_request_error' });
});

test('upstream 503 -> InternalServerError 503', T, async () => {
  const e = await sdkError(st.client().chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: '503' },
  }));
  assert.ok(e instanceof OpenAI.InternalServerError, e.constructor.name);
  assert.equal(e.status, 503);
  assertEnvelope({ error: e.error }, 503);
  assert.match(e.error.message, /overloaded/i);
});

test('upstream 503 on a stream request -> HTTP 503 (nothing streamed yet)', T, async () => {
  const e = await sdkError((async () => {
    const s = await st.client().chat.completions.create({
      model: 'deepseek-chat', messages: userMsg('hi'), stream: true, fake: { fault: '503' },
    });
    for await (const _ of s) { /* drain */ }
  })());
  assert.ok(e instanceof OpenAI.APIError, e.constructor.name);
  assert.equal(e.status, 503);
});

test('upstream html 502 -> 502 JSON envelope with a clear message', T, async () => {
  const res = await st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'html502' } },
  });
  assert.equal(res.status, 502);
  assert.match(res.headers.get('content-type'), /application\/json/);
  const b = await res.json();
  assertEnvelope(b, 502);
  assert.match(b.error.message, /upstream/i);
  assert.match(b.error.message, /502/);
  assert.doesNotMatch(b.error.message, /<html>/);
  const e = await sdkError(st.client().chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: 'html502' },
  }));
  assert.ok(e instanceof OpenAI.InternalServerError);
  assert.equal(e.status, 502);
});

test('upstream 401 (bad own token) -> AuthenticationError', T, async () => {
  const e = await sdkError(st.client({ apiKey: 'sk-bad-000011112222' }).chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'),
  }));
  assert.ok(e instanceof OpenAI.AuthenticationError, e.constructor.name);
  assert.equal(e.status, 401);
});

test('upstream 402 -> APIError 402 Insufficient Balance', T, async () => {
  const e = await sdkError(st.client().chat.completions.create({
    model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: '402' },
  }));
  assert.ok(e instanceof OpenAI.APIError);
  assert.equal(e.status, 402);
  assert.match(e.error.message, /Insufficient Balance/);
});

test('models.list and models.retrieve', T, async () => {
  const c = st.client();
  const page = await c.models.list();
  // the upstream's own list (the fake answers DeepSeek's current one), not a built-in one
  assert.deepEqual(page.data.map((m) => m.id), ['deepseek-flash', 'deepseek-v4-pro']);
  for (const m of page.data) {
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'deepseek');
  }
  const m = await c.models.retrieve('deepseek-flash');
  assert.equal(m.id, 'deepseek-flash');
  assert.equal(m.object, 'model');
  const e = await sdkError(c.models.retrieve('deepseek-chat')); // retired 2026-07-24
  assert.ok(e instanceof OpenAI.NotFoundError, e.constructor.name);
  assert.equal(e.status, 404);
  assert.equal(e.error.message, "Model Not Exist: 'deepseek-chat'");
});

test('GET /user/balance relayed', T, async () => {
  const res = await st.fetch('/user/balance');
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {
    is_available: true,
    balance_infos: [{ currency: 'CNY', total_balance: '110.00', granted_balance: '10.00', topped_up_balance: '100.00' }],
  });
  const s = await st.fakeStats();
  assert.equal(s.last_path, '/user/balance');
  assert.equal(s.last_authorization, 'Bearer sk-test-0123456789abcdef');
});

test('/ping answers pong', T, async () => {
  const res = await st.fetch('/ping', { auth: false });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/plain/);
  assert.ok(res.headers.get('x-request-id'));
  assert.equal(await res.text(), 'pong');
});

test('/health answers JSON: the status to anyone, the details to the admin token', T, async () => {
  const res = await st.fetch('/health', { auth: false });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/json/);
  assert.ok(res.headers.get('x-request-id'));
  const pub = await res.json();
  assert.deepEqual(Object.keys(pub), ['status'], 'nothing but the status without the admin token');
  assert.match(pub.status, /^(ok|degraded)$/); // earlier tests' faults may have ejected the upstream
  const b = await st.health();
  assert.equal(b.status, pub.status);
  assert.ok(Array.isArray(b.backends));
});

test('unknown route -> 404 envelope with x-request-id', T, async () => {
  const res = await st.fetch('/no/such/route');
  assert.equal(res.status, 404);
  assert.ok(res.headers.get('x-request-id'));
  assertEnvelope(await res.json(), 404);
});

test('x-request-id on every response, unique', T, async () => {
  const ids = new Set();
  const reqs = [
    st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi') } }),
    st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi'), stream: true } }),
    st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi'), temperature: 3 } }),
    st.fetch('/models'),
    st.fetch('/user/balance'),
    st.fetch('/ping'),
    st.fetch('/nope'),
    st.fetch('/chat/completions', { method: 'OPTIONS', headers: { Origin: 'http://example.com', 'Access-Control-Request-Method': 'POST' } }),
  ];
  for (const p of reqs) {
    const res = await p;
    const id = res.headers.get('x-request-id');
    assert.ok(id, `${res.url} ${res.status} has x-request-id`);
    ids.add(id);
    await res.arrayBuffer();
  }
  assert.equal(ids.size, reqs.length, 'request ids are unique');
});

test('CORS preflight answered', T, async () => {
  const res = await st.fetch('/chat/completions', {
    method: 'OPTIONS',
    auth: false,
    headers: {
      Origin: 'http://localhost:3000',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization, content-type',
    },
  });
  assert.ok(res.status === 204 || res.status === 200, String(res.status));
  const allow = res.headers.get('access-control-allow-origin');
  assert.ok(allow === '*' || allow === 'http://localhost:3000', String(allow));
  assert.match(res.headers.get('access-control-allow-methods') || '', /POST/);
  assert.match((res.headers.get('access-control-allow-headers') || '').toLowerCase(), /authorization/);
  assert.match((res.headers.get('access-control-allow-headers') || '').toLowerCase(), /content-type/);
  await res.arrayBuffer();
  // The actual request also carries Allow-Origin (browsers check both).
  const r2 = await st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('hi') }, headers: { Origin: 'http://localhost:3000' },
  });
  assert.equal(r2.status, 200);
  assert.ok(r2.headers.get('access-control-allow-origin'));
  await r2.json();
});
