// replay.test.mjs - every recorded DeepSeek fixture (FIXTURES_DIR, see its README.md) replayed by
// the fake upstream (scenario replay:<name>) through seekd, streaming and not: seekd's output must
// carry exactly the fixture's content, reasoning_content, tool calls, logprobs, finish reason and
// usage, for every choice, and the same id, created, system_fingerprint and roles. The .json and
// .chunks.txt of one name are different recordings, so each is compared with its own kind of
// answer. ctest runs this file through both transports (conformance.* and conformance-curl.*).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES_DIR, FIXTURES_OK, startStack, aggregate, collect } from '../e2e/harness.mjs';

const T = { timeout: 15000 };

if (!FIXTURES_OK) {
  test('conformance replay', (t) => t.skip(`fixtures not found at ${FIXTURES_DIR || '(FIXTURES_DIR unset)'}`));
} else {
  const files = fs.readdirSync(FIXTURES_DIR);
  const names = new Set();
  for (const f of files) {
    const m = f.match(/^(.*)\.(chunks\.txt|json)$/);
    if (m) names.add(m[1]);
  }

  // Fixtures that are not recordings of DeepSeek (see the fixtures' README).
  const HAND_MADE = new Set(['deepseek-logprobs']);

  const loadChunks = (name) => fs.readFileSync(path.join(FIXTURES_DIR, `${name}.chunks.txt`), 'utf8')
    .split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0).map((l) => JSON.parse(l));
  const loadJson = (name) => JSON.parse(fs.readFileSync(path.join(FIXTURES_DIR, `${name}.json`), 'utf8'));

  let st;
  before(async () => { st = await startStack({ logLevel: 'info' }); });
  after(async () => { await st?.stop(); });

  const request = (name, model, extra) => ({
    model,
    messages: [{ role: 'user', content: `replay ${name}` }],
    fake: { scenario: `replay:${name}` },
    ...extra,
  });

  // Logprob entries: a missing "bytes" (only in the hand-made deepseek-logprobs fixture) and an
  // explicit null mean the same; everything else must match exactly.
  const normLp = (v) => {
    if (Array.isArray(v)) return v.map(normLp);
    if (v && typeof v === 'object') {
      const o = {};
      for (const [k, x] of Object.entries(v)) o[k] = normLp(x);
      if ('token' in o && 'logprob' in o && !('bytes' in o)) o.bytes = null;
      return o;
    }
    return v;
  };

  const pickStream = (a) => ({
    roles: a.roles,
    content: a.content,
    reasoning_content: a.reasoning,
    tool_calls: a.toolCalls.map((t) => ({ id: t.id, type: t.type, name: t.name, arguments: t.arguments })),
    logprobs_content: normLp(a.logprobs),
    logprobs_reasoning_content: normLp(a.reasoningLogprobs),
    finish_reason: a.finish,
  });

  // Every choice of a stream, aggregated on its own (by choice index).
  const pickChoices = (chunks) => {
    const idx = [...new Set(chunks.flatMap((c) => (c.choices || []).map((ch) => ch.index)))].sort();
    return idx.map((i) => ({ index: i, ...pickStream(aggregate(chunks.map((c) => ({
      ...c, choices: (c.choices || []).filter((ch) => ch.index === i) })))) }));
  };

  // What identifies an answer: the fields, and whether each is there at all. A recording without
  // `created` (issue-19789) gets seekd's own clock, as clients need one: now, give or take an
  // hour, stands in for it.
  const ident = (o, fx) => Object.fromEntries(['id', 'created', 'model', 'system_fingerprint']
    .map((k) => [k, k in o ? o[k] : '(absent)'])
    .map(([k, v]) => (k === 'created' && !('created' in fx) && Math.abs(v - Date.now() / 1000) < 3600
      ? [k, '(absent)'] : [k, v])));

  for (const name of [...names].sort()) {
    describe(name, () => {
      if (files.includes(`${name}.chunks.txt`)) {
        const chunks = loadChunks(name);
        const expected = aggregate(chunks);
        const model = chunks.find((c) => c.model)?.model || 'deepseek-chat';

        // Each delta exactly as DeepSeek shaped it: which keys it names and which are null
        // (a thinking answer's {"content":null,"reasoning_content":""} opening, content "" on
        // the last chunk), chunk for chunk, with the finish reason where it came.
        const deltas = (cs) => cs.filter((c) => (c.choices || []).length)
          .map((c) => c.choices.map((ch) => ({ index: ch.index, delta: ch.delta, finish_reason: ch.finish_reason ?? null })));

        // DeepSeek puts the request's usage on the last chunk before [DONE] whether or not the
        // client asked (docs/api.md, "Usage in streams"); include_usage only makes the other
        // chunks say "usage": null instead of leaving the field out.
        for (const includeUsage of [true, false]) {
          test(`stream ${includeUsage ? 'with' : 'without'} include_usage: same deltas, usage on the last chunk`, T, async () => {
            const extra = includeUsage ? { stream: true, stream_options: { include_usage: true } } : { stream: true };
            const got = await collect(await st.client().chat.completions.create(request(name, model, extra)));
            assert.deepEqual(pickChoices(got), pickChoices(chunks));
            // The hand-made fixture is OpenAI-shaped, not a recording: seekd answers it in
            // DeepSeek's shapes, so only its texts are compared (pickChoices above).
            if (!HAND_MADE.has(name)) assert.deepEqual(deltas(got), deltas(chunks));
            for (const c of got) assert.deepEqual(ident(c, chunks[0]), ident(chunks[0], chunks[0]), 'id, created, model, fingerprint');
            for (const c of got) {
              assert.equal(c.object, 'chat.completion.chunk');
              assert.equal(c.model, model);
            }
            assert.ok(expected.usage, 'the fixture has usage');
            assert.deepEqual(got.at(-1).usage, expected.usage, 'usage on the last chunk');
            for (const c of got.slice(0, -1)) {
              if (includeUsage) assert.equal(c.usage, null, 'usage: null before the last chunk');
              else assert.ok(!('usage' in c), 'no usage field before the last chunk');
            }
            assert.equal(got.filter((c) => c.choices?.some((ch) => ch.finish_reason)).length, 1, 'one finish_reason');
            const stats = await st.fakeStats();
            assert.equal(stats.last_request.stream_options?.include_usage, true, 'upstream asked for usage');
          });
        }
      }

      if (files.includes(`${name}.json`)) {
        const fx = loadJson(name);
        test('non-stream: same message, logprobs, finish and usage', T, async () => {
          const r = await st.client().chat.completions.create(request(name, fx.model, {}));
          assert.equal(r.object, 'chat.completion');
          assert.deepEqual(ident(r, fx), ident(fx, fx), 'id, created, model, fingerprint');
          assert.equal(r.choices.length, fx.choices.length);
          const tc = (m) => (m.tool_calls || []).map((t) => ({
            id: t.id, type: t.type, name: t.function.name, arguments: t.function.arguments,
          }));
          for (const want of fx.choices) {
            const got = r.choices.find((c) => c.index === want.index);
            assert.ok(got, `choice ${want.index}`);
            assert.equal(got.message.role, want.message.role);
            assert.equal(got.message.content, want.message.content);
            assert.equal(got.message.reasoning_content ?? null, want.message.reasoning_content ?? null);
            assert.deepEqual(tc(got.message), tc(want.message));
            assert.deepEqual(normLp(got.logprobs ?? null), normLp(want.logprobs ?? null));
            assert.equal(got.finish_reason, want.finish_reason);
          }
          assert.deepEqual(r.usage, fx.usage);
        });
      }
    });
  }
}
