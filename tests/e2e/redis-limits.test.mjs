// redis-limits.test.mjs - per-key limits shared by two seekd instances through a real
// redis-server (tests/e2e/redis.mjs starts it on a free port and stops it). Both instances serve
// the same accounts database and the same metered keys, each in front of its own fake upstream.
// A burst over rpm gets 429 with the exact Retry-After; 2N requests spread over both instances
// pass N times in all; concurrency counts the requests in flight on both; with Redis stopped
// nothing waits longer than redis_timeout_ms and each instance passes at most limit / 2, the
// metric and the log say so once; Redis back, the limit is shared again.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, runSeekd, tmpDir, userMsg, SANITIZED } from './harness.mjs';
import { startRedis, redisServerPath, redisCommand } from './redis.mjs';

const T = { timeout: 60000 };
const MODEL = 'deepseek-chat';
const TIMEOUT_MS = 100; // redis_timeout_ms of both instances
// What a request may take on top of the timeout: a loaded machine, an ASan build.
const SLACK_MS = SANITIZED ? 900 : 400;
const CONFIG = `price = ${MODEL} USD hit=0.1 miss=1 output=2 offpeak=none\n` +
  `redis_instances = 2\nredis_timeout_ms = ${TIMEOUT_MS}\n`;
const NO_REDIS = redisServerPath() ? false : 'redis-server is not installed (apt-get install redis-server)';

describe('limits shared through redis', { skip: NO_REDIS }, () => {
  let redis, db, a, b;
  const keys = {};
  const create = async (name, ...limits) => {
    const r = await runSeekd(['keys', 'create', '--name', name, '--balance', '5', ...limits, '--db', db]);
    assert.equal(r.code, 0, r.stderr);
    keys[name] = r.stdout.trim();
  };
  const req = (st, name, extra = {}) => st.fetch('/chat/completions', {
    headers: { Authorization: `Bearer ${keys[name]}` },
    json: { model: MODEL, messages: userMsg('limits'), ...extra },
  });
  const metrics = async (st) => (await st.fetch('/metrics')).text();
  const metric = (text, name) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
  const waitUp = async (st, want, ms = 8000) => {
    const t0 = Date.now();
    for (;;) {
      const v = metric(await metrics(st), 'seekd_redis_up');
      if (v === want) return;
      if (Date.now() - t0 > ms) throw new Error(`seekd_redis_up stayed ${v}, want ${want}`);
      await sleep(50);
    }
  };

  before(async () => {
    redis = await startRedis();
    db = path.join(tmpDir(), 'accounts.db');
    await create('burst', '--rpm', '3');
    await create('shared', '--rpm', '10');
    await create('conc', '--concurrency', '2');
    await create('down', '--rpm', '10');
    // one instance names Redis with the flag, the other in its config file
    a = await startStack({ serverKey: 'sk-server-000000000001', config: CONFIG, logLevel: 'info',
      seekdArgs: ['--db', db, '--redis', redis.url] });
    b = await startStack({ serverKey: 'sk-server-000000000001', config: `${CONFIG}redis = ${redis.url}\n`,
      logLevel: 'info', seekdArgs: ['--db', db] });
    await waitUp(a, 1);
    await waitUp(b, 1);
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.stop();
  });

  test('a burst over rpm gets 429 with the exact Retry-After, from either instance', T, async () => {
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) assert.equal((await req(i === 1 ? b : a, 'burst')).status, 200);
    const over = await req(a, 'burst');
    const overB = await req(b, 'burst');
    const elapsed = Date.now() - t0;
    assert.equal(over.status, 429);
    assert.deepEqual((await over.json()).error, {
      message: 'Rate Limit Reached: this key allows 3 requests a minute', type: 'rate_limit_error',
      param: null, code: 'rate_limit_exceeded',
    });
    // three a minute: the next is due 20 s after the first, which Redis saw less than a second ago
    assert.ok(elapsed < 1000, `the burst took ${elapsed} ms`);
    assert.equal(over.headers.get('retry-after'), '20');
    assert.equal(overB.status, 429);
    assert.equal(overB.headers.get('retry-after'), '20');
    await overB.text();
    // the state is Redis', under the key's id, and vanishes a second after its TAT
    const id = JSON.parse((await runSeekd(['keys', 'show', 'burst', '--json', '--db', db])).stdout).key_id;
    const ttl = Number((await redisCommand(redis.port, ['PTTL', `seekd:lim:{${id}}:rpm`])).slice(1));
    assert.ok(ttl > 55000 && ttl <= 61000, `PTTL ${ttl}`);
    assert.ok(!a.logs().includes(keys.burst) && !b.logs().includes(keys.burst), 'no key in a log');
  });

  test('2N requests spread over two instances pass N times in all', T, async () => {
    const n = 10;
    const answers = await Promise.all(Array.from({ length: 2 * n }, (_, i) => req(i % 2 ? b : a, 'shared')));
    const statuses = answers.map((r) => r.status);
    await Promise.all(answers.map((r) => r.text()));
    const ok = statuses.filter((s) => s === 200).length;
    assert.ok(Math.abs(ok - n) <= 1, `${ok} of ${2 * n} admitted with rpm ${n}: ${statuses}`);
    assert.equal(ok, n, 'one atomic script per admission: exactly N');
    assert.equal(statuses.filter((s) => s === 429).length, 2 * n - ok);
    const refused = metric(await metrics(a), 'seekd_refused_total{limit="rpm"}') +
      metric(await metrics(b), 'seekd_refused_total{limit="rpm"}');
    assert.equal(refused, 1 + 1 + 2 * n - ok, 'the burst test\'s two, and these');
  });

  test('concurrency counts the requests in flight on both instances', T, async () => {
    // two slow streams, one on each instance, hold both slots
    const slowA = req(a, 'conc', { stream: true, fake: { chunks: 5, delay_ms: 250 } });
    const slowB = req(b, 'conc', { stream: true, fake: { chunks: 5, delay_ms: 250 } });
    await sleep(400);
    for (const st of [a, b]) {
      const r = await req(st, 'conc');
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '1');
      assert.match((await r.json()).error.message, /allows 2 requests at once/);
    }
    const [ra, rb] = await Promise.all([slowA, slowB]);
    assert.equal(ra.status, 200);
    assert.equal(rb.status, 200);
    await Promise.all([ra.text(), rb.text()]);
    await sleep(100); // the ends reach Redis
    const r = await req(b, 'conc');
    assert.equal(r.status, 200);
    await r.text();
  });

  test('redis stopped: no request waits past the timeout, each instance passes rpm / 2, the metric says down; back up, one limit again', T, async () => {
    const timed = async (st) => {
      const t0 = Date.now();
      const r = await req(st, 'down');
      await r.text();
      return { status: r.status, ms: Date.now() - t0 };
    };
    // paused: connections stay open and nothing answers, so only the timeout can end a call
    redis.pause();
    const seen = { a: [], b: [] };
    for (let i = 0; i < 8; i++) {
      seen.a.push(await timed(a));
      seen.b.push(await timed(b));
    }
    for (const [who, list] of Object.entries(seen)) {
      const worst = Math.max(...list.map((x) => x.ms));
      assert.ok(worst < TIMEOUT_MS + SLACK_MS, `${who}: a request took ${worst} ms`);
      // rpm 10 shared by redis_instances = 2: 5 each, alone
      assert.equal(list.filter((x) => x.status === 200).length, 5, `${who}: ${JSON.stringify(list)}`);
      assert.ok(list.every((x) => x.status === 200 || x.status === 429));
    }
    for (const st of [a, b]) {
      const text = await metrics(st);
      const p = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(p.error, undefined, 'promtool is installed (scripts/deps.sh)');
      assert.equal(p.status, 0, `promtool: ${p.stdout}${p.stderr}`);
      assert.equal(metric(text, 'seekd_redis_up'), 0);
      assert.ok(metric(text, 'seekd_limits_degraded_total') >= 8);
      const downs = st.logs().match(/redis 127\.0\.0\.1:\d+: down \(no answer within 100 ms\); each instance enforces its per-key limits alone, divided by redis_instances = 2/g);
      assert.equal(downs?.length, 1, 'said once');
    }
    // killed: connections refused at once, still no wait; the shares stay spent
    await redis.kill();
    for (const st of [a, b]) {
      const x = await timed(st);
      assert.equal(x.status, 429);
      assert.ok(x.ms < SLACK_MS, `${x.ms} ms`);
    }
    // back (empty: no persistence): both shared again, and N pass in all, not N per instance
    await redis.restart();
    await waitUp(a, 1);
    await waitUp(b, 1);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => req(i % 2 ? b : a, 'down')));
    await Promise.all(answers.map((r) => r.text()));
    const ok = answers.filter((r) => r.status === 200).length;
    assert.equal(ok, 10, answers.map((r) => r.status).join(','));
    for (const st of [a, b]) {
      assert.equal(st.logs().match(/: up; per-key limits are shared across instances/g)?.length, 2, 'up at start, up again');
    }
  });
});
