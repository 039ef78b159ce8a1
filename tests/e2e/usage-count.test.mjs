// usage-count.test.mjs - an upstream that reports no usage (vLLM without include_usage, a
// llama.cpp server): seekd counts the tokens itself with its built-in tokenizer, on a worker
// thread, so a long prompt never stalls the other connections; texts over the count limit
// count as their bytes (an upper bound under byte-level BPE).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startStack, userMsg, TEXT_ANSWER, SEEKD_BIN } from './harness.mjs';

const BOS = '<｜begin▁of▁sentence｜>';
const COUNT_MAX_BYTES = 2 << 20; // BK_COUNT_MAX_BYTES in src/backend/usage.h

// The reference counts come from seekd's tokenize command, which tests/tokenizer checks
// against Hugging Face's tokenizers on thousands of strings.
function tokCount(text, chat = false) {
  const args = ['tokenize', '--count', ...(chat ? ['--chat'] : []), '-'];
  return Number(execFileSync(SEEKD_BIN, args, { input: text, encoding: 'utf8' }).trim());
}
let builtin = true;
try { tokCount('x'); } catch { builtin = false; }
const SKIP = builtin ? false : 'seekd was built without its tokenizer data (run npm ci)';

let st;
before(async () => { if (!SKIP) st = await startStack(); });
after(async () => { await st?.stop(); });

// Words that differ from one another, so no shortcut makes the count cheap.
function longText(bytes) {
  const parts = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = `word${(i * 7919) % 100003} `;
    parts.push(w);
    n += w.length;
  }
  return parts.join('').slice(0, bytes);
}

test('no usage upstream: the client gets seekd\'s exact count (whole answer)', { skip: SKIP, timeout: 20000 }, async () => {
  const res = await st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg('Count me, please.'), fake: { usage: false } },
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.choices[0].message.content, TEXT_ANSWER);
  const prompt = tokCount(JSON.stringify(userMsg('Count me, please.')), true);
  const completion = tokCount(TEXT_ANSWER);
  assert.deepEqual(body.usage, {
    // no prompt_tokens_details: seekd reports only what it counted, all of it a cache miss
    prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion,
    prompt_cache_hit_tokens: 0, prompt_cache_miss_tokens: prompt,
  });
  assert.ok(await st.waitLog(new RegExp(`counted with seekd's tokenizer: prompt=${prompt} completion=${completion}\\n`)));
});

test('no usage upstream: a stream that asked for usage gets the count before [DONE]', { skip: SKIP, timeout: 20000 }, async () => {
  const res = await st.fetch('/chat/completions', {
    json: {
      model: 'deepseek-chat', messages: userMsg('hi'), stream: true,
      stream_options: { include_usage: true }, fake: { usage: false, chunks: 4 },
    },
  });
  const text = await res.text();
  const events = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
  assert.equal(events.at(-1), '[DONE]');
  const last = JSON.parse(events.at(-2));
  const prompt = tokCount(JSON.stringify(userMsg('hi')), true);
  const completion = tokCount(TEXT_ANSWER);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.prompt_tokens, prompt);
  assert.equal(last.usage.completion_tokens, completion);
});

test('the loop answers /ping promptly while long prompts are counted', { skip: SKIP, timeout: 60000 }, async () => {
  // Four prompts just under the count limit, so each is really tokenized: together about a
  // second of counting in the optimized build and more under ASan, all of which a ping used
  // to wait behind when counts ran on the loop. The fake holds its answers until every
  // request has reached it, so the pings measure the counts, not the reading and validating
  // of the 2 MB bodies (which still happen on the loop).
  const N = 4;
  await st.fakeReset();
  let left = N;
  const chats = [];
  for (let i = 0; i < N; i++) {
    const text = `${i} ${longText(COUNT_MAX_BYTES - 4096)}`;
    chats.push(st.fetch('/chat/completions', {
      json: {
        model: 'deepseek-chat', messages: userMsg(text),
        fake: { usage: false, fault: 'slow_first_byte', delay_ms: 1500 },
      },
      timeoutMs: 50000,
    }).then(async (r) => { const b = await r.json(); left--; return [r.status, b]; }));
  }
  for (const t0 = Date.now(); (await st.fakeStats()).active < N;) {
    assert.ok(Date.now() - t0 < 20000, 'every request reached the fake');
    await new Promise((r) => setTimeout(r, 50));
  }
  const t0 = Date.now();
  const lat = [];
  while (left > 0) {
    const p0 = performance.now();
    const r = await st.fetch('/ping', { auth: false });
    await r.text();
    lat.push(performance.now() - p0);
  }
  const took = Date.now() - t0;
  for (const [status, body] of await Promise.all(chats)) {
    assert.equal(status, 200);
    assert.ok(body.usage.prompt_tokens > 100000, `a real count: ${body.usage.prompt_tokens}`);
    assert.ok(body.usage.prompt_tokens < COUNT_MAX_BYTES, 'tokenized, not counted by bytes');
  }
  // Generous: two cores shared with node, the fake and two counting threads. Counting on the
  // loop made a ping wait for whole counts (each 0.1 to 0.3 s here, several in a row: 0.54 s seen under ASan).
  const worst = Math.max(...lat);
  assert.ok(lat.length >= 3, `pings overlapped the counts (${lat.length} in ${took} ms)`);
  assert.ok(worst < 200, `worst /ping ${worst.toFixed(1)} ms while counting (${lat.length} pings, ${took} ms)`);
});

test('a prompt over the count limit counts as its bytes, and the log says so', { skip: SKIP, timeout: 30000 }, async () => {
  const text = longText(COUNT_MAX_BYTES + 1000);
  const res = await st.fetch('/chat/completions', {
    json: { model: 'deepseek-chat', messages: userMsg(text), fake: { usage: false } },
    timeoutMs: 25000,
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  const rendered = Buffer.byteLength(`${BOS}<｜User｜>${text}<｜Assistant｜>`);
  assert.equal(body.usage.prompt_tokens, rendered);
  assert.equal(body.usage.completion_tokens, tokCount(TEXT_ANSWER));
  assert.ok(await st.waitLog(/counted with seekd's tokenizer: prompt=\d+ completion=\d+ \(upper bound/));
});
