// clients-openai-errors.test.mjs - what the official openai SDK shows for upstream errors that
// seekd relays, down to the text: the error class for the status, `message` exactly
// "<status> <the upstream's message>" (nothing prefixed, nothing doubled), and `error`, `code`,
// `type`, `param` exactly as the upstream's envelope; streamed requests the same, byte for byte.
// Also seekd's own answers: DeepSeek's body-shape 400 ("Failed to deserialize the JSON body into
// the target type: ..."), and the 502 in seekd's words when the upstream refuses the server's key.
// errors.test.mjs covers the non-streamed bytes of these faults and the classes; this file adds
// the exact fields the SDK exposes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startStack, userMsg, TEXT_ANSWER } from './harness.mjs';

const T = { timeout: 10000 };
const CLIENT_KEY = 'sk-test-0123456789abcdef';

async function sdkError(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected an error');
}

/** What the upstream itself answers to this body with this key: {status, text, json}. */
async function upstreamAnswer(st, body, key = CLIENT_KEY) {
  const r = await fetch(`${st.fakeUrl}/chat/completions`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(5000),
  });
  const text = await r.text();
  return { status: r.status, text, json: JSON.parse(text) };
}

const CLASS = {
  400: OpenAI.BadRequestError,
  401: OpenAI.AuthenticationError,
  402: OpenAI.APIError,
  422: OpenAI.UnprocessableEntityError,
  429: OpenAI.RateLimitError,
  500: OpenAI.InternalServerError,
  502: OpenAI.InternalServerError,
  503: OpenAI.InternalServerError,
};

/** The SDK error e carries exactly the envelope `env` with HTTP status `status`. */
function assertSdkError(e, status, env) {
  assert.ok(e instanceof CLASS[status], `${status}: ${e?.constructor?.name}: ${e}`);
  assert.equal(e.status, status);
  assert.deepEqual(e.error, env.error);
  assert.equal(e.message, `${status} ${env.error.message}`);
  assert.equal(e.code, env.error.code);
  assert.equal(e.type, env.error.type);
  assert.equal(e.param, env.error.param);
  assert.ok(e.requestID, 'x-request-id reaches the SDK');
}

describe('the client\'s own key (bring your own)', () => {
  let st;
  before(async () => { st = await startStack(); });
  after(async () => { await st?.stop(); });

  for (const fault of ['422', '429', '402', '500', '503']) {
    for (const stream of [false, true]) {
      test(`upstream ${fault}${stream ? ', streamed' : ''}: the SDK shows the upstream's envelope exactly`, T, async () => {
        const body = { model: 'deepseek-chat', messages: userMsg('hi'), stream, fake: { fault } };
        const want = await upstreamAnswer(st, body);
        assert.equal(want.status, Number(fault));
        if (stream) {
          // Nothing was streamed yet, so the bytes are the upstream's too.
          const res = await st.fetch('/chat/completions', { json: body });
          assert.equal(res.status, want.status);
          assert.match(res.headers.get('content-type'), /^application\/json/);
          assert.equal(await res.text(), want.text);
        }
        const e = await sdkError((async () => {
          const r = await st.client().chat.completions.create(body);
          if (stream) for await (const _ of r) { /* drain */ }
        })());
        assertSdkError(e, want.status, want.json);
      });
    }
  }

  test('429: RateLimitError "429 Rate Limit Reached" with DeepSeek\'s type and code, not doubled', T, async () => {
    const e = await sdkError(st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault: '429' } }));
    assert.ok(e instanceof OpenAI.RateLimitError);
    assert.equal(e.message, '429 Rate Limit Reached');
    assert.deepEqual(e.error, { message: 'Rate Limit Reached', type: 'rate_limit_error', param: null, code: 'invalid_request_error' });
  });

  test('the upstream\'s own 400 (a value it refuses): BadRequestError with its envelope, bytes unchanged', T, async () => {
    const body = { model: 'deepseek-chat', messages: userMsg('hi'), fake: { scenario: 'no-such-scenario' } };
    const want = await upstreamAnswer(st, body);
    assert.equal(want.status, 400);
    const res = await st.fetch('/chat/completions', { json: body });
    assert.equal(res.status, 400);
    assert.equal(await res.text(), want.text);
    assertSdkError(await sdkError(st.client().chat.completions.create(body)), 400, want.json);
  });

  test('the upstream\'s 401 on the client\'s key: AuthenticationError with its envelope exactly', T, async () => {
    const key = 'sk-bad-000011112222';
    const body = { model: 'deepseek-chat', messages: userMsg('hi') };
    const want = await upstreamAnswer(st, body, key);
    assert.equal(want.status, 401);
    const e = await sdkError(st.client({ apiKey: key }).chat.completions.create(body));
    assertSdkError(e, 401, want.json);
    assert.equal(e.message, '401 Authentication Fails, Your api key: ****2222 is invalid');
  });

  // serde's position: line 1 (the SDK sends one line), and the column of the last byte of the
  // offending value (for a missing field, the object's closing brace), found in the very bytes
  // the SDK sends.
  const shapeCases = [
    ['a message without content', { messages: [{ role: 'user' }] },
      'messages[0]: missing field `content`', 'messages[0].content', '{"role":"user"}'],
    ['messages as a string', { messages: 'hi' },
      'messages: invalid type: string "hi", expected a sequence', 'messages', '"messages":"hi"'],
    ['temperature as a string', { messages: userMsg('hi'), temperature: '1' },
      'temperature: invalid type: string "1", expected a number', 'temperature', '"temperature":"1"'],
  ];
  for (const [what, extra, detail, param, marker] of shapeCases) {
    test(`body shape (${what}): BadRequestError 400 "Failed to deserialize the JSON body into the target type: ..."`, T, async () => {
      await st.fakeReset();
      const body = { model: 'deepseek-chat', ...extra };
      const raw = JSON.stringify(body);
      assert.ok(raw.includes(marker));
      const column = raw.indexOf(marker) + marker.length;
      const e = await sdkError(st.client().chat.completions.create(body));
      assertSdkError(e, 400, { error: {
        message: `Failed to deserialize the JSON body into the target type: ${detail} at line 1 column ${column}`,
        type: 'invalid_request_error', param, code: 'invalid_request_error',
      } });
      assert.equal((await st.fakeStats()).requests, 0, 'refused before the upstream');
    });
  }
});

describe('a server key the upstream refuses', () => {
  const KEY = 'sk-bad-server-0000wxyz';
  let st;
  before(async () => { st = await startStack({ serverKey: KEY }); });
  after(async () => { await st?.stop(); });

  // The upstream's words quote the server key's last four characters: they stay in the log.
  const refused = 'upstream rejected the server\'s key (HTTP 401 from the upstream)';

  test('APIError 502 in seekd\'s words (not an AuthenticationError: the client\'s auth is fine)', T, async () => {
    const e = await sdkError(st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') }));
    assert.ok(!(e instanceof OpenAI.AuthenticationError));
    assertSdkError(e, 502, { error: { message: refused, type: 'authentication_error', param: null, code: null } });
  });

  test('no client ever sees any part of the server key', T, async () => {
    const r = await st.fetch('/chat/completions', { json: { model: 'deepseek-chat', messages: userMsg('hi') } });
    const text = await r.text();
    assert.equal(r.status, 502);
    assert.ok(!text.includes('wxyz'), text);
    assert.ok(!text.includes('****'), text);
  });

  test('the key is disabled now: the next request, streamed, is the same 502 naming the model', T, async () => {
    const e = await sdkError((async () => {
      const r = await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi'), stream: true });
      for await (const _ of r) { /* drain */ }
    })());
    assertSdkError(e, 502, { error: {
      message: `every server key for 'deepseek-chat' is rejected by the upstream (${refused})`,
      type: 'authentication_error', param: null, code: null,
    } });
  });
});

describe('a server key, upstream errors about the request', () => {
  const KEY = 'sk-server-good-5555';
  let st;
  before(async () => { st = await startStack({ serverKey: KEY }); });
  after(async () => { await st?.stop(); });

  for (const fault of ['429', '500', '503']) {
    test(`upstream ${fault}: relayed to the client exactly, and the next request is served`, T, async () => {
      const body = { model: 'deepseek-chat', messages: userMsg('hi'), fake: { fault } };
      const want = await upstreamAnswer(st, body, KEY);
      const e = await sdkError(st.client().chat.completions.create(body));
      assertSdkError(e, want.status, want.json);
      const ok = await st.client().chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
      assert.equal(ok.choices[0].message.content, TEXT_ANSWER);
    });
  }
});
