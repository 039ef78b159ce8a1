// accounts-common.mjs - what the accounts' proof files share: prices with no off-peak discount
// (the hour is irrelevant), nano-unit arithmetic, and a metered stack with helpers for its keys
// and ledger.
import assert from 'node:assert/strict';
import { startStack, runSeekd, freshDb } from './harness.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const T = { timeout: 180000 };
export const MODEL = 'deepseek-chat';
// per 1M tokens (search and fetch: per 1,000 calls)
export const PRICE = { hit: 100000000n, miss: 1000000000n, output: 2000000000n, search: 750000000n, fetch: 500000000n };
// a short lease: a killed server's holds are released within seconds (the default is 30 s)
export const LEASE_MS = 3000;
export const CONFIG = `instance_lease_ms = ${LEASE_MS}\nhold_image_tokens = 100\n` +
  `price = ${MODEL} USD hit=0.1 miss=1 output=2 search=0.75 fetch=0.5 offpeak=none\n` +
  `price = ${MODEL} CNY hit=0.1 miss=1 output=2 offpeak=none\n`;
export const SERVER_KEY = 'sk-server-000000000002';
export const NO_BALANCE = '{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}';

export const nano = (s) => {
  const neg = s.startsWith('-');
  const [u, f = ''] = s.replace('-', '').split('.');
  const v = BigInt(u) * 1000000000n + BigInt((f + '000000000').slice(0, 9));
  return neg ? -v : v;
};
export const ceilDiv = (a, b) => (a + b - 1n) / b;
export const costOf = (u) => {
  const hit = BigInt(u.prompt_cache_hit_tokens ?? 0);
  const miss = BigInt(u.prompt_cache_miss_tokens ?? u.prompt_tokens);
  const tools = u.server_tool_use ?? {};
  return ceilDiv(hit * PRICE.hit, 1000000n) + ceilDiv(miss * PRICE.miss, 1000000n) +
    ceilDiv(BigInt(u.completion_tokens) * PRICE.output, 1000000n) +
    ceilDiv(BigInt(tools.web_search_requests ?? 0) * PRICE.search, 1000n) +
    ceilDiv(BigInt(tools.web_fetch_requests ?? 0) * PRICE.fetch, 1000n);
};

/** A fresh database and a metered seekd on it; `m.st` is the stack (tests may replace it). */
export function meteredStack(label) {
  const m = { st: null, db: null };
  m.keys = (args) => runSeekd(['keys', ...args, '--db', m.db]);
  m.show = async (who) => JSON.parse((await m.keys(['show', who, '--json'])).stdout);
  m.settled = async (who) => { // waits until nothing is held
    let k;
    for (let i = 0; i < 300; i++) {
      k = await m.show(who);
      if (k.held === '0.000000000') return k;
      await sleep(50);
    }
    return k;
  };
  m.ledger = async (who) => {
    const r = await runSeekd(['ledger', 'export', '--format', 'json', '--key', who, '--db', m.db]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  m.post = (key, body) => fetch(`${m.st.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  m.start = async () => {
    m.db = freshDb(label);
    m.st = await startStack({ serverKey: SERVER_KEY, config: CONFIG, seekdArgs: ['--db', m.db], logLevel: 'info' });
  };
  m.stop = async () => { await m.st?.stop(); };
  return m;
}
