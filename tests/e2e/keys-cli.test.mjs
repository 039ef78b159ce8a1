// keys-cli.test.mjs - `seekd keys ...` on a fresh database (SQLite, or PostgreSQL for
// e2e.keys-cli-pg): the key printed once and never stored, found again by itself, its id or
// its name; exact amounts as 9-decimal strings; refusals with their exit codes; a database
// that cannot be used is exit 3 with a clear message that never shows a password. No upstream
// is involved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runSeekd, freshDb, dropDb, pgSql, pgUrlOf, DB_KIND, DB_SKIP } from './harness.mjs';

const T = { timeout: 20000, skip: DB_SKIP };

// Every byte the database keeps: its files, or PostgreSQL's dump of it.
function dbBytes(db) {
  if (DB_KIND === 'sqlite') {
    const dir = path.dirname(db);
    return Buffer.concat(fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f))));
  }
  return execFileSync(path.join(process.env.SEEKD_TEST_PG_BIN, 'pg_dump'), ['--data-only', db]);
}

const keys = (db, args, env = {}) => runSeekd(['keys', ...args, '--db', db], { env });

test('create prints the key alone on the first line; only its HMAC is stored', T, async () => {
  const db = freshDb();
  const r = await keys(db, ['create', '--name', 'alice', '--balance', '10', '--granted', '0.5',
    '--rpm', '60', '--models', 'deepseek-flash,deepseek-v4-pro', '--expires', '2027-01-01']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sk-[0-9a-f]{32}\n$/, 'the key alone, one line');
  const key = r.stdout.trim();
  // The database holds no trace of the key: not the text, not its hex digits.
  const bytes = dbBytes(db);
  assert.ok(bytes.includes('alice'), 'the dump is of this database');
  assert.ok(!bytes.includes(key), 'the key is not stored');
  assert.ok(!bytes.includes(key.slice(3)), 'nor its digits');
  assert.match(r.stderr, /created key 'alice' \(id [0-9a-f]{12}\); it is shown only now/);

  const shown = await keys(db, ['show', key, '--json']);
  assert.equal(shown.code, 0, shown.stderr);
  const k = JSON.parse(shown.stdout);
  assert.match(k.key_id, /^[0-9a-f]{12}$/);
  assert.ok(r.stderr.includes(k.key_id));
  assert.match(k.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  delete k.created;
  assert.deepEqual(k, {
    name: 'alice', key_id: k.key_id, currency: 'USD', balance: '10.500000000', granted: '0.500000000',
    topped_up: '10.000000000', held: '0.000000000', enabled: true, expires: '2027-01-01T00:00:00Z',
    rpm: 60, tpm: null, concurrency: null, models: ['deepseek-flash', 'deepseek-v4-pro'],
  });
  // the same key by its id and by its name
  for (const who of [k.key_id, 'alice']) {
    const again = JSON.parse((await keys(db, ['show', who, '--json'])).stdout);
    assert.equal(again.key_id, k.key_id);
  }
  dropDb(db);
});

test('topup and grant add exactly; list --json is an array by name', T, async () => {
  const db = freshDb();
  assert.equal((await keys(db, ['create', '--name', 'bob', '--currency', 'CNY'])).code, 0);
  assert.equal((await keys(db, ['create', '--name', 'alice'])).code, 0);
  assert.equal((await keys(db, ['topup', 'bob', '1.25'])).code, 0);
  assert.equal((await keys(db, ['grant', 'bob', '0.000000003'])).code, 0);
  const list = await keys(db, ['list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const arr = JSON.parse(list.stdout);
  assert.deepEqual(arr.map((k) => k.name), ['alice', 'bob']);
  const bob = arr[1];
  assert.equal(bob.currency, 'CNY');
  assert.equal(bob.topped_up, '1.250000000');
  assert.equal(bob.granted, '0.000000003');
  assert.equal(bob.balance, '1.250000003');
  assert.equal(arr[0].balance, '0.000000000');
  dropDb(db);
});

test('another secret makes another HMAC: the key is not found (SEEKD_KEY_SECRET)', T, async () => {
  const db = freshDb();
  const env = { SEEKD_KEY_SECRET: 'a-made-up-test-secret-0001' };
  const key = (await keys(db, ['create', '--name', 'carol'], env)).stdout.trim();
  assert.equal((await keys(db, ['show', key], env)).code, 0);
  const other = await keys(db, ['show', key], { SEEKD_KEY_SECRET: 'a-made-up-test-secret-0002' });
  assert.equal(other.code, 1);
  assert.equal(other.stderr, 'seekd keys show (a key): no such key\n', 'the key is not echoed');
  const short = await keys(db, ['list'], { SEEKD_KEY_SECRET: 'short' });
  assert.equal(short.code, 0, 'list needs no secret');
  const bad = await keys(db, ['create', '--name', 'dave'], { SEEKD_KEY_SECRET: 'short' });
  assert.equal(bad.code, 3);
  assert.equal(bad.stderr, 'seekd keys create: SEEKD_KEY_SECRET must be 16 to 256 bytes long\n');
  dropDb(db);
});

test('refusals: exit 1 for a taken name or no such key, 2 for a bad command line, 3 for the database', T, async () => {
  const db = freshDb();
  assert.equal((await keys(db, ['create', '--name', 'alice'])).code, 0);
  const cases = [
    [['create', '--name', 'alice'], 1, "seekd keys create: a key named 'alice' (or with that id) exists\n"],
    [['show', 'nobody'], 1, 'seekd keys show nobody: no such key\n'],
    [['topup', 'alice', '1e3'], 2, "seekd keys: the amount '1e3': not a decimal amount\n"],
    [['topup', 'alice', '0.0000000001'], 2, "seekd keys: the amount '0.0000000001': more than 9 decimals (amounts are exact to 1e-9)\n"],
    [['topup', 'alice', '-1'], 2, "seekd keys: unknown flag '-1'\nsee 'seekd keys --help'\n"],
    [['topup', 'alice', '0'], 2, 'seekd keys: the amount must be above 0\n'],
    [['topup', 'alice', '1000000000.5'], 2, "seekd keys: the amount '1000000000.5': amount too large\n"],
    [['create'], 2, 'seekd keys create: --name NAME is required (1 to 64 bytes)\n'],
    [['create', '--name', 'x', '--currency', 'EUR'], 2, 'seekd keys create: --currency must be USD or CNY\n'],
    [['create', '--name', 'x', '--rpm', '-1'], 2, "seekd keys: --rpm must be a whole number from 0 to 10^12, not '-1'\n"],
    [['create', '--name', 'x', '--expires', '2026-02-30'], 2, 'seekd keys create: --expires must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n'],
    [['create', '--name', `sk-${'0'.repeat(32)}`], 2, 'seekd keys create: a name must not look like a key\n'],
  ];
  for (const [args, code, stderr] of cases) {
    const r = await keys(db, args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, stderr, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  }
  const verb = await keys(db, ['frob']);
  assert.equal(verb.code, 2);
  assert.match(verb.stderr, /^seekd keys: unknown command 'frob'\n/);
  if (DB_KIND === 'sqlite') {
    const db2 = path.join(path.dirname(db), 'no', 'such', 'dir.db');
    const open = await keys(db2, ['list']);
    assert.equal(open.code, 3);
    assert.match(open.stderr, /^seekd keys: cannot open .*dir\.db/);
  }
  dropDb(db);
});

test('disable, enable and delete by name; the key is gone afterwards', T, async () => {
  const db = freshDb();
  const key = (await keys(db, ['create', '--name', 'erin'])).stdout.trim();
  const id = JSON.parse((await keys(db, ['show', key, '--json'])).stdout).key_id;
  const d = await keys(db, ['disable', 'erin']);
  assert.equal(d.stdout, `disabled key 'erin' (id ${id})\n`);
  assert.equal(JSON.parse((await keys(db, ['show', id, '--json'])).stdout).enabled, false);
  assert.equal((await keys(db, ['enable', id])).stdout, `enabled key 'erin' (id ${id})\n`);
  assert.equal((await keys(db, ['delete', key])).stdout, `deleted key 'erin' (id ${id}); its ledger rows stay\n`);
  assert.equal((await keys(db, ['show', 'erin'])).code, 1);
  assert.deepEqual(JSON.parse((await keys(db, ['list', '--json'])).stdout), []);
  dropDb(db);
});

test('keys made by the CLI are HMAC-SHA256 under the database secret, named by its first 12 hex digits', T, async () => {
  // With a known secret, the key id is reproducible outside seekd.
  const db = freshDb();
  const secret = 'a-made-up-test-secret-0003';
  const key = (await keys(db, ['create', '--name', 'frank'], { SEEKD_KEY_SECRET: secret })).stdout.trim();
  const id = JSON.parse((await keys(db, ['show', 'frank', '--json'])).stdout).key_id;
  assert.equal(id, crypto.createHmac('sha256', secret).update(key).digest('hex').slice(0, 12));
  dropDb(db);
});

if (DB_KIND === 'pg') {
  // A URL's password is masked wherever seekd shows the URL.
  const masked = (url) => url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@/]*@/, '$1:***@');

  test('PostgreSQL that cannot be used: exit 3 and a clear message, never the password', T, async () => {
    const db = freshDb();
    const password = /:([^:@/]+)@/.exec(db)[1];
    const cases = [
      // nothing listens on port 1
      ['postgres://seekd:Pa55-unreachable@127.0.0.1:1/x', /Connection refused/],
      // a wrong password
      [db.replace(`:${password}@`, ':Wr0ng-Pa55@'), /password authentication failed for user "seekd"/],
      // no such database
      [pgUrlOf('seekd_no_such_db'), /database "seekd_no_such_db" does not exist/],
    ];
    for (const [url, why] of cases) {
      for (const args of [['keys', 'list', '--db', url], ['ledger', 'verify', '--db', url], ['usage', '--db', url]]) {
        const r = await runSeekd(args);
        assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
        assert.ok(r.stderr.startsWith(`seekd ${args[0]}: ${masked(url)}: `), r.stderr);
        assert.match(r.stderr, why);
        assert.ok(!r.stderr.includes(/:([^:@/]+)@/.exec(url)[1]), 'no password');
        assert.equal(r.stdout, '');
      }
    }
    // a database a newer seekd migrated: refused, not touched
    assert.equal((await runSeekd(['keys', 'create', '--name', 'x', '--db', db])).code, 0);
    pgSql(db, 'UPDATE schema_version SET version = 99');
    const r = await runSeekd(['keys', 'list', '--db', db]);
    assert.equal(r.code, 3);
    assert.equal(r.stderr, `seekd keys: ${masked(db)}: the database has schema version 99; this seekd knows up to 3\n`);
    assert.equal(pgSql(db, 'SELECT version FROM schema_version'), '99\n');
    dropDb(db);
  });

  test('seekd serve with a PostgreSQL it cannot use does not start, and says why', T, async () => {
    const db = freshDb();
    const password = /:([^:@/]+)@/.exec(db)[1];
    const wrong = db.replace(`:${password}@`, ':Wr0ng-Pa55@');
    const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--db', wrong]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /seekd: accounts: postgresql:\/\/seekd:\*\*\*@127\.0\.0\.1:\d+\/seekd_e2e_\d+_\d+: .*password authentication failed/);
    assert.ok(!r.stderr.includes('Wr0ng-Pa55'));
    dropDb(db);
  });
}
