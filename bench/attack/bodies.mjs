// bodies.mjs - 200 connections each announce an 8 MB - 1 body (with or without Authorization)
// and send it; prints seekd's RSS before and at its peak. usage: node bodies.mjs PORT SEEKD_PID [auth]
import net from 'node:net';
import fs from 'node:fs';
const [port, pid, withAuth] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] === 'auth'];
const rss = () => Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
const r0 = rss();
const N = 200, LEN = 8 * 1024 * 1024 - 1;
const chunk = Buffer.alloc(1 << 20, 'a');
let peak = r0, refused = 0;
const socks = [];
await Promise.all([...Array(N).keys()].map((i) => new Promise((resolve) => {
  const s = net.connect(port, '127.0.0.1', () => {
    s.write(`POST /chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n${withAuth ? 'Authorization: Bearer sk-x\r\n' : ''}Content-Length: ${LEN}\r\n\r\n`);
    let sent = 0;
    const pump = () => { while (sent < LEN - (1 << 20)) { sent += chunk.length; if (!s.write(chunk)) { s.once('drain', pump); return; } } resolve(); };
    pump();
  });
  s.on('data', () => { refused++; });
  s.on('error', () => resolve());
  s.on('close', () => resolve());
  socks.push(s);
})));
const t0 = Date.now();
while (Date.now() - t0 < 3000) { peak = Math.max(peak, rss()); await new Promise((r) => setTimeout(r, 50)); }
console.log(`${withAuth ? 'with' : 'without'} auth: RSS ${r0} KiB -> peak ${peak} KiB (+${((peak - r0) / 1024).toFixed(1)} MiB); ${refused} answers`);
for (const s of socks) s.destroy();
process.exit(0);
