// browser.test.mjs - the CORS policy proved in a real browser (issue 10): headless Chromium
// loads a page from another local origin whose script tries to spend seekd's server key with
// fetch(). With server keys and no client keys that must fail unless the page's origin is in
// cors_origins. Needs Debian's `chromium` (scripts/deps.sh); without it the test is skipped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { startStack, tmpDir, withDeadline, TEXT_ANSWER } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM || 'chromium';
const HAVE_CHROMIUM = spawnSync(CHROMIUM, ['--version'], { stdio: 'ignore' }).status === 0;
const SKIP = HAVE_CHROMIUM ? false : `${CHROMIUM} not found (apt-get install chromium; see scripts/deps.sh)`;
const T = { timeout: 60000, skip: SKIP };

/** A page whose script calls seekd and writes what it could read into the DOM. */
function page(seekdUrl) {
  return `<!doctype html><html><body><pre id="out">pending</pre><script>
fetch(${JSON.stringify(seekdUrl + '/chat/completions')}, {
  method: 'POST',
  headers: { Authorization: 'Bearer x', 'Content-Type': 'application/json', 'x-stainless-os': 'Linux' },
  body: JSON.stringify({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'hi' }] }),
}).then((r) => r.json()).then((j) => {
  document.getElementById('out').textContent = 'READ:' + j.choices[0].message.content;
}).catch((e) => {
  document.getElementById('out').textContent = 'BLOCKED:' + e.name;
});
</script></body></html>`;
}

/** Serves page(seekdUrl) on a free loopback port: another origin than seekd's. */
async function pageServer() {
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page(srv.seekdUrl));
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  srv.origin = `http://127.0.0.1:${srv.address().port}`;
  return srv;
}

/** Loads url in headless Chromium and returns the text the page's script left in #out. */
async function browse(url) {
  const profile = tmpDir();
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`, '--virtual-time-budget=10000', '--dump-dom', url];
  const proc = spawn(CHROMIUM, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const done = await withDeadline(exited, 45000, 'timeout');
  if (done === 'timeout') proc.kill('SIGKILL');
  fs.rmSync(profile, { recursive: true, force: true });
  const m = out.match(/<pre id="out">([^<]*)<\/pre>/);
  assert.ok(m, `chromium gave no page (exit ${done}): ${err.slice(-2000)}`);
  return m[1];
}

let st;
let foreign;
let allowed;
before(async () => {
  if (SKIP) return;
  foreign = await pageServer();
  allowed = await pageServer();
  st = await startStack({ serverKey: 'sk-srv-9a8b7c6d5e4f3a2b', config: `cors_origins = ${allowed.origin}\n` });
  foreign.seekdUrl = allowed.seekdUrl = st.baseURL;
});
after(async () => {
  await st?.stop();
  foreign?.close();
  allowed?.close();
});

test('a page from a foreign origin cannot spend the server key', T, async () => {
  await st.fakeReset();
  assert.equal(await browse(foreign.origin + '/'), 'BLOCKED:TypeError');
  assert.equal((await st.fakeStats()).requests, 0, 'nothing reached the upstream');
  assert.ok(await st.waitLog(/OPTIONS \/chat\/completions status=403 /), 'the preflight was refused');
});

test('a page from an origin in cors_origins reads the answer', T, async () => {
  assert.equal(await browse(allowed.origin + '/'), `READ:${TEXT_ANSWER}`);
});
