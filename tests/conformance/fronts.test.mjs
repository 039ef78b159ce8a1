// fronts.test.mjs - every recorded DeepSeek fixture (FIXTURES_DIR, see its README.md) replayed by
// the fake upstream through seekd's Anthropic Messages and OpenAI Responses fronts, streaming and
// not. Each stream must follow its API's event grammar exactly (Anthropic: message_start, ping,
// per block content_block_start / deltas / content_block_stop, message_delta, message_stop;
// Responses: created, in_progress, per item added / deltas / done, completed, with sequence
// numbers from 0), and the joined thinking, text and tool arguments, the stop reason and the
// usage must be the recording's (choice 0: DeepSeek serves one choice).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES_DIR, FIXTURES_OK, startStack, aggregate, readAll } from '../e2e/harness.mjs';

const T = { timeout: 15000 };
const STOP = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', content_filter: 'refusal' };

// The blocks a recording is made of, in order: runs of reasoning, of content, one per tool call.
function blocksOf(chunks) {
  const out = [];
  let cur = null;
  for (const c of chunks) {
    for (const ch of (c.choices || []).filter((x) => x.index === 0)) {
      const d = ch.delta || {};
      const add = (kind, text, key) => {
        if (!cur || cur.kind !== kind || (key !== undefined && cur.key !== key)) out.push(cur = { kind, text: '', key });
        cur.text += text;
      };
      if (typeof d.reasoning_content === 'string' && d.reasoning_content) add('thinking', d.reasoning_content);
      if (typeof d.content === 'string' && d.content) add('text', d.content);
      for (const tc of d.tool_calls || []) {
        if (tc.id || !cur || cur.kind !== 'tool' || cur.key !== tc.index) {
          out.push(cur = { kind: 'tool', text: '', key: tc.index, id: tc.id, name: tc.function?.name || '' });
        }
        cur.text += tc.function?.arguments || '';
      }
    }
  }
  return out;
}

// SSE text to [{event, data}].
const sse = (body) => body.split('\n\n').filter(Boolean).map((b) => {
  const [ev, data] = b.split('\n');
  assert.ok(ev.startsWith('event: ') && data.startsWith('data: '), `an event with a name: ${b.slice(0, 80)}`);
  return { event: ev.slice(7), data: JSON.parse(data.slice(6)) };
});

if (!FIXTURES_OK) {
  test('fronts replay', (t) => t.skip(`fixtures not found at ${FIXTURES_DIR || '(FIXTURES_DIR unset)'}`));
} else {
  const files = fs.readdirSync(FIXTURES_DIR);
  const names = [...new Set(files.map((f) => f.match(/^(.*)\.(chunks\.txt|json)$/)?.[1]).filter(Boolean))].sort();
  const loadChunks = (name) => fs.readFileSync(path.join(FIXTURES_DIR, `${name}.chunks.txt`), 'utf8')
    .split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.length > 0).map((l) => JSON.parse(l));
  const loadJson = (name) => JSON.parse(fs.readFileSync(path.join(FIXTURES_DIR, `${name}.json`), 'utf8'));

  let st;
  before(async () => { st = await startStack({ logLevel: 'info' }); });
  after(async () => { await st?.stop(); });

  const post = async (p, body) => {
    const r = await st.fetch(p, { json: body });
    assert.equal(r.status, 200, `${p}: ${r.status}`);
    return r;
  };
  const anthropicBody = (name, model, stream) => ({
    model, max_tokens: 4096, stream, system: `fake:${JSON.stringify({ scenario: `replay:${name}` })}`,
    messages: [{ role: 'user', content: `replay ${name}` }],
  });
  const responsesBody = (name, model, stream) => ({
    model, stream, instructions: `fake:${JSON.stringify({ scenario: `replay:${name}` })}`, input: `replay ${name}`,
  });
  const anthUsage = (u) => ({
    input_tokens: u.prompt_cache_miss_tokens ?? (u.prompt_tokens - (u.prompt_cache_hit_tokens ?? u.prompt_tokens_details?.cached_tokens ?? 0)),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: u.prompt_cache_hit_tokens ?? u.prompt_tokens_details?.cached_tokens ?? 0,
    output_tokens: u.completion_tokens,
  });
  const respUsage = (u) => ({
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.prompt_cache_hit_tokens ?? u.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: u.completion_tokens,
    output_tokens_details: { reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: u.total_tokens,
  });

  for (const name of names) {
    describe(name, () => {
      if (files.includes(`${name}.chunks.txt`)) {
        const chunks = loadChunks(name);
        const model = chunks.find((c) => c.model)?.model || 'deepseek-chat';
        const want = blocksOf(chunks);
        const agg = aggregate(chunks.map((c) => ({ ...c, choices: (c.choices || []).filter((ch) => ch.index === 0) })));

        test('Anthropic stream: the event grammar, the blocks and usage of the recording', T, async () => {
          const evs = sse(await readAll(await post('/anthropic/v1/messages', anthropicBody(name, model, true))));
          for (const e of evs) assert.equal(e.data.type, e.event, 'data.type names the event');
          assert.deepEqual(evs.slice(0, 2).map((e) => e.event), ['message_start', 'ping']);
          assert.deepEqual(evs.slice(-2).map((e) => e.event), ['message_delta', 'message_stop']);
          const got = [];
          let open = null;
          for (const e of evs.slice(2, -2)) {
            if (e.event === 'content_block_start') {
              assert.equal(open, null, 'a block starts only after the last one stopped');
              assert.equal(e.data.index, got.length, 'blocks are numbered in order');
              const cb = e.data.content_block;
              open = { kind: cb.type === 'tool_use' ? 'tool' : cb.type, text: '', id: cb.id, name: cb.name };
              got.push(open);
            } else if (e.event === 'content_block_delta') {
              assert.ok(open && e.data.index === got.length - 1, 'a delta belongs to the open block');
              const d = e.data.delta;
              const kind = { thinking_delta: 'thinking', text_delta: 'text', input_json_delta: 'tool' }[d.type];
              assert.equal(kind, open.kind, 'the delta type matches its block');
              open.text += d.thinking ?? d.text ?? d.partial_json;
            } else {
              assert.equal(e.event, 'content_block_stop');
              assert.equal(e.data.index, got.length - 1);
              open = null;
            }
          }
          assert.equal(open, null, 'every block stopped');
          assert.deepEqual(got.map((b) => ({ kind: b.kind, text: b.text })), want.map((b) => ({ kind: b.kind, text: b.text })));
          assert.equal(got.map((b) => b.kind === 'thinking' ? b.text : '').join(''), agg.reasoning);
          assert.equal(got.map((b) => b.kind === 'text' ? b.text : '').join(''), agg.content);
          assert.deepEqual(got.filter((b) => b.kind === 'tool').map((b) => ({ id: b.id, name: b.name, arguments: b.text })),
            agg.toolCalls.filter(Boolean).map((t) => ({ id: t.id, name: t.name, arguments: t.arguments })));
          const md = evs.at(-2).data;
          assert.equal(md.delta.stop_reason, STOP[agg.finish] || 'end_turn');
          assert.deepEqual(md.usage, anthUsage(agg.usage));
          assert.equal(evs[0].data.message.model, model);
        });

        test('Responses stream: the event grammar, the items and usage of the recording', T, async () => {
          const evs = sse(await readAll(await post('/responses', responsesBody(name, model, true))));
          for (const [i, e] of evs.entries()) {
            assert.equal(e.data.type, e.event);
            assert.equal(e.data.sequence_number, i, 'sequence numbers count from 0');
          }
          assert.deepEqual(evs.slice(0, 2).map((e) => e.event), ['response.created', 'response.in_progress']);
          const end = evs.at(-1);
          assert.equal(end.event, agg.finish === 'length' ? 'response.incomplete' : 'response.completed');
          const got = [];
          let open = null;
          const kinds = { reasoning: 'thinking', message: 'text', function_call: 'tool' };
          for (const e of evs.slice(2, -1)) {
            const d = e.data;
            if (e.event === 'response.output_item.added') {
              assert.equal(open, null);
              assert.equal(d.output_index, got.length);
              open = { kind: kinds[d.item.type], text: '', id: d.item.id, call_id: d.item.call_id, name: d.item.name, done: false };
              got.push(open);
              continue;
            }
            assert.ok(open, `${e.event} inside an item`);
            assert.equal(d.output_index, got.length - 1);
            if (e.event === 'response.output_item.done') {
              assert.equal(d.item.id, open.id);
              assert.equal(d.item.status, 'completed');
              open = null;
            } else if (e.event.endsWith('.delta')) {
              assert.equal(d.item_id, open.id);
              const kind = { 'response.reasoning_text.delta': 'thinking', 'response.output_text.delta': 'text', 'response.function_call_arguments.delta': 'tool' }[e.event];
              assert.equal(kind, open.kind);
              open.text += d.delta;
            } else if (e.event === 'response.output_text.done' || e.event === 'response.reasoning_text.done') {
              assert.equal(d.text, open.text);
            } else if (e.event === 'response.function_call_arguments.done') {
              assert.equal(d.arguments, open.text);
            } else {
              assert.ok(['response.content_part.added', 'response.content_part.done'].includes(e.event), e.event);
            }
          }
          assert.equal(open, null);
          assert.deepEqual(got.map((b) => ({ kind: b.kind, text: b.text })), want.map((b) => ({ kind: b.kind, text: b.text })));
          assert.deepEqual(got.filter((b) => b.kind === 'tool').map((b) => ({ id: b.call_id, name: b.name, arguments: b.text })),
            agg.toolCalls.filter(Boolean).map((t) => ({ id: t.id, name: t.name, arguments: t.arguments })));
          assert.deepEqual(end.data.response.usage, respUsage(agg.usage));
          assert.equal(end.data.response.output.length, got.length);
        });
      }

      if (files.includes(`${name}.json`)) {
        const fx = loadJson(name);
        const msg = fx.choices.find((c) => c.index === 0).message;
        const calls = (msg.tool_calls || []);
        test('Anthropic and Responses whole answers: the recording\'s texts, calls and usage', T, async () => {
          const a = await (await post('/anthropic/v1/messages', anthropicBody(name, fx.model, false))).json();
          const wantBlocks = [
            ...(msg.reasoning_content ? [{ type: 'thinking', thinking: msg.reasoning_content, signature: '' }] : []),
            ...(msg.content ? [{ type: 'text', text: msg.content }] : []),
            ...calls.map((t) => ({ type: 'tool_use', id: t.id, name: t.function.name, input: JSON.parse(t.function.arguments || '{}') })),
          ];
          assert.deepEqual(a.content, wantBlocks);
          assert.equal(a.stop_reason, STOP[fx.choices[0].finish_reason] || 'end_turn');
          assert.deepEqual(a.usage, anthUsage(fx.usage));
          assert.equal(a.model, fx.model);

          const r = await (await post('/responses', responsesBody(name, fx.model, false))).json();
          const wantItems = [
            ...(msg.reasoning_content ? [['reasoning', msg.reasoning_content]] : []),
            ...(msg.content ? [['message', msg.content]] : []),
            ...calls.map((t) => ['function_call', t.function.arguments]),
          ];
          assert.deepEqual(r.output.map((o) => [o.type, o.type === 'function_call' ? o.arguments : o.content[0].text]), wantItems);
          assert.deepEqual(r.usage, respUsage(fx.usage));
        });
      }
    });
  }
}
