// startup.test.mjs - seekd serve's start-up checks: no open relay of a paid key beyond loopback,
// --allow-open, config errors with FILE:LINE and exit code 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runSeekd, tmpDir } from './harness.mjs';

const T = { timeout: 10000 };
const UPSTREAM = 'http://127.0.0.1:9'; // never contacted

test('0.0.0.0 with a server key and no client_key refuses to start', T, async () => {
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const r = await runSeekd(['serve', '--listen', '0.0.0.0:0', '--port-file', pf, '--upstream', UPSTREAM],
    { env: { DEEPSEEK_API_KEY: 'sk-server-aaaa1111' }, portFile: pf });
  assert.equal(r.started, false, 'it must not serve');
  assert.notEqual(r.code, 0);
  assert.equal(r.signal, null);
  assert.match(r.stderr, /client_key/);
  assert.ok(!r.stderr.includes('sk-server-aaaa1111'), 'the key is not printed');
  assert.ok(!fs.existsSync(pf), 'no port file');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('0.0.0.0 with a server key and --allow-open starts', T, async () => {
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const r = await runSeekd(['serve', '--listen', '0.0.0.0:0', '--port-file', pf, '--upstream', UPSTREAM, '--allow-open'],
    { env: { DEEPSEEK_API_KEY: 'sk-server-aaaa1111' }, portFile: pf });
  assert.equal(r.started, true, `it serves: ${r.stderr}`);
  assert.ok(Number.parseInt(fs.readFileSync(pf, 'utf8'), 10) > 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('0.0.0.0 with a server key and a client_key starts', T, async () => {
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const cfg = path.join(dir, 'seekd.conf');
  fs.writeFileSync(cfg, '# clients must present this key\nclient_key = sk-client-bbbb2222\n');
  const r = await runSeekd(['serve', '--listen', '0.0.0.0:0', '--port-file', pf, '--upstream', UPSTREAM, '--config', cfg],
    { env: { DEEPSEEK_API_KEY: 'sk-server-aaaa1111' }, portFile: pf });
  assert.equal(r.started, true, `it serves: ${r.stderr}`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('0.0.0.0 without server keys (bring your own token) starts', T, async () => {
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const r = await runSeekd(['serve', '--listen', '0.0.0.0:0', '--port-file', pf, '--upstream', UPSTREAM], { portFile: pf });
  assert.equal(r.started, true, `it serves: ${r.stderr}`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a bad config line -> exit 2, stderr names FILE:LINE', T, async () => {
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const cfg = path.join(dir, 'bad.conf');
  fs.writeFileSync(cfg, '# comment\nkeepalive_ms = 200\n\nno_such_setting = 1\n');
  const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--port-file', pf, '--upstream', UPSTREAM, '--config', cfg], { portFile: pf });
  assert.equal(r.started, false);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(`${cfg}:4`), r.stderr);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a bad value -> exit 2, stderr names FILE:LINE', T, async () => {
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const cfg = path.join(dir, 'bad.conf');
  fs.writeFileSync(cfg, 'max_body = lots\n');
  const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--port-file', pf, '--upstream', UPSTREAM, '--config', cfg], { portFile: pf });
  assert.equal(r.started, false);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(`${cfg}:1`), r.stderr);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a key over 1024 bytes -> exit 2 naming its upstream and position, never the key', T, async () => {
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const key = 'sk-' + 'Z'.repeat(1100);
  const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--port-file', pf, '--upstream', UPSTREAM],
    { env: { DEEPSEEK_API_KEY: `sk-short-one, ${key}` }, portFile: pf });
  assert.equal(r.started, false);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /upstream 'default': api key #2 is longer than 1024 bytes/);
  assert.ok(!r.stderr.includes('ZZZZ'), 'no part of the key is printed');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a missing config file -> exit 2 naming it', T, async () => {
  const cfg = '/nonexistent/seekd-e2e.conf';
  const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--upstream', UPSTREAM, '--config', cfg]);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.includes(cfg), r.stderr);
});

test('an unknown flag -> exit 2 with usage', T, async () => {
  const r = await runSeekd(['serve', '--no-such-flag']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /usage/i);
});

test('a key with a space in DEEPSEEK_API_KEY -> exit 2, the key not echoed', T, async () => {
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--port-file', pf, '--upstream', UPSTREAM],
    { env: { DEEPSEEK_API_KEY: 'sk-fine-1111, sk-broken 2222' }, portFile: pf });
  assert.equal(r.started, false, 'it must not serve');
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(),
    "seekd: upstream 'default': api key #2 has a space, a control or a non-ASCII character");
  fs.rmSync(dir, { recursive: true, force: true });
});
