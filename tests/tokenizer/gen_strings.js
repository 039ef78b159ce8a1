// gen_strings.js - deterministic test strings for the DeepSeek-V3 tokenizer comparison:
// English, Chinese, Japanese, code, emoji, numbers, whitespace runs, special-token
// look-alikes, long lines and mixed scripts. Same seed, same strings, on every machine.

export function rng(seed) {
  // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EN = ('the of and to in is was for that with as on by at from he she it they this have are ' +
  'not but had his her which one you were all we can there been has more their if would will ' +
  'what when up out who so about into than them some could time only new like other these ' +
  "tokenizer DeepSeek model server stream throughput latency don't I'm we're you've they'll " +
  "it's She'd O'Neil rock'n'roll naïve café résumé coöperate Zürich façade").split(' ');
const ZH = ('我们 你好 世界 人工智能 模型 训练 数据 语言 中国 北京 上海 今天 天气 非常 好 的 了 是 在 不 ' +
  '有 这 个 上 们 来 到 时 大 地 为 子 中 你 说 生 国 年 着 就 那 和 要 她 出 也 得 里 后 自以 会 ' +
  '家 可 下 而 过 天 去 能 对 小 多 然 于 心 学 么 之 都 好 看 起 发 当 没 成 只 如 事 把 还 用 第 样 ' +
  '道 想 作 种 开 美 总 从 无 情 己 面 最 女 但 现 前 些 所 同 日 手 又 行 意 动 龘 齉 㐀 𠀀').split(' ');
const JA = ('こんにちは ありがとう ございます 東京 日本語 カタカナ ひらがな トークナイザー テスト ' +
  'です ます した ない する いる ある なる こと もの ため よう ゴジラ ラーメン 寿司 漢字 ー ゛ ゜ ヽ ゝ')
  .split(' ');
const CODE = [
  'def f(x):\n    return x * 2\n', 'for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}',
  'const x = await fetch(`/api/${id}`);', '#include <stdio.h>\nint main(void) { return 0; }',
  'if (a && b || !c) { x->y = *p++; }', 'SELECT * FROM users WHERE id = 42;',
  '<div class="a">Hello</div>', '    def __init__(self, *args, **kwargs):',
  'fn main() -> Result<(), Box<dyn Error>> { Ok(()) }', '$ echo "$HOME" | grep -v ^#',
  'x = [i**2 for i in range(10) if i % 2 == 0]', '{"key": [1, 2.5, -3e10, null, true]}',
  '// comment\n/* block */\n', 'a+=1;b-=2;c*=3;d/=4;e%=5;f<<=1;g>>=2;', '#!/usr/bin/env python3',
  'printf("%d\\n", x);', 'std::vector<std::string> v{"a","b"};', '@decorator\nclass A(B): pass',
];
const EMOJI = ['😀', '😂', '👍', '🏽', '👍🏽', '👨‍👩‍👧‍👦', '🇨🇳', '🇺🇸', '❤️', '✅', '🚀', '🦙', '🐋',
  '☕', '⭐', '🙏🏻', '🧑‍💻', '🏳️‍🌈', '1️⃣', '©', '™', '∑', '≈', '∞'];
const SPECIAL = ['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜User｜>', '<｜Assistant｜>',
  '<｜tool▁calls▁begin｜>', '<｜tool▁call▁begin｜>', '<｜tool▁sep｜>', '<｜tool▁call▁end｜>',
  '<｜fim▁hole｜>', '<｜fim▁begin｜>', '<｜fim▁end｜>', '<|EOT|>', '<｜▁pad▁｜>', '<think>', '</think>',
  '<｜place▁holder▁no▁7｜>'];
const LOOKALIKE = ['<｜User|>', '<|User|>', '<｜User｜', '｜User｜>', '<｜user｜>', '<｜ User｜>',
  '<｜tool▁sep', '<｜tool_sep｜>', '<|begin_of_sentence|>', '<｜begin▁of▁sentence｜', '<<｜User｜>>',
  '<｜fim▁hole｜｜>', '<|EOT|', '<|eot|>', '▁▁', '｜', '<｜>', '<｜｜>', '<s>', '</s>', '<unk>',
  '<|endoftext|>', '<|im_start|>'];
const SPACES = [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n ', '\u00a0', '\u3000', '\u2009',
  '\u200b', '\u2028', '\f', '\v', '        ', '\t\t\t', ' \t \t', '\n   \n'];
const MISC = ['Привет мир', 'Γειά σου κόσμε', 'مرحبا بالعالم', 'नमस्ते दुनिया', 'สวัสดีชาวโลก',
  '안녕하세요 세계', 'Xin chào thế giới', 'e\u0301', 'n\u0303', 'ﬁ', 'Å', 'Ⅻ', '½', '²', '٣', '߀',
  'µ', 'ǅ', 'ß', 'İ', 'ı', '\u0000', '\u0007', '\u001b[0m', '\ud83d\ude00', 'a\u0300\u0301\u0302'];

function pick(r, arr) { return arr[Math.floor(r() * arr.length)]; }
function int(r, lo, hi) { return lo + Math.floor(r() * (hi - lo + 1)); }

function number(r) {
  switch (int(r, 0, 5)) {
    case 0: return String(int(r, 0, 9));
    case 1: return String(int(r, 0, 99999999));
    case 2: return (r() * 10000).toFixed(int(r, 1, 6));
    case 3: return String(int(r, 1, 999)) + ',' + String(int(r, 100, 999)) + ',' + String(int(r, 100, 999));
    case 4: return '1' + '0'.repeat(int(r, 1, 30));
    default: return '-' + String(int(r, 1, 99999)) + 'e' + String(int(r, 1, 30));
  }
}

function piece(r, kind) {
  switch (kind) {
    case 'en': return pick(r, EN);
    case 'zh': return pick(r, ZH);
    case 'ja': return pick(r, JA);
    case 'code': return pick(r, CODE);
    case 'emoji': return pick(r, EMOJI);
    case 'num': return number(r);
    case 'ws': return pick(r, SPACES);
    case 'special': return r() < 0.5 ? pick(r, SPECIAL) : pick(r, LOOKALIKE);
    case 'misc': return pick(r, MISC);
    default: return String.fromCharCode(int(r, 33, 126));
  }
}

const KINDS = ['en', 'zh', 'ja', 'code', 'emoji', 'num', 'ws', 'special', 'misc', 'ascii'];

function sentence(r, kinds, n) {
  let s = '';
  for (let i = 0; i < n; i++) {
    const k = pick(r, kinds);
    const p = piece(r, k);
    const sep = k === 'en' || k === 'num' ? (r() < 0.8 ? ' ' : pick(r, ['', ', ', '. ', '\n', '-', '_', '/'])) : (r() < 0.3 ? ' ' : '');
    s += p + sep;
  }
  if (r() < 0.3) s = s.trimEnd();
  return s;
}

// count strings, deterministic for a seed.
export function generate(count = 5200, seed = 20250101) {
  const r = rng(seed);
  const out = [];
  const groups = [['en'], ['zh'], ['ja'], ['code'], ['emoji', 'en'], ['num', 'en'], ['ws', 'en'],
    ['special', 'en', 'zh'], ['misc'], KINDS, ['zh', 'ja', 'num', 'ws'], ['code', 'ws', 'num']];
  for (let i = 0; i < count; i++) {
    const g = groups[i % groups.length];
    let s;
    if (i % 97 === 0) {
      s = sentence(r, g, int(r, 400, 2500)); // long lines
    } else if (i % 53 === 0) {
      s = pick(r, SPACES).repeat(int(r, 10, 300)) + sentence(r, g, 3) + ' '.repeat(int(r, 0, 50));
    } else if (i % 41 === 0) {
      s = pick(r, ZH).repeat(int(r, 20, 200)); // long CJK runs
    } else {
      s = sentence(r, g, int(r, 1, 40));
    }
    out.push(s);
  }
  // fixed edge cases
  out.push('', ' ', '\n', 'a', '1234567890', '<｜User｜><｜Assistant｜>', '   leading', 'trailing   ',
    '<｜User｜>hi<｜Assistant｜>hello<｜end▁of▁sentence｜>', '😀'.repeat(100), '9'.repeat(1000));
  return out;
}
