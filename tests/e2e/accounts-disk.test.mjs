// accounts-disk.test.mjs - metered keys when SQLite's file cannot be written: a write lock held
// by another program past seekd's busy timeout, and a full disk (a file-size limit). Nothing is
// lost or counted twice. (PostgreSQL's lock timeout and lost connections: unit.test_store-pg.)
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { startStack, runSeekd, userMsg, freshDb } from './harness.mjs';
import { sleep, T, MODEL, CONFIG, SERVER_KEY, nano, costOf, meteredStack } from './accounts-common.mjs';

describe('metered keys on a SQLite file that cannot be written', () => {
  const m = meteredStack('disk');
  const { keys, settled, ledger, post } = m;
  let st, db;
  before(async () => { await m.start(); st = m.st; db = m.db; });
  after(async () => { await m.stop(); });

  test('a settle the database refuses (locked past its busy timeout) is kept and written once it can be: nothing lost, nothing twice', T, async () => {
    const k = (await keys(['create', '--name', 'locked', '--balance', '1'])).stdout.trim();
    await sleep(1200);
    const res = await post(k, { model: MODEL, messages: userMsg('slow answer'), stream: true, fake: { chunks: 4, delay_ms: 300 } });
    const reader = res.body.getReader();
    let got = '';
    while (!/"content":"[^"]/.test(got)) got += new TextDecoder().decode((await reader.read()).value);
    // another program takes the database's write lock for 13 s: seekd waits 5 s a transaction,
    // and its heartbeat may come first, so the settle fails after 5 to 10 s
    const locker = spawn('/usr/bin/python3', ['-c', `
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
time.sleep(13)
c.execute('COMMIT')
`, db], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => locker.stdout.once('data', resolve));
    for (;;) { const { done, value } = await reader.read(); if (done) break; got += new TextDecoder().decode(value); }
    const usage = got.split('\n\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).at(-1).usage;
    assert.ok(await st.waitLog(/accounts: settle of hold \d+ \(request [0-9a-f]+, cost [0-9.]+\) failed, will retry \(attempt 1\): .*locked/, 14000),
      'the failed settle is kept, and said: ' + st.logs().split('\n').filter((l) => /accounts|lock/.test(l)).slice(-8).join('\n'));
    await new Promise((resolve) => locker.on('exit', resolve));
    const after = await settled('locked');
    assert.equal(after.held, '0.000000000');
    assert.equal(nano('1') - nano(after.balance), costOf(usage), 'billed once, exactly, after the lock');
    const rows = await ledger('locked');
    assert.equal(rows.length, 1);
    const v = await runSeekd(['ledger', 'verify', '--db', db]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test('a full disk: holds get a clear 503, the server keeps serving, and no money is made up or counted twice', T, async () => {
    const fdb = freshDb('full');
    const fk = (args) => runSeekd(['keys', ...args, '--db', fdb]);
    const key = (await fk(['create', '--name', 'full', '--balance', '1'])).stdout.trim();
    const size = Math.ceil(fs.statSync(fdb).size / 1024);
    // the database may grow by about 24 KB (its WAL then holds a few transactions)
    const full = await startStack({ serverKey: SERVER_KEY, config: CONFIG, seekdArgs: ['--db', fdb],
      logLevel: 'info', fileLimitKB: size + 24 });
    let refused = null, ok = 0;
    try {
      for (let i = 0; i < 200 && !refused; i++) {
        const r = await fetch(`${full.baseURL}/chat/completions`, {
          method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ model: MODEL, messages: userMsg(`fill ${i}`), max_tokens: 5 }) });
        const text = await r.text();
        if (r.status === 200) ok++;
        else refused = { status: r.status, text };
      }
      assert.ok(refused, 'the database filled up');
      assert.equal(refused.status, 503);
      assert.equal(JSON.parse(refused.text).error.message, 'Service Unavailable: the accounts database cannot be reached');
      assert.ok(await full.waitLog(/accounts: hold for key [0-9a-f]{12} failed: .*(\(File too large\)|\(No space left on device\)|is its disk full\?)/), 'the log says why: ' + full.logs().split('\n').filter((l) => /accounts|error/.test(l)).slice(-6).join('\n'));
      await full.health(); // still serving: it throws on anything but a 200
    } finally {
      await full.stop();
    }
    assert.equal(full.seekd.signalCode === 'SIGXFSZ', false, 'not killed by the file-size signal');
    // with room again every balance adds up (a hold the full disk left open stays counted in
    // `held` until a sweep releases it)
    const again = await startStack({ serverKey: SERVER_KEY, config: CONFIG, seekdArgs: ['--db', fdb], logLevel: 'info' });
    await again.stop();
    const k = JSON.parse((await fk(['show', 'full', '--json'])).stdout);
    const rows = JSON.parse((await runSeekd(['ledger', 'export', '--format', 'json', '--db', fdb])).stdout);
    assert.ok(rows.length <= ok, 'never a row for a request that was not served');
    assert.equal(nano('1') - nano(k.balance), rows.reduce((a, x) => a + nano(x.cost), 0n), 'the balance lost exactly what the ledger says');
    const v = await runSeekd(['ledger', 'verify', '--db', fdb]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

});
