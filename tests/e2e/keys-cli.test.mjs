// keys-cli.test.mjs - `seekd keys ...` on a fresh SQLite database: the key printed once and
// never stored, found again by itself, its id or its name; exact amounts as 9-decimal strings;
// refusals with their exit codes. No upstream is involved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runSeekd, tmpDir } from './harness.mjs';

const T = { timeout: 20000 };

function freshDb() {
  const dir = tmpDir();
  return { dir, db: path.join(dir, 'accounts.db') };
}

const keys = (db, args, env = {}) => runSeekd(['keys', ...args, '--db', db], { env });

test('create prints the key alone on the first line; only its HMAC is stored', T, async () => {
  const { dir, db } = freshDb();
  const r = await keys(db, ['create', '--name', 'alice', '--balance', '10', '--granted', '0.5',
    '--rpm', '60', '--models', 'deepseek-flash,deepseek-v4-pro', '--expires', '2027-01-01']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sk-[0-9a-f]{32}\n$/, 'the key alone, one line');
  const key = r.stdout.trim();
  // The database holds no trace of the key: not the text, not its hex digits.
  const bytes = fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f))).reduce((a, b) => Buffer.concat([a, b]));
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
  fs.rmSync(dir, { recursive: true, force: true });
});

test('topup and grant add exactly; list --json is an array by name', T, async () => {
  const { dir, db } = freshDb();
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
  fs.rmSync(dir, { recursive: true, force: true });
});

test('another secret makes another HMAC: the key is not found (SEEKD_KEY_SECRET)', T, async () => {
  const { dir, db } = freshDb();
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
  fs.rmSync(dir, { recursive: true, force: true });
});

test('refusals: exit 1 for a taken name or no such key, 2 for a bad command line, 3 for the database', T, async () => {
  const { dir, db } = freshDb();
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
  const db2 = path.join(dir, 'no', 'such', 'dir.db');
  const open = await keys(db2, ['list']);
  assert.equal(open.code, 3);
  assert.match(open.stderr, /^seekd keys: cannot open .*dir\.db/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('disable, enable and delete by name; the key is gone afterwards', T, async () => {
  const { dir, db } = freshDb();
  const key = (await keys(db, ['create', '--name', 'erin'])).stdout.trim();
  const id = JSON.parse((await keys(db, ['show', key, '--json'])).stdout).key_id;
  const d = await keys(db, ['disable', 'erin']);
  assert.equal(d.stdout, `disabled key 'erin' (id ${id})\n`);
  assert.equal(JSON.parse((await keys(db, ['show', id, '--json'])).stdout).enabled, false);
  assert.equal((await keys(db, ['enable', id])).stdout, `enabled key 'erin' (id ${id})\n`);
  assert.equal((await keys(db, ['delete', key])).stdout, `deleted key 'erin' (id ${id}); its ledger rows stay\n`);
  assert.equal((await keys(db, ['show', 'erin'])).code, 1);
  assert.deepEqual(JSON.parse((await keys(db, ['list', '--json'])).stdout), []);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('keys made by the CLI are HMAC-SHA256 under the database secret, named by its first 12 hex digits', T, async () => {
  // With a known secret, the key id is reproducible outside seekd.
  const { dir, db } = freshDb();
  const secret = 'a-made-up-test-secret-0003';
  const key = (await keys(db, ['create', '--name', 'frank'], { SEEKD_KEY_SECRET: secret })).stdout.trim();
  const id = JSON.parse((await keys(db, ['show', 'frank', '--json'])).stdout).key_id;
  assert.equal(id, crypto.createHmac('sha256', secret).update(key).digest('hex').slice(0, 12));
  fs.rmSync(dir, { recursive: true, force: true });
});
