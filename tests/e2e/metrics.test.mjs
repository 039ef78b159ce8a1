// metrics.test.mjs - GET /metrics: Prometheus' text format as `promtool check metrics` accepts
// it, counters that match exactly what was asked and answered, labels that a client cannot
// blow up, and `metrics = off`.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startStack, userMsg } from './harness.mjs';

const T = { timeout: 30000 };

// name{labels} value -> Map of "name{labels}" to Number
function parse(text) {
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

describe('GET /metrics', () => {
  let st;
  before(async () => { st = await startStack({ serverKey: 'sk-server-metrics-0001' }); });
  after(async () => { await st?.stop(); });

  test('counts requests, tokens and latencies exactly, in a format promtool accepts', T, async () => {
    const c = st.client();
    const usage = { p: 0, c: 0 };
    for (let i = 0; i < 3; i++) {
      const r = await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg(`m${i}`) });
      usage.p += r.usage.prompt_tokens;
      usage.c += r.usage.completion_tokens;
    }
    const s = await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg('s'), stream: true });
    for await (const ch of s) if (ch.usage) { usage.p += ch.usage.prompt_tokens; usage.c += ch.usage.completion_tokens; }
    // an upstream failure, and a model nobody serves: counted, but under model="-"
    await assert.rejects(c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg('x'), fake: { fault: '500' } }));
    await assert.rejects(c.chat.completions.create({ model: 'no-such-"model"\\x', messages: userMsg('x'), fake: { fault: '500' } }));

    const res = await st.fetch('/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    const p = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(p.error, undefined, 'promtool is installed (scripts/deps.sh)');
    assert.equal(p.status, 0, `promtool: ${p.stdout}${p.stderr}`);

    const m = parse(text);
    assert.equal(m.get('seekd_requests_total{route="/chat/completions",model="deepseek-chat",status="200"}'), 4);
    assert.equal(m.get('seekd_requests_total{route="/chat/completions",model="deepseek-chat",status="500"}'), 1);
    assert.equal(m.get('seekd_requests_total{route="/chat/completions",model="-",status="500"}'), 1,
      'a model never served is not a label');
    assert.ok(!text.includes('no-such'), 'the client\'s model name does not appear');
    assert.equal(m.get('seekd_tokens_total{kind="prompt_cache_hit"}') + m.get('seekd_tokens_total{kind="prompt_cache_miss"}'), usage.p);
    assert.equal(m.get('seekd_tokens_total{kind="completion"}'), usage.c);
    assert.equal(m.get('seekd_request_duration_seconds_count'), 6);
    assert.equal(m.get('seekd_upstream_ttfb_seconds_count'), 6, 'every request got an answer byte (the 500s too)');
    assert.equal(m.get('seekd_request_duration_seconds_bucket{le="+Inf"}'), 6);
    assert.equal(m.get('seekd_holds_in_flight'), 0);
    assert.equal(m.get('seekd_spend_nanounits_total{currency="USD"}'), 0, 'no accounts here');
    const keyState = [...m.keys()].filter((k) => k.startsWith('seekd_upstream_key_state{'));
    assert.equal(keyState.length, 1);
    assert.match(keyState[0], /^seekd_upstream_key_state\{upstream="default",key_id="[0-9a-f]{8}",state="ok"\}$/);
    assert.ok(!text.includes('sk-server-metrics-0001'), 'no key in the metrics');
  });
});

describe('metrics = off', () => {
  let st;
  before(async () => { st = await startStack({ config: 'metrics = off\n' }); });
  after(async () => { await st?.stop(); });

  test('GET /metrics is a 404', T, async () => {
    const res = await st.fetch('/metrics');
    assert.equal(res.status, 404);
  });
});
