// local.test.mjs - GGUF models served by seekd's own engine through the API, driven with the
// official openai SDK: the tiny real model stories260K (converted with `seekd convert llama2c`)
// answers greedily with exactly what `seekd generate` (checked against the reference ids by
// engine.stories260k_f32) produces, streamed and not; stop strings, max_tokens -> "length",
// exact usage, two concurrent streams equal to their solo answers, a client leaving frees its
// sequence, a bounded queue answers 503 with Retry-After, a second turn reports the exact
// prompt_cache_hit_tokens, and a name that is not local still goes upstream.
// stories260K has no chat template: it is served with `--chat-template raw` (the messages'
// contents concatenated, BOS first), see docs/engine.md.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import Anthropic from '@anthropic-ai/sdk';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, tmpDir, collect, aggregate, SEEKD_BIN, FIXTURES_DIR, TEXT_ANSWER, SANITIZED } from './harness.mjs';

const T = { timeout: 60000 };
const MODELS = FIXTURES_DIR ? path.resolve(FIXTURES_DIR, '../../assets/models') : path.resolve('../shared/assets/models');
const BIN = path.join(MODELS, 'stories260K.bin');
const TOKBIN = path.join(MODELS, 'tok512.bin');
const HAVE = fs.existsSync(BIN) && fs.existsSync(TOKBIN);
const SKIP = HAVE ? false : `no ${BIN} (../shared/assets/models): local model tests skipped`;

// The engine's own answer for a prompt, from `seekd generate` (no server involved).
// (generate ends its text with a newline of its own)
function generate(gguf, args) {
  const out = execFileSync(SEEKD_BIN, ['generate', '--model', gguf, '--temp', '0', ...args],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.endsWith('\n') ? out.slice(0, -1) : out;
}
function tokenize(gguf, text) {
  const out = execFileSync(SEEKD_BIN, ['tokenize', '--tokenizer', gguf, '--bos', text], { encoding: 'utf8' });
  return out.trim().split(/\s+/).map(Number);
}

// A random-weight qwen2 with a placeholder vocabulary (tests/engine/gen_gguf.py), for the R1
// template's reasoning split; null when Debian's numpy is missing.
function randomQwen2(dir) {
  const out = path.join(dir, 'qwen2-random.gguf');
  try {
    execFileSync('/usr/bin/python3', ['tests/engine/gen_gguf.py', '--arch', 'qwen2', '--type', 'f32',
      '--out', out, '--vocab'], { stdio: 'ignore' });
    return out;
  } catch { return null; }
}

describe('stories260K served locally', { skip: SKIP }, () => {
  let stack, gguf, client, qwen;
  before(async () => {
    const dir = tmpDir();
    gguf = path.join(dir, 'stories260K.gguf');
    execFileSync(SEEKD_BIN, ['convert', 'llama2c', BIN, TOKBIN, '-o', gguf], { stdio: 'ignore' });
    qwen = randomQwen2(dir);
    stack = await startStack({
      seekdArgs: ['--model', gguf, '--model-name', 'stories', '--chat-template', 'raw', '--ctx', '2048'],
      // the same file again, from a [model] section: one slot and a queue of one
      config: `anthropic_model_map = claude*=stories\n[model tiny1]\npath = ${gguf}\nchat_template = raw\nctx = 2048\nslots = 1\nqueue = 1\n`
        + (qwen ? `[model r1-random]\npath = ${qwen}\nchat_template = deepseek-r1\n` : ''),
      logLevel: 'info',
    });
    client = stack.client();
  });
  after(async () => { await stack?.stop(); });

  test('GET /models lists the local models', T, async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    // the config's [model] sections first, then the --model flags, then the upstream's
    assert.deepEqual(ids.slice(0, qwen ? 3 : 2), qwen ? ['tiny1', 'r1-random', 'stories'] : ['tiny1', 'stories']);
  });

  test('greedy from BOS: the text of the reference ids, not streamed', T, async () => {
    const want = generate(gguf, ['--prompt-ids', '1', '-n', '64']);
    const ref = fs.readFileSync(path.join(MODELS, 'stories260K.greedy256.txt'), 'utf8');
    assert.ok(want.length > 100 && ref.startsWith(want), 'generate agrees with the reference text');
    const r = await client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: '' }], temperature: 0, max_tokens: 64,
    });
    assert.equal(r.choices[0].message.content, want);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.model, 'stories');
    assert.equal(r.usage.prompt_tokens, 1);
    assert.equal(r.usage.completion_tokens, 64);
    assert.equal(r.usage.total_tokens, 65);
    assert.equal(r.usage.prompt_cache_hit_tokens, 0);
    assert.equal(r.usage.prompt_cache_miss_tokens, 1);
  });

  test('greedy, streamed: the same text, usage in the last chunk', T, async () => {
    const want = generate(gguf, ['--prompt-ids', '1', '-n', '100']);
    const s = await client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: '' }], temperature: 0, max_tokens: 100,
      stream: true, stream_options: { include_usage: true },
    });
    const a = aggregate(await collect(s));
    assert.equal(a.content, want);
    assert.equal(a.finish, 'length');
    assert.deepEqual(a.roles, ['assistant']);
    assert.equal(a.usage.completion_tokens, 100);
    assert.equal(a.usage.prompt_tokens, 1);
  });

  test('a stop string ends the answer before it, across token boundaries', T, async () => {
    const full = generate(gguf, ['--prompt-ids', '1', '-n', '64']);
    const at = full.indexOf('little girl');
    assert.ok(at > 0);
    const r = await client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: '' }], temperature: 0, max_tokens: 64,
      stop: ['ittle gi', 'never appears'],
    });
    assert.equal(r.choices[0].message.content, full.slice(0, at + 1));
    assert.equal(r.choices[0].finish_reason, 'stop');
    // the tokens generated until the stop string was complete: the prefix of the greedy ids
    // whose text first holds it
    const ids = generate(gguf, ['--prompt-ids', '1', '-n', '64', '--ids']).trim().split(' ');
    let k = 1;
    while (!generate(gguf, ['--prompt-ids', '1', '-n', String(k)]).includes('ittle gi')) k++;
    assert.ok(k < ids.length);
    assert.equal(r.usage.completion_tokens, k);
  });

  test('a raw prompt: the answer is what generate gives for the same text', T, async () => {
    const prompt = 'Tom had a red ball.';
    const want = generate(gguf, ['--prompt', prompt, '-n', '40']);
    const r = await client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: prompt }], temperature: 0, max_tokens: 40,
    });
    assert.equal(r.choices[0].message.content, want);
    assert.equal(r.usage.prompt_tokens, tokenize(gguf, prompt).length);
  });

  test('the Anthropic and Responses fronts over the local model: the engine\'s own answer, exactly', T, async () => {
    const prompt = 'Tom had a red ball.';
    const want = generate(gguf, ['--prompt', prompt, '-n', '24']);
    const anthropic = new Anthropic({ baseURL: `${stack.baseURL}/anthropic`, apiKey: 'sk-local-anything' });
    // a Claude name, mapped to the local model by anthropic_model_map
    const m = await anthropic.messages.create({
      model: 'claude-sonnet-4-5', max_tokens: 24, temperature: 0, messages: [{ role: 'user', content: prompt }],
    });
    assert.equal(m.model, 'stories');
    assert.deepEqual(m.content, [{ type: 'text', text: want }]);
    assert.equal(m.stop_reason, 'max_tokens');
    assert.equal(m.usage.input_tokens, tokenize(gguf, prompt).length);
    assert.equal(m.usage.output_tokens, 24);
    const streamed = await anthropic.messages.stream({
      model: 'claude-sonnet-4-5', max_tokens: 24, temperature: 0, messages: [{ role: 'user', content: prompt }],
    }).finalMessage();
    assert.deepEqual(streamed.content, [{ type: 'text', text: want }]);
    const r = await client.responses.create({ model: 'stories', input: prompt, max_output_tokens: 24, temperature: 0 });
    assert.equal(r.output_text, want);
    assert.equal(r.status, 'incomplete');
    assert.equal(r.usage.output_tokens, 24);
  });

  test('two concurrent streams both complete and equal their solo answers', T, async () => {
    const ask = (content) => client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content }], temperature: 0, max_tokens: 150,
      stream: true,
    });
    const solo1 = aggregate(await collect(await ask('The cat sat on the mat.'))).content;
    const solo2 = aggregate(await collect(await ask('Lily went to the park with her mom.'))).content;
    const [c1, c2] = await Promise.all([
      ask('The cat sat on the mat.').then(collect),
      ask('Lily went to the park with her mom.').then(collect),
    ]);
    assert.equal(aggregate(c1).content, solo1);
    assert.equal(aggregate(c2).content, solo2);
    assert.notEqual(solo1, solo2);
    // and they shared decode steps: one forward pass carried both sequences
    assert.ok(await stack.waitLog(/local model stories: 2 sequences decoded in one step/, 1000));
  });

  test('a client that leaves mid-stream frees its sequence', T, async () => {
    const ac = new AbortController();
    const s = await client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: 'Once there was a dog.' }],
      temperature: 0, max_tokens: 2000, stream: true,
    }, { signal: ac.signal });
    let got = 0;
    try {
      for await (const c of s) {
        if (c.choices[0]?.delta?.content) got++;
        if (got >= 2) ac.abort();
      }
    } catch { /* aborted */ }
    const m = await stack.waitLog(/local model stories: cancelled after (\d+) tokens; sequence freed/, 10000);
    assert.ok(m, 'the scheduler logs the freed sequence');
    assert.ok(Number(m[1]) < 2000);
  });

  test('over the queue: 503 with Retry-After, the others are answered', T, async () => {
    // tiny1 runs one request and lets one wait: of six sent at once, at most two are answered
    // (long enough answers that all six arrive while the first runs: a sanitized build is ~20x
    // slower)
    const N = SANITIZED ? 200 : 2000;
    const send = () => fetch(stack.baseURL + '/chat/completions', {
      method: 'POST',
      headers: { authorization: 'Bearer sk-test-0123456789abcdef', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny1', messages: [{ role: 'user', content: 'A long story.' }],
        temperature: 0, max_tokens: N }),
      signal: AbortSignal.timeout(50000),
    }).then(async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), body: await r.json() }));
    const rs = await Promise.all([send(), send(), send(), send(), send(), send()]);
    const ok = rs.filter((r) => r.status === 200), busy = rs.filter((r) => r.status === 503);
    assert.equal(ok.length + busy.length, 6);
    assert.ok(ok.length >= 1 && ok.length <= 2, `answered: ${ok.length}`);
    for (const r of busy) {
      assert.equal(r.retry, '1');
      assert.equal(r.body.error.type, 'server_overloaded');
      assert.match(r.body.error.message, /Server Overloaded: model tiny1 is running/);
    }
    for (const r of ok) {
      assert.equal(r.body.choices[0].finish_reason, 'length');
      assert.equal(r.body.usage.completion_tokens, N);
    }
  });

  test('a second turn reuses the cached prefix: exact prompt_cache_hit_tokens', T, async () => {
    const first = 'Once upon a time, in a small town by the sea, there lived a kind old fisherman '
      + 'named Sam. Every morning he sailed his little blue boat out past the rocks to catch fish '
      + 'for the market, and every evening he came home to his cat, who waited for him on the '
      + 'steps of the house. One day a big storm came.';
    const r1 = await client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: first }], temperature: 0, max_tokens: 20,
    });
    assert.equal(r1.usage.prompt_cache_hit_tokens, 0);
    const answer = r1.choices[0].message.content;
    const second = ' Zebra quantum violin.';
    const r2 = await client.chat.completions.create({
      model: 'stories',
      messages: [{ role: 'user', content: first }, { role: 'assistant', content: answer },
        { role: 'user', content: second }],
      temperature: 0, max_tokens: 5,
    });
    // what the cache holds: BOS + the first prompt + the tokens generated (all but the last fed);
    // the new prompt's ids; the common prefix, at most one short of the prompt, in units of 64
    const held = [...tokenize(gguf, first),
      ...generate(gguf, ['--prompt', first, '-n', '20', '--ids']).trim().split(' ').map(Number).slice(0, 19)];
    const want = tokenize(gguf, first + answer + second);
    let common = 0;
    while (common < held.length && common < want.length - 1 && held[common] === want[common]) common++;
    const hit = Math.floor(common / 64) * 64;
    assert.equal(r1.usage.prompt_tokens, tokenize(gguf, first).length);
    assert.ok(r1.usage.prompt_tokens > 64, 'the first prompt is longer than one unit');
    assert.equal(r2.usage.prompt_tokens, want.length);
    assert.equal(r2.usage.prompt_cache_hit_tokens, hit);
    assert.ok(hit >= 64);
    assert.equal(r2.usage.prompt_cache_miss_tokens, want.length - hit);
  });

  test('/beta/completions: an empty prompt completes from BOS; a suffix needs FIM tokens', T, async () => {
    const want = generate(gguf, ['--prompt-ids', '1', '-n', '32']);
    const beta = stack.client({ path: '/beta' });
    const r = await beta.completions.create({ model: 'stories', prompt: '', temperature: 0, max_tokens: 32 });
    assert.equal(r.choices[0].text, want);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 32);
    await assert.rejects(
      beta.completions.create({ model: 'stories', prompt: 'a', suffix: 'b', max_tokens: 4 }),
      (e) => e.status === 400 && /has no fill-in-the-middle tokens/.test(e.error?.message ?? e.message));
  });

  test('/beta/chat/completions: an assistant prefix is continued', T, async () => {
    const prefix = 'Once upon a time, there was a big dog.';
    const want = generate(gguf, ['--prompt', prefix, '-n', '24']);
    const beta = stack.client({ path: '/beta' });
    const r = await beta.chat.completions.create({
      model: 'stories', temperature: 0, max_tokens: 24,
      messages: [{ role: 'user', content: '' }, { role: 'assistant', content: prefix, prefix: true }],
    });
    assert.equal(r.choices[0].message.content, want);
  });

  test('the R1 template: an answer that never closes </think> is all reasoning_content', T, async (t) => {
    if (!qwen) { t.skip('no /usr/bin/python3 with numpy: the random qwen2 model was not made'); return; }
    const messages = [{ role: 'user', content: 'hi there' }];
    // the prompt the template gives (ending in "<think>\n"), and the engine's answer to it
    const ids = execFileSync(SEEKD_BIN, ['tokenize', '--tokenizer', qwen, '--chat', '--template', 'deepseek-r1',
      '--special', JSON.stringify(messages)], { encoding: 'utf8' }).trim();
    const want = generate(qwen, ['--prompt-ids', ids, '-n', '12']);
    const s = await client.chat.completions.create({
      model: 'r1-random', messages, temperature: 0, max_tokens: 12, stream: true,
      stream_options: { include_usage: true },
    });
    const a = aggregate(await collect(s));
    assert.equal(a.reasoning, want.replace(/^\n+/, ''));
    assert.equal(a.content, '');
    assert.ok(a.reasoning.length > 0);
    assert.equal(a.usage.prompt_tokens, ids.split(' ').length);
  });

  test('logprobs and top_logprobs: the softmax of the engine\'s own logits', T, async () => {
    const n = 6, vocab = 512;
    const dump = path.join(stack.dir, 'logits.f32');
    const ids = generate(gguf, ['--prompt-ids', '1', '-n', String(n), '--ids', '--dump-logits', dump])
      .trim().split(' ').map(Number);
    const raw = fs.readFileSync(dump);
    const rows = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    // row k: the distribution of generated token k (row 0 after BOS)
    const logprob = (k, id) => {
      const x = rows.subarray(k * vocab, (k + 1) * vocab);
      let mx = -Infinity;
      for (const v of x) mx = Math.max(mx, v);
      let sum = 0;
      for (const v of x) sum += Math.exp(v - mx);
      return x[id] - mx - Math.log(sum);
    };
    const r = await client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: '' }], temperature: 0, max_tokens: n,
      logprobs: true, top_logprobs: 3,
    });
    const lp = r.choices[0].logprobs.content;
    assert.equal(lp.length, n);
    assert.equal(lp.map((e) => e.token).join(''), r.choices[0].message.content);
    lp.forEach((e, k) => {
      assert.ok(Math.abs(e.logprob - logprob(k, ids[k])) < 1e-5, `token ${k}: ${e.logprob} vs ${logprob(k, ids[k])}`);
      assert.deepEqual(e.bytes, [...Buffer.from(e.token, 'utf8')]);
      assert.equal(e.top_logprobs.length, 3);
      assert.equal(e.top_logprobs[0].token, e.token); // greedy took the most likely
      for (let t = 1; t < 3; t++) assert.ok(e.top_logprobs[t].logprob <= e.top_logprobs[t - 1].logprob);
    });
    // streamed: the same entries, chunk by chunk
    const s = await client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: '' }], temperature: 0, max_tokens: n,
      logprobs: true, top_logprobs: 3, stream: true,
    });
    assert.deepEqual(aggregate(await collect(s)).logprobs, lp);
  });

  test('a name that is not local goes upstream', T, async () => {
    const r = await client.chat.completions.create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.choices[0].message.content, TEXT_ANSWER);
  });
});
