// check.test.mjs - `seekd check`: the settings built exactly as `seekd serve` builds them, and
// with --probe a GET /models per upstream key against the fake upstream. Exit 0 fit to run,
// 2 invalid, 3 a probe failed; keys are named by their key id only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runSeekd, startFake, tmpDir } from './harness.mjs';

const T = { timeout: 20000 };
const keyId = (k) => crypto.createHash('sha256').update(k).digest('hex').slice(0, 8);

function writeConf(text) {
  const dir = tmpDir();
  const file = path.join(dir, 'seekd.conf');
  fs.writeFileSync(file, text);
  return { dir, file };
}

test('a valid file -> exit 0, "fit to run", nothing contacted', T, async () => {
  const { dir, file } = writeConf('[upstream a]\nurl = http://127.0.0.1:9\napi_key = sk-check-aaaa1111\n');
  const r = await runSeekd(['check', '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /fit to run: listen 127\.0\.0\.1:8000, 1 upstream, 1 server key/);
  assert.doesNotMatch(r.stdout, /probe/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('an invalid file -> exit 2 with FILE:LINE, as serve', T, async () => {
  const { dir, file } = writeConf('listen = 127.0.0.1:0\nmax_bodyy = 1\n');
  const check = await runSeekd(['check', '--config', file]);
  assert.equal(check.code, 2);
  assert.equal(check.stderr, `seekd: ${file}:2: unknown setting 'max_bodyy' (did you mean 'max_body'?)\n`);
  const serve = await runSeekd(['serve', '--config', file]);
  assert.equal(serve.code, 2);
  assert.equal(serve.stderr, check.stderr);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('check refuses an open relay beyond loopback as serve does, with the same flags', T, async () => {
  const env = { DEEPSEEK_API_KEY: 'sk-server-aaaa1111' };
  const r = await runSeekd(['check', '--listen', '0.0.0.0:0', '--upstream', 'http://127.0.0.1:9'], { env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0/);
  assert.ok(!r.stderr.includes('sk-server-aaaa1111'));
  const open = await runSeekd(['check', '--listen', '0.0.0.0:0', '--upstream', 'http://127.0.0.1:9', '--allow-open'], { env });
  assert.equal(open.code, 0, open.stderr);
  assert.match(open.stderr, / warn  .*open relay/i);
});

test('--probe with working keys -> exit 0, one ok line per key, named by key id', T, async () => {
  const fake = await startFake();
  const keys = ['sk-probe-good-1111', 'k2'];
  const { dir, file } = writeConf(`[upstream main]\nurl = ${fake.url}\napi_key = ${keys.join(', ')}\n` +
    `[upstream spare]\nurl = ${fake.url}/\napi_key = sk-probe-good-3333\n`);
  try {
    const r = await runSeekd(['check', '--config', file, '--probe'], { timeoutMs: 15000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const k of keys) {
      assert.match(r.stdout, new RegExp(`probe upstream 'main' key ${keyId(k)}: ok \\(HTTP 200, \\d+ ms\\)`));
    }
    assert.match(r.stdout, new RegExp(`probe upstream 'spare' key ${keyId('sk-probe-good-3333')}: ok`));
    for (const k of [...keys, 'sk-probe-good-3333']) assert.ok(!(r.stdout + r.stderr).includes(k), 'no key is printed');
  } finally {
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--probe with a refused key -> exit 3 naming that key id and the status', T, async () => {
  const bad = 'sk-probe-refused-2222';
  const fake = await startFake(['--key-fault', `${bad}=401`]);
  const { dir, file } = writeConf(`[upstream main]\nurl = ${fake.url}\napi_key = sk-probe-good-1111, ${bad}\n`);
  try {
    const r = await runSeekd(['check', '--config', file, '--probe'], { timeoutMs: 15000 });
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`key ${keyId('sk-probe-good-1111')}: ok`));
    assert.match(r.stdout, new RegExp(`key ${keyId(bad)}: FAILED: HTTP 401 from GET ${fake.url}/models: the key is refused`));
    assert.match(r.stderr, /seekd check: 1 of 2 probes failed/);
    assert.ok(!(r.stdout + r.stderr).includes('refused-2222'));
  } finally {
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--probe of an unreachable upstream -> exit 3; without --probe it is fit to run', T, async () => {
  const { dir, file } = writeConf('[upstream gone]\nurl = http://127.0.0.1:9\napi_key = sk-probe-x-1111\n');
  const r = await runSeekd(['check', '--config', file, '--probe'], { timeoutMs: 15000 });
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.match(r.stdout, /probe upstream 'gone' key [0-9a-f]{8}: FAILED: /);
  fs.rmSync(dir, { recursive: true, force: true });
});
