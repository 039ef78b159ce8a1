// redis.mjs - a real redis-server for a test file: on a free loopback port, without persistence,
// as the current user. The test can pause it (SIGSTOP: connections stay open, nothing answers),
// kill it, start it again on the same port, and stop it; every one still running is killed when
// the process exits. startRedis() gives null when redis-server is not installed.
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const running = new Set();
process.on('exit', () => {
  for (const p of running) {
    try { p.kill('SIGKILL'); } catch { /* gone */ }
  }
});

/** The path of redis-server, or null. */
export function redisServerPath() {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Sends one command (RESP array of bulk strings) on a fresh connection; resolves with the raw
 * reply text, or null when nothing came within timeoutMs. */
export function redisCommand(port, args, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    const done = (v) => { clearTimeout(t); sock.destroy(); resolve(v); };
    const t = setTimeout(() => done(null), timeoutMs);
    sock.on('error', () => done(null));
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      data += d;
      if (data.endsWith('\r\n')) done(data);
    });
    sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`);
  });
}

class RedisServer {
  constructor(bin) { this.bin = bin; this.proc = null; this.port = 0; this.log = ''; }

  get url() { return `redis://127.0.0.1:${this.port}`; }

  /** Starts it on a free port (on its old one with samePort) and waits for PONG. */
  async start({ samePort = false } = {}) {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!samePort || !this.port) this.port = await freePort();
      const proc = spawn(this.bin, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '',
        '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
      running.add(proc);
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (d) => { this.log += d; });
      proc.exited = new Promise((resolve) => proc.on('exit', () => { running.delete(proc); resolve(); }));
      this.proc = proc;
      const t0 = Date.now();
      while (Date.now() - t0 < 5000 && proc.exitCode === null) {
        if ((await redisCommand(this.port, ['PING'], 200)) === '+PONG\r\n') return this;
        await sleep(20);
      }
      await this.kill();
    }
    throw new Error(`redis-server did not start: ${this.log.slice(-500)}`);
  }

  /** After kill(): the same port again, so that seekd finds it where it was. */
  restart() { return this.start({ samePort: true }); }

  pause() { this.proc.kill('SIGSTOP'); }
  resume() { this.proc.kill('SIGCONT'); }

  async kill() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.proc.exited;
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGCONT');
    this.proc.kill('SIGTERM');
    const r = await Promise.race([this.proc.exited.then(() => true), sleep(3000).then(() => false)]);
    if (!r) await this.kill();
  }
}

/** A started redis-server, or null (with no process) when none is installed. */
export async function startRedis() {
  const bin = redisServerPath();
  if (!bin) return null;
  return new RedisServer(bin).start();
}
