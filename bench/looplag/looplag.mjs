// looplag.mjs - the event loop's worst pause while seekd counts tokens for answers whose
// upstream reported no usage (see run.sh). Prints, per scenario, /ping latency p50, p99 and
// max over back-to-back pings on one kept-alive connection (what a client sees, scheduling
// noise included), seekd's CPU time, and seekd's own worst loop stall ("stall": the loop
// thread busy without returning to its events; builds without it print NaN).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const { SEEKD_BIN, FAKE_BIN } = process.env;
const ROUNDS = Number(process.env.ROUNDS || 3);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'seekd-looplag-'));
const procs = [];
process.on('exit', () => { for (const p of procs) p.kill('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }); });

async function start(bin, args, portFile) {
  const p = spawn(bin, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  procs.push(p);
  for (let i = 0; i < 500; i++) {
    try {
      const s = fs.readFileSync(portFile, 'utf8');
      if (s.endsWith('\n')) return [p, Number.parseInt(s, 10)];
    } catch { /* not yet */ }
    await sleep(10);
  }
  throw new Error(`${bin} did not start`);
}

const [, fakePort] = await start(FAKE_BIN, ['--listen', '127.0.0.1:0', '--port-file', path.join(dir, 'f'), '--quiet'], path.join(dir, 'f'));
fs.writeFileSync(path.join(dir, 'seekd.conf'), 'max_body = 16m\nadmin_token = bench-admin-token\n');
const [seekd, port] = await start(SEEKD_BIN, ['serve', '--listen', '127.0.0.1:0', '--port-file', path.join(dir, 's'),
  '--upstream', `http://127.0.0.1:${fakePort}`, '--log-level', 'warn', '--config', path.join(dir, 'seekd.conf')], path.join(dir, 's'));

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const bigAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function request(p, body, ag, auth = null) {
  return new Promise((resolve, reject) => {
    const headers = body ? { 'Content-Type': 'application/json', Authorization: 'Bearer sk-bench-0001', 'Content-Length': Buffer.byteLength(body) } : {};
    if (auth) headers.Authorization = auth;
    const r = http.request({ host: '127.0.0.1', port, path: p, method: body ? 'POST' : 'GET', agent: ag, headers },
    (res) => { const parts = []; res.on('data', (d) => { parts.push(d); }); res.on('end', () => resolve([res.statusCode, Buffer.concat(parts)])); });
    r.on('error', reject);
    r.end(body);
  });
}

function words(bytes, seed) {
  const parts = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = `w${(i * 7919 + seed) % 100003} `;
    parts.push(w);
    n += w.length;
  }
  return parts.join('').slice(0, bytes);
}
const chatBody = (bytes, seed) => JSON.stringify({ model: 'deepseek-chat', messages: [{ role: 'user', content: words(bytes, seed) }], fake: { usage: false } });

function cpuMs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 1000 / 100; // utime + stime, in ticks of 10 ms
}

// seekd's own figure: the longest stretch its loop thread ran without getting back to its
// events (GET /health details, loop.recent_max_stall_ms: since the previous read).
async function loopStall() {
  const [, b] = await request('/health', null, agent, 'Bearer bench-admin-token');
  return JSON.parse(b).loop?.recent_max_stall_ms ?? NaN;
}

async function measure(name, load) {
  await loopStall();
  const lat = [];
  let done = false;
  const c0 = cpuMs(seekd.pid);
  const t0 = performance.now();
  const work = load().then(() => { done = true; });
  while (!done) {
    const p0 = performance.now();
    await request('/ping', null, agent);
    lat.push(performance.now() - p0);
  }
  await work;
  const wall = performance.now() - t0;
  lat.sort((a, b) => a - b);
  const q = (x) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))];
  const stall = await loopStall();
  return { name, pings: lat.length, p50: q(0.5), p99: q(0.99), max: lat.at(-1), wall, cpu: cpuMs(seekd.pid) - c0, stall };
}

const scenarios = [
  ['idle (pings only, 1 s)', () => sleep(1000)],
  ['4 x 2 MiB prompts at once, counted', async () => {
    await Promise.all([0, 1, 2, 3].map((i) => request('/chat/completions', chatBody((2 << 20) - 4096, i), bigAgent)));
  }],
  ['1 x 8 MB prompt (over the count limit: counted by bytes)', async () => {
    await request('/chat/completions', chatBody(8e6, 9), bigAgent);
  }],
  ['16 x 256 KiB prompts at once, counted', async () => {
    await Promise.all([...Array(16).keys()].map((i) => request('/chat/completions', chatBody(256 << 10, i), bigAgent)));
  }],
];
const fmt = (x) => x.toFixed(2).padStart(8);
console.log(`seekd: ${SEEKD_BIN}`);
console.log('scenario'.padEnd(58), '  pings', '  p50 ms', '  p99 ms', '  max ms', ' wall ms', ' cpu ms', ' stall ms');
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, load] of scenarios) {
    const m = await measure(name, load);
    console.log(m.name.padEnd(58), String(m.pings).padStart(7), fmt(m.p50), fmt(m.p99), fmt(m.max), fmt(m.wall), fmt(m.cpu), fmt(m.stall));
  }
}
agent.destroy();
bigAgent.destroy();
process.exit(0);
