// pool-flap.test.mjs - a flapping primary upstream: it starts failing with 500s, requests fail
// over to the backup (clients see only 200s), the errors eject it once they are at least half of
// its recent attempts and the backup can carry the load (/health, log), probes keep it
// out while it still fails, and once it recovers a probe brings it back and traffic returns to it.
// One fake serves both upstreams; each has its own key, so the fake's per-key stats tell them apart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, userMsg, aggregate, collect, waitFor, healthKey, keyId, TEXT_ANSWER } from './harness.mjs';

const T = { timeout: 15000 };
const KP = 'sk-primary-kp-aaaa0001';
const KB = 'sk-backup-kb-bbbb0002';

let st;
before(async () => {
  st = await startStack({
    config: (url) => [
      'error_threshold = 2',
      'error_window_ms = 10000',
      'eject_ms = 500',
      'probe_interval_ms = 200',
      '[upstream primary]', `url = ${url}`, `api_key = ${KP}`, 'priority = 0',
      '[upstream backup]', `url = ${url}`, `api_key = ${KB}`, 'priority = 1',
      '',
    ].join('\n'),
    fakeArgs: ['--quiet'],
  });
});
after(async () => { await st?.stop(); });

async function ask(stream = false) {
  const c = st.client();
  if (stream) {
    const s = await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi'), stream: true });
    return aggregate(await collect(s)).content;
  }
  const r = await c.chat.completions.create({ model: 'deepseek-chat', messages: userMsg('hi') });
  return r.choices[0].message.content;
}

const chats = (s, key) => s.paths_by_key[key]?.['/chat/completions'] || 0;
const upstream = (h, name) => h.backends[0].upstreams.find((u) => u.name === name);

test('healthy: requests go to the primary', T, async () => {
  await st.fakeReset();
  assert.equal(await ask(), TEXT_ANSWER);
  assert.equal(await ask(true), TEXT_ANSWER);
  const s = await st.fakeStats();
  assert.equal(chats(s, KP), 2);
  assert.equal(chats(s, KB), 0);
  const h = await st.health();
  assert.equal(upstream(h, 'primary').state, 'ok');
  assert.equal(upstream(h, 'backup').state, 'ok');
});

test('primary fails with 500 -> clients still get 200 from the backup; the primary is ejected', T, async () => {
  await st.fakeReset();
  await st.setKeyFault(KP, '500');
  assert.equal(await ask(), TEXT_ANSWER);
  assert.equal(await ask(true), TEXT_ANSWER);
  let s = await st.fakeStats();
  assert.equal(chats(s, KP), 2, 'each request tried the primary first');
  assert.equal(chats(s, KB), 2, 'and failed over to the backup');

  const h = await st.health();
  const p = upstream(h, 'primary');
  assert.ok(['ejected', 'probing'].includes(p.state), `primary state ${p.state}: ${JSON.stringify(p)}`);
  assert.match(p.reason || '', /500|Server Error/, JSON.stringify(p));
  const k = healthKey(h, 'primary', KP).key;
  assert.equal(k.state, 'ejected', JSON.stringify(k));
  assert.ok(k.retry_in_ms <= 500, JSON.stringify(k));
  assert.equal(upstream(h, 'backup').state, 'ok');
  assert.ok(await st.waitLog(new RegExp(`upstream primary key ${keyId(KP)} is now ejected`)), `log:\n${st.logs()}`);
  assert.ok(await st.waitLog(/upstream primary ejected/), `log:\n${st.logs()}`);

  // While ejected, requests go straight to the backup: no more client-facing retries on it.
  await st.fakeReset();
  for (let i = 0; i < 3; i++) assert.equal(await ask(), TEXT_ANSWER);
  s = await st.fakeStats();
  assert.equal(chats(s, KP), 0, `no chat request to the ejected primary: ${JSON.stringify(s.paths_by_key)}`);
  assert.equal(chats(s, KB), 3);
});

test('probes keep a still-failing primary out', T, async () => {
  await st.fakeReset();
  await sleep(1200); // past eject_ms: probes run and fail
  const s = await st.fakeStats();
  assert.ok((s.paths_by_key[KP]?.['/models'] || 0) >= 1, `the primary was probed: ${JSON.stringify(s.paths_by_key)}`);
  const h = await st.health();
  assert.equal(healthKey(h, 'primary', KP).key.state, 'ejected', JSON.stringify(upstream(h, 'primary')));
  assert.ok(!st.logs().includes(`${keyId(KP)} is back`), 'not back while it still fails');
  assert.equal(await ask(), TEXT_ANSWER);
  assert.equal(chats(await st.fakeStats(), KP), 0, 'still no chat request to it');
});

test('primary recovers -> within ~1-2 s a probe brings it back and traffic returns to it', T, async () => {
  await st.setKeyFault(KP, null);
  const t0 = Date.now();
  const back = await waitFor(async () => {
    const h = await st.health();
    return upstream(h, 'primary').state === 'ok' && healthKey(h, 'primary', KP).key.state === 'ok';
  }, 2500);
  const ms = Date.now() - t0;
  assert.ok(back, `primary not back after ${ms} ms: ${JSON.stringify(upstream(await st.health(), 'primary'))}`);
  assert.ok(await st.waitLog(new RegExp(`upstream primary key ${keyId(KP)} is back`)), `log:\n${st.logs()}`);
  await st.fakeReset();
  for (let i = 0; i < 3; i++) assert.equal(await ask(), TEXT_ANSWER);
  assert.equal(await ask(true), TEXT_ANSWER);
  const s = await st.fakeStats();
  assert.equal(chats(s, KP), 4, 'the primary serves again');
  assert.equal(chats(s, KB), 0, 'the backup is idle again');
});

test('it can flap again: a second failure spell ejects it again, a second recovery restores it', T, async () => {
  // Its 4 answers above are within error_window_ms: errors eject it once they are half of its
  // attempts there, at the fourth 503 (4 of 8), not at the second (2 of 6).
  await st.fakeReset();
  await st.setKeyFault(KP, '503');
  for (let i = 0; i < 3; i++) assert.equal(await ask(), TEXT_ANSWER);
  let h = await st.health();
  assert.equal(healthKey(h, 'primary', KP).key.state, 'ok', JSON.stringify(upstream(h, 'primary')));
  assert.equal(await ask(), TEXT_ANSWER);
  assert.equal(chats(await st.fakeStats(), KP), 4);
  h = await st.health();
  assert.equal(healthKey(h, 'primary', KP).key.state, 'ejected', JSON.stringify(upstream(h, 'primary')));
  assert.ok(['ejected', 'probing'].includes(upstream(h, 'primary').state), JSON.stringify(upstream(h, 'primary')));
  await st.setKeyFault(KP, null);
  const back = await waitFor(async () => {
    h = await st.health();
    return upstream(h, 'primary').state === 'ok' && healthKey(h, 'primary', KP).key.state === 'ok';
  }, 2500);
  assert.ok(back, JSON.stringify(upstream(h, 'primary')));
  await st.fakeReset();
  assert.equal(await ask(), TEXT_ANSWER);
  assert.equal(chats(await st.fakeStats(), KP), 1);
  for (const k of [KP, KB]) {
    assert.ok(!st.logs().includes(k), 'keys never in full in the log');
    assert.ok(!JSON.stringify(h).includes(k), 'keys never in full in /health');
  }
});
