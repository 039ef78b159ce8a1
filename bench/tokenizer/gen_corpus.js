// gen_corpus.js - a deterministic mixed corpus for the tokenizer bench: English prose, Chinese,
// and code, in paragraphs. usage: node gen_corpus.js OUT [megabytes=12]
import { writeFileSync } from 'node:fs';
import { rng } from '../../tests/tokenizer/gen_strings.js';

const out = process.argv[2];
const mb = Number(process.argv[3] || 12);
if (!out) {
  console.error('usage: node gen_corpus.js OUT [megabytes]');
  process.exit(2);
}
const r = rng(1234567);
const pick = (a) => a[Math.floor(r() * a.length)];
const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));

const EN = ('the of and to in a is that for it as was with be by on not he this are or his from at ' +
  'which but have an they you were her she there been one all we their has would when if so no ' +
  'will more about up out who them what some could time into only like other than then these ' +
  'may any new very after most also made over did such our years where much before through ' +
  'between under model server request response latency throughput memory language history ' +
  'government university experience development information community important different ' +
  'children morning evening garden river mountain village journey question answer because ' +
  "don't can't it's we're they've I'll she'd").split(' ');
const ZH = ('的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能' +
  '对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又' +
  '定见只主没公从知现实己问机理高意动全力头第开样问题人工智能模型训练数据语言计算服务器吞吐延迟内存' +
  '历史政府大学经验发展信息社区重要不同孩子早晨晚上花园河流山村旅程回答因为').split('');
const ZH_PUNCT = ['，', '。', '、', '；', '：', '！', '？', '“', '”', '（', '）'];
const IDENT = ['x', 'y', 'i', 'n', 'buf', 'len', 'count', 'result', 'data', 'node', 'next', 'value',
  'key', 'tokens', 'offset', 'request', 'handler', 'config', 'items', 'index', 'ctx', 'err'];
const TYPES = ['int', 'size_t', 'char *', 'const char *', 'uint32_t', 'double', 'bool'];

function english() {
  let p = '';
  const n = int(3, 9);
  for (let s = 0; s < n; s++) {
    const w = int(6, 24);
    let sent = '';
    for (let i = 0; i < w; i++) {
      let word = pick(EN);
      if (i === 0) word = word[0].toUpperCase() + word.slice(1);
      sent += (i ? ' ' : '') + word;
      if (i < w - 1 && r() < 0.06) sent += ',';
      if (r() < 0.02) sent += ' ' + String(int(1, 2025));
    }
    p += sent + pick(['.', '.', '.', '?', '!']) + ' ';
  }
  return p.trimEnd() + '\n\n';
}

function chinese() {
  let p = '';
  const n = int(3, 8);
  for (let s = 0; s < n; s++) {
    const w = int(8, 40);
    for (let i = 0; i < w; i++) {
      p += pick(ZH);
      if (r() < 0.08) p += pick(ZH_PUNCT);
      if (r() < 0.01) p += String(int(1, 9999));
    }
    p += '。';
  }
  return p + '\n\n';
}

function code() {
  let s = '';
  const f = pick(IDENT) + '_' + pick(IDENT);
  if (r() < 0.5) {
    s += `static ${pick(TYPES)} ${f}(${pick(TYPES)} ${pick(IDENT)}, ${pick(TYPES)} ${pick(IDENT)})\n{\n`;
    const n = int(3, 12);
    for (let i = 0; i < n; i++) {
      const a = pick(IDENT), b = pick(IDENT);
      s += pick([
        `    for (size_t ${a} = 0; ${a} < ${b}; ${a}++)\n        ${pick(IDENT)} += ${a} * ${int(1, 64)};\n`,
        `    if (${a} == NULL || ${b} > ${int(0, 4096)})\n        return -${int(1, 30)};\n`,
        `    ${a} = ${b}->${pick(IDENT)}[${int(0, 15)}];\n`,
        `    /* ${pick(EN)} ${pick(EN)} ${pick(EN)} */\n`,
        `    printf("%s: %d\\n", "${a}", ${b});\n`,
      ]);
    }
    s += '    return 0;\n}\n\n';
  } else {
    s += `def ${f}(${pick(IDENT)}, ${pick(IDENT)}=None):\n    """${pick(EN)} ${pick(EN)} ${pick(EN)}."""\n`;
    const n = int(3, 12);
    for (let i = 0; i < n; i++) {
      const a = pick(IDENT), b = pick(IDENT);
      s += pick([
        `    for ${a} in range(${int(1, 100)}):\n        ${b}.append(${a} ** 2)\n`,
        `    if ${a} is None or ${b} > ${int(0, 4096)}:\n        raise ValueError("${pick(EN)} ${pick(EN)}")\n`,
        `    ${a} = {k: v for k, v in ${b}.items() if v}\n`,
        `    # ${pick(EN)} ${pick(EN)} ${pick(EN)}\n`,
        `    return [${a}[i] for i in range(len(${b}))]\n`,
      ]);
    }
    s += '\n\n';
  }
  return s;
}

const target = mb * 1024 * 1024;
const parts = [];
let size = 0;
while (size < target) {
  const x = r();
  const p = x < 0.4 ? english() : x < 0.7 ? chinese() : code();
  parts.push(p);
  size += Buffer.byteLength(p);
}
writeFileSync(out, parts.join(''));
console.log(`${out}: ${size} bytes`);
