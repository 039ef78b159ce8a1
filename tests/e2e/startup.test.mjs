// startup.test.mjs - seekd serve's start-up checks: no open relay of a paid key beyond loopback,
// --allow-open (with a warning), config errors with FILE:LINE and exit code 2, warnings for
// settings that are given but not used, short complaints about the command line, key ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSeekd, tmpDir } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const keyId = (k) => crypto.createHash('sha256').update(k).digest('hex').slice(0, 8);

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
  assert.match(r.stderr, / warn  .*open relay: listening on 0\.0\.0\.0:0 with 1 server key and no client_key/);
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

test('a bad command line -> exit 2, one line saying what and where to look, not the help', T, async () => {
  const cases = [
    [['serve', '--no-such-flag'], "seekd serve: unknown flag '--no-such-flag'\nsee 'seekd serve --help'\n"],
    [['serve', '--listen'], "seekd serve: --listen needs a value\nsee 'seekd serve --help'\n"],
    [['check', '--prboe'], "seekd check: unknown flag '--prboe'\nsee 'seekd check --help'\n"],
    [['tokenize', '--cont', 'x'], "seekd tokenize: unknown flag '--cont'\nsee 'seekd tokenize --help'\n"],
    [['serv'], "seekd: unknown command 'serv'\nsee 'seekd --help'\n"],
  ];
  for (const [args, want] of cases) {
    const r = await runSeekd(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr, want);
  }
});

test("each command's synopsis names every flag its help describes", T, async () => {
  for (const args of [['--help'], ['serve', '--help'], ['check', '--help'], ['tokenize', '--help']]) {
    const r = await runSeekd(args);
    assert.equal(r.code, 0);
    const paras = r.stdout.split('\n\n');
    const at = paras.findIndex((p) => /usage:/i.test(p));
    assert.ok(at >= 0, `seekd ${args.join(' ')}: no usage paragraph`);
    const synopsis = paras[at];
    const described = new Set(paras.slice(at + 1).join('\n').match(/--[a-z][a-z-]*/g));
    assert.ok(described.size > 0);
    for (const flag of described) {
      if (flag === '--help' || flag === '--version') continue;
      assert.ok(synopsis.includes(`[${flag}`) || synopsis.includes(`|${flag}`) || synopsis.includes(`| ${flag}`),
        `seekd ${args.join(' ')}: ${flag} is described but not in the synopsis:\n${synopsis}`);
    }
  }
});

test("docs/config.md's first example starts as it is written", T, async () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/config.md'), 'utf8');
  const example = doc.match(/```ini\n([\s\S]*?)```/)[1];
  assert.match(example, / # /, 'the example has an inline comment');
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const cfg = path.join(dir, 'seekd.conf');
  fs.writeFileSync(cfg, example);
  const r = await runSeekd(['serve', '--config', cfg, '--listen', '127.0.0.1:0', '--port-file', pf], { portFile: pf });
  assert.equal(r.started, true, `it serves: ${r.stderr}`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('--config on a directory -> exit 2 naming it', T, async () => {
  const dir = tmpDir();
  const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--config', dir]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `seekd: ${dir}: not a config file (a directory)\n`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('[upstreams foo] and [upstream a b] -> exit 2 with FILE:LINE', T, async () => {
  const dir = tmpDir();
  for (const header of ['[upstreams foo]', '[upstream a b]']) {
    const cfg = path.join(dir, 'seekd.conf');
    fs.writeFileSync(cfg, `# one upstream\n${header}\nurl = ${UPSTREAM}\n`);
    const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--config', cfg]);
    assert.equal(r.code, 2, header);
    assert.ok(r.stderr.startsWith(`seekd: ${cfg}:2: expected a section '[upstream NAME]'`), r.stderr);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('DEEPSEEK_API_KEY beside [upstream] sections is named as unused, and so is bring-your-own-key', T, async () => {
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const cfg = path.join(dir, 'seekd.conf');
  fs.writeFileSync(cfg, `[upstream a]\nurl = ${UPSTREAM}\n`);
  const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--port-file', pf, '--config', cfg],
    { env: { DEEPSEEK_API_KEY: 'sk-env-unused-1111' }, portFile: pf });
  assert.equal(r.started, true, r.stderr);
  assert.match(r.stderr, / warn  .*DEEPSEEK_API_KEY is not used: .* defines \[upstream\] sections/);
  assert.match(r.stderr, / warn  .*no \[upstream\] section has an api_key: each client's own bearer key is sent upstream/);
  assert.ok(!r.stderr.includes('sk-env-unused-1111'));
  // a top-level api_key in such a file is refused where it is written
  fs.writeFileSync(cfg, `api_key = sk-top-1111\n[upstream a]\nurl = ${UPSTREAM}\n`);
  const top = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--config', cfg]);
  assert.equal(top.code, 2);
  assert.match(top.stderr, new RegExp(`${cfg}:1: a top-level 'api_key' is not used`));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the start-up log names keys by key id, short keys included, never by their characters', T, async () => {
  const dir = tmpDir();
  const pf = path.join(dir, 'port');
  const keys = ['k1', 'sk-long-enough-key-9876'];
  const r = await runSeekd(['serve', '--listen', '127.0.0.1:0', '--port-file', pf, '--upstream', UPSTREAM],
    { env: { DEEPSEEK_API_KEY: keys.join(',') }, portFile: pf });
  assert.equal(r.started, true, r.stderr);
  assert.match(r.stderr, new RegExp(`upstream default ${UPSTREAM} .*key_ids=\\[${keyId(keys[0])},${keyId(keys[1])}\\]`));
  assert.ok(!r.stderr.includes('9876') && !r.stderr.includes('\u2026'), r.stderr);
  fs.rmSync(dir, { recursive: true, force: true });
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
