// harness.mjs - starts fake_upstream and seekd on ephemeral loopback ports for one test file,
// captures seekd's stderr, and stops both at the end. Paths come from the environment ctest sets:
// SEEKD_BIN, FAKE_BIN, FIXTURES_DIR (optional).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';

export const SEEKD_BIN = process.env.SEEKD_BIN;
export const FAKE_BIN = process.env.FAKE_BIN;
export const FIXTURES_DIR = process.env.FIXTURES_DIR;
export const FIXTURES_OK = !!FIXTURES_DIR && fs.existsSync(FIXTURES_DIR);
// The transport ctest asked for (tests/CMakeLists.txt seekd_node_test): 'builtin' or 'libcurl'.
// Every stack checks /health agrees, so a run meant for libcurl cannot quietly use the other.
export const TRANSPORT = process.env.SEEKD_TRANSPORT || null;
// A sanitized build: RSS and timing say little there (ASan quarantines freed memory).
export const SANITIZED = process.env.SEEKD_SANITIZED === '1';

// The fake's deterministic answers (tests/fake_upstream/plan.c).
export const TEXT_ANSWER = 'Hello! How can I help you today?';
export const TEXT_REASONING = 'The user greets me. I should answer politely.';
export const TEXT_JSON = '{"answer": 42, "ok": true}';
export const TEXT_TOOL_ARGS = '{"location": "Hangzhou"}';
export const TEXT_FIM = 'return a + b\n';
export const FINGERPRINT = 'fp_fake0820_prod0820_fp8_kvcache';
// Every stack's admin_token (made up): /health shows its details only to this bearer.
export const ADMIN_TOKEN = 'adm-e2e-7c1f0a9d2b4e6f8a';

// Every child process this harness started, killed on exit whatever happens.
const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

if (!SEEKD_BIN || !FAKE_BIN) {
  throw new Error('SEEKD_BIN and FAKE_BIN must be set (ctest sets them)');
}

export function tmpDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'seekd-e2e-'));
}

// The accounts database the tests use: a SQLite file, or with SEEKD_TEST_DB=pg (ctest's
// e2e.*-pg) a database on the PostgreSQL server tests/pg/pg_cluster.sh started for this file,
// whose URL (with a password) is SEEKD_TEST_PG_URL. DB_SKIP says why there is none.
export const DB_KIND = process.env.SEEKD_TEST_DB === 'pg' ? 'pg' : 'sqlite';
const PG_URL = process.env.SEEKD_TEST_PG_URL;
export const DB_SKIP = DB_KIND === 'pg' && !PG_URL
  ? 'no PostgreSQL (Debian postgresql; tests/pg/pg_cluster.sh starts one)' : false;
let dbSeq = 0;

// Runs SQL with psql on the PostgreSQL database at url; its output, unaligned.
export function pgSql(url, sql) {
  const psql = path.join(process.env.SEEKD_TEST_PG_BIN || '/usr/bin', 'psql');
  return execFileSync(psql, [url, '-qXAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
}

// The URL of database `name` on the test server.
export function pgUrlOf(name) {
  return PG_URL.replace(/\/postgres$/, `/${name}`);
}

// Removes a database freshDb made (the server goes at the end of the file anyway).
export function dropDb(db) {
  if (DB_KIND === 'sqlite') fs.rmSync(path.dirname(db), { recursive: true, force: true });
  else pgSql(PG_URL, `DROP DATABASE ${db.slice(db.lastIndexOf('/') + 1)} WITH (FORCE)`);
}

// A new, empty accounts database: a path, or a postgres URL.
export function freshDb(label = 'accounts') {
  if (DB_KIND === 'sqlite') return path.join(tmpDir(), `${label}.db`);
  const name = `seekd_e2e_${process.pid}_${++dbSeq}`;
  pgSql(PG_URL, `CREATE DATABASE ${name}`);
  return pgUrlOf(name);
}

async function waitPortFile(file, proc, what, timeoutMs = 5000) {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`${what} exited early (code ${proc.exitCode}): ${proc.stderrText()}`);
    }
    try {
      const s = fs.readFileSync(file, 'utf8');
      if (s.endsWith('\n')) {
        const port = Number.parseInt(s, 10);
        if (port > 0) return port;
      }
    } catch { /* not yet */ }
    await sleep(20);
  }
  throw new Error(`${what} did not write its port file in ${timeoutMs} ms: ${proc.stderrText()}`);
}

function spawnCaptured(bin, args, env) {
  const proc = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  proc.stdoutText = () => out;
  proc.stderrText = () => err;
  proc.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { children.delete(proc); resolve({ code, signal }); });
  });
  return proc;
}

async function stopProc(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const r = await withDeadline(proc.exited, 3000, null);
  if (!r) {
    proc.kill('SIGKILL');
    await proc.exited;
  }
}

// Runs a command to completion (bounded), returning {code, signal, stdout, stderr}. If a port
// file appears (the process started serving), resolves with started: true and stops it.
export async function runSeekd(args, { env = {}, timeoutMs = 5000, portFile = null } = {}) {
  const fullEnv = { ...process.env, ...env };
  if (!('DEEPSEEK_API_KEY' in env)) delete fullEnv.DEEPSEEK_API_KEY;
  const proc = spawnCaptured(SEEKD_BIN, args, fullEnv);
  const t0 = Date.now();
  let started = false;
  while (Date.now() - t0 < timeoutMs) {
    if (proc.exitCode !== null || proc.signalCode !== null) break;
    if (portFile) {
      try {
        const s = fs.readFileSync(portFile, 'utf8');
        if (s.endsWith('\n') && Number.parseInt(s, 10) > 0) { started = true; break; }
      } catch { /* not yet */ }
    }
    await sleep(20);
  }
  if (proc.exitCode === null && proc.signalCode === null) await stopProc(proc);
  const r = await proc.exited;
  return { ...r, started, stdout: proc.stdoutText(), stderr: proc.stderrText() };
}

/** Starts a fake upstream alone (for commands that are not a server, such as `seekd check`):
 * {url, stop()}. args: extra fake_upstream arguments. */
export async function startFake(args = []) {
  const dir = tmpDir();
  const portFile = path.join(dir, 'fake.port');
  const fake = spawnCaptured(FAKE_BIN, ['--listen', '127.0.0.1:0', '--port-file', portFile, '--quiet', ...args],
    { ...process.env });
  try {
    const port = await waitPortFile(portFile, fake, 'fake_upstream');
    return {
      url: `http://127.0.0.1:${port}`,
      stop: async () => { await stopProc(fake); fs.rmSync(dir, { recursive: true, force: true }); },
    };
  } catch (e) {
    await stopProc(fake);
    throw e;
  }
}

/**
 * Starts a fake upstream and seekd in front of it.
 * opts.config: text of a seekd config file (optional), or a function (fakeUrl) => text for
 *   configs that name the fake themselves (`[upstream NAME]` sections with `url = ...`); the
 *   file always starts with `admin_token = ADMIN_TOKEN`
 * opts.serverKey: DEEPSEEK_API_KEY for seekd (omitted: bring your own token)
 * opts.fakeArgs: extra fake_upstream arguments (e.g. ['--key-fault', 'sk-x=429'])
 * opts.logLevel: seekd --log-level (default debug)
 * opts.fileOnly: no --listen or --log-level flags (the config file's own settings apply)
 */
export async function startStack(opts = {}) {
  const dir = tmpDir();
  const fakePortFile = path.join(dir, 'fake.port');
  const seekdPortFile = path.join(dir, 'seekd.port');
  const fakeArgs = ['--listen', '127.0.0.1:0', '--port-file', fakePortFile];
  if (FIXTURES_OK) fakeArgs.push('--fixtures', FIXTURES_DIR);
  fakeArgs.push(...(opts.fakeArgs || []));
  const fake = spawnCaptured(FAKE_BIN, fakeArgs, { ...process.env });
  let seekd = null;
  try {
    const fakePort = await waitPortFile(fakePortFile, fake, 'fake_upstream');
    const fakeUrl = `http://127.0.0.1:${fakePort}`;
    // opts.fileOnly: listen and log_level come from the config file alone (flags would win)
    const args = opts.fileOnly ? ['serve', '--port-file', seekdPortFile, '--upstream', fakeUrl]
      : ['serve', '--listen', '127.0.0.1:0', '--port-file', seekdPortFile,
        '--upstream', fakeUrl, '--log-level', opts.logLevel || 'debug'];
    const cfgFile = path.join(dir, 'seekd.conf');
    const cfgText = typeof opts.config === 'function' ? opts.config(fakeUrl) : (opts.config || '');
    fs.writeFileSync(cfgFile, `admin_token = ${ADMIN_TOKEN}\n${cfgText}`);
    args.push('--config', cfgFile);
    args.push(...(opts.seekdArgs || []));
    const env = { ...process.env };
    delete env.DEEPSEEK_API_KEY;
    if (opts.serverKey) env.DEEPSEEK_API_KEY = opts.serverKey;
    // opts.fileLimitKB: seekd runs under `ulimit -f` (its files cannot grow past it, as on a
    // full disk)
    seekd = opts.fileLimitKB
      ? spawnCaptured('/bin/sh', ['-c', `ulimit -f ${opts.fileLimitKB} && exec "$0" "$@"`, SEEKD_BIN, ...args], env)
      : spawnCaptured(SEEKD_BIN, args, env);
    const port = await waitPortFile(seekdPortFile, seekd, 'seekd');
    const baseURL = `http://127.0.0.1:${port}`;
    const stack = new Stack({ dir, fake, seekd, fakeUrl, baseURL, port });
    if (TRANSPORT) await stack.assertTransport(TRANSPORT);
    return stack;
  } catch (e) {
    await stopProc(seekd);
    await stopProc(fake);
    throw e;
  }
}

class Stack {
  constructor(o) { Object.assign(this, o); }

  /** seekd's stderr so far. */
  logs() { return this.seekd.stderrText(); }

  /** Waits until seekd's stderr matches re (bounded); returns the match or null. */
  async waitLog(re, timeoutMs = 2000) {
    const t0 = Date.now();
    for (;;) {
      const m = this.logs().match(re);
      if (m) return m;
      if (Date.now() - t0 > timeoutMs) return null;
      await sleep(20);
    }
  }

  client(opts = {}) {
    return new OpenAI({
      baseURL: this.baseURL + (opts.path || ''),
      apiKey: opts.apiKey || 'sk-test-0123456789abcdef',
      maxRetries: 0,
      timeout: opts.timeout || 10000,
      ...(opts.extra || {}),
    });
  }

  async fakeStats() {
    const r = await fetch(this.fakeUrl + '/_fake/stats', { signal: AbortSignal.timeout(5000) });
    return r.json();
  }

  async fakeReset() {
    const r = await fetch(this.fakeUrl + '/_fake/reset', { method: 'POST', signal: AbortSignal.timeout(5000) });
    await r.text();
  }

  /** Sets (fault: '500', '429', 'slow_first_byte', ...) or clears (null) a key's fault in the
   * fake at runtime (POST /_fake/key-fault). */
  async setKeyFault(key, fault, delayMs = 0) {
    const r = await fetch(this.fakeUrl + '/_fake/key-fault', {
      method: 'POST',
      body: JSON.stringify({ key, fault, delay_ms: delayMs }),
      signal: AbortSignal.timeout(5000),
    });
    if (r.status !== 200) throw new Error(`/_fake/key-fault: ${r.status} ${await r.text()}`);
    return r.json();
  }

  /** Throws unless every upstream in /health is reached through `want`. */
  async assertTransport(want) {
    const h = await this.health();
    const got = (h.backends || []).flatMap((b) => (b.upstreams || []).map((u) => u.transport));
    if (got.length === 0 || got.some((t) => t !== want)) {
      throw new Error(`seekd should reach its upstreams through ${want}; /health says ${JSON.stringify(got)}`);
    }
  }

  /** GET /health with its details (upstreams, keys, states): the admin token's view. */
  async health() {
    const r = await fetch(this.baseURL + '/health', {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: AbortSignal.timeout(5000),
    });
    if (r.status !== 200) throw new Error(`/health: ${r.status}`);
    return r.json();
  }

  /** Raw fetch against seekd with a timeout. */
  fetch(p, init = {}) {
    const headers = { ...(init.headers || {}) };
    if (init.json !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    if (init.auth !== false && !headers.Authorization) {
      headers.Authorization = `Bearer ${init.auth || 'sk-test-0123456789abcdef'}`;
    }
    return fetch(this.baseURL + p, {
      method: init.method || (init.json !== undefined || init.body !== undefined ? 'POST' : 'GET'),
      headers,
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
      signal: init.signal || AbortSignal.timeout(init.timeoutMs || 10000),
    });
  }

  async stop() {
    await stopProc(this.seekd);
    await stopProc(this.fake);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Parses an SSE body into {events: [parsed JSON or '[DONE]' or {raw}], comments, lines}. */
export function parseSSE(text) {
  const events = [];
  const comments = [];
  for (const block of text.split(/\n\n/)) {
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line);
      else if (line.startsWith('data: ')) {
        const d = line.slice(6);
        if (d === '[DONE]') events.push('[DONE]');
        else {
          try { events.push(JSON.parse(d)); } catch { events.push({ raw: d }); }
        }
      }
    }
  }
  return { events, comments };
}

/** Reads a whole fetch Response body as text with a deadline. */
export function readAll(res, timeoutMs = 10000) {
  return withDeadline(res.text(), timeoutMs, new Error(`body not complete in ${timeoutMs} ms`));
}

/** Resolves like p, or after ms with onTimeout (rejects if it is an Error). No timer is left
 * behind to keep the process alive. */
export function withDeadline(p, ms, onTimeout) {
  let timer;
  const t = new Promise((resolve, reject) => {
    timer = setTimeout(() => (onTimeout instanceof Error ? reject(onTimeout) : resolve(onTimeout)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Collects an SDK stream into chunks (bounded). */
export async function collect(stream, timeoutMs = 10000) {
  const chunks = [];
  const run = (async () => { for await (const c of stream) chunks.push(c); })();
  let timer;
  const t = new Promise((_, rej) => { timer = setTimeout(() => { stream.controller?.abort(); rej(new Error(`stream not done in ${timeoutMs} ms`)); }, timeoutMs); });
  try { await Promise.race([run, t]); } finally { clearTimeout(timer); }
  return chunks;
}

/** Aggregates chat.completion.chunk objects the way a client would. */
export function aggregate(chunks) {
  const out = { content: '', reasoning: '', toolCalls: [], finish: null, usage: null, logprobs: [], reasoningLogprobs: [], roles: [], firstContentIdx: -1, lastReasoningIdx: -1, hasContent: false, hasReasoning: false };
  chunks.forEach((c, i) => {
    if (c.usage) out.usage = c.usage;
    for (const ch of c.choices || []) {
      const d = ch.delta || {};
      if (d.role) out.roles.push(d.role);
      if (typeof d.reasoning_content === 'string' && d.reasoning_content !== '') {
        out.reasoning += d.reasoning_content; out.hasReasoning = true; out.lastReasoningIdx = i;
      } else if (typeof d.reasoning_content === 'string') out.hasReasoning = true;
      if (typeof d.content === 'string' && d.content !== '') {
        out.content += d.content;
        if (out.firstContentIdx < 0) out.firstContentIdx = i;
      }
      if (typeof d.content === 'string') out.hasContent = true;
      for (const tc of d.tool_calls || []) {
        const slot = out.toolCalls[tc.index] || (out.toolCalls[tc.index] = { id: '', type: '', name: '', arguments: '' });
        if (tc.id) slot.id += tc.id;
        if (tc.type) slot.type = tc.type;
        if (tc.function?.name) slot.name += tc.function.name;
        if (tc.function?.arguments) slot.arguments += tc.function.arguments;
      }
      if (ch.logprobs?.content) out.logprobs.push(...ch.logprobs.content);
      if (ch.logprobs?.reasoning_content) out.reasoningLogprobs.push(...ch.logprobs.reasoning_content);
      if (ch.finish_reason) out.finish = ch.finish_reason;
    }
  });
  return out;
}

export function userMsg(text = 'hi') {
  return [{ role: 'user', content: text }];
}

/** Polls fn (sync or async) every `everyMs` until it returns a truthy value; returns that value,
 * or the last falsy one after timeoutMs. */
export async function waitFor(fn, timeoutMs = 2000, everyMs = 25) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v || Date.now() - t0 > timeoutMs) return v;
    await sleep(everyMs);
  }
}

/** The /health entry of one server key, found by its last 4 characters (keys are masked there),
 * with its upstream: {up, key} or null. */
/** How seekd names a key in logs and /health: the first 8 hex digits of its SHA-256. */
export function keyId(key) {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export function healthKey(health, upstreamName, key) {
  for (const b of health.backends || []) {
    for (const u of b.upstreams || []) {
      if (upstreamName && u.name !== upstreamName) continue;
      const k = (u.keys || []).find((x) => x.key_id === keyId(key));
      if (k) return { up: u, key: k };
    }
  }
  return null;
}
