// output-cap.test.mjs - max_output bounds a whole response as well as a stream's backlog: an
// answer larger than it is refused whole with a well-formed error (never sent half), and the
// connection stays usable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startStack, userMsg, parseSSE, withDeadline } from './harness.mjs';

// 40 model names of 60 bytes: GET /models is about 4.5 KiB, twice max_output.
const MODELS = Array.from({ length: 40 }, (_, i) => `m${String(i).padStart(2, '0')}-` + 'x'.repeat(56));
const MAX_OUTPUT = 2048;

let st;
before(async () => {
  st = await startStack({ config: `max_output = 2k\nmodels = ${MODELS.join(', ')}\n` });
});
after(async () => { await st?.stop(); });

const T = { timeout: 10000 };

// Two requests on one keep-alive connection; resolves with both answers (status, headers, body).
function twoOnOneConnection(paths) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (p) => new Promise((resolve, reject) => {
    const req = http.get(`${st.baseURL}${p}`, {
      agent, headers: { Authorization: 'Bearer sk-test-0123456789abcdef' }, timeout: 5000,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, socket: req.socket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
  return (async () => {
    const a = await get(paths[0]);
    const b = await get(paths[1]);
    agent.destroy();
    return [a, b];
  })();
}

test('a whole response over max_output is replaced by a complete 500 envelope', T, async () => {
  const [a, b] = await twoOnOneConnection(['/models', `/models/${MODELS[3]}`]);
  assert.equal(a.status, 500);
  assert.equal(a.headers['content-type'], 'application/json');
  assert.equal(Number(a.headers['content-length']), Buffer.byteLength(a.body));
  assert.ok(Buffer.byteLength(a.body) <= MAX_OUTPUT);
  const err = JSON.parse(a.body).error;
  assert.match(err.message, /^the response is too large \(\d+ bytes; this server sends at most 2048 at once\)$/);
  // the refused answer was not half-sent: the same connection carries the next one intact
  assert.equal(b.socket, a.socket, 'one keep-alive connection');
  assert.equal(b.status, 200);
  assert.deepEqual(JSON.parse(b.body).id, MODELS[3]);
});

test('a non-streamed answer over max_output is a 502 envelope, not a cut body', T, async () => {
  const res = await st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('echo:' + 'y'.repeat(3000)) },
  });
  assert.equal(res.status, 502);
  const body = await res.json();
  assert.equal(body.error.type, 'api_error');
  assert.equal(body.error.message, "answer exceeds the server's size limit");
});


// Regression: with max_output = 2k a streamed echo of 3000 characters stalled (the upstream
// paused for the slow-client rule and was never resumed), or the client was cut.
test('a streamed answer several times max_output arrives whole to a client that reads', T, async () => {
  const text = 'z'.repeat(3000);
  const res = await st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', stream: true, messages: userMsg('echo:' + text) },
  });
  assert.equal(res.status, 200);
  // 8 s: the whole stream takes well under a second even under ASan; a stall never ends
  const { events } = parseSSE(await withDeadline(res.text(), 8000, new Error('stream stalled')));
  assert.equal(events.at(-1), '[DONE]');
  const got = events.slice(0, -1).map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
  assert.equal(got, text);
});
