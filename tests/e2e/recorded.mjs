// recorded.mjs - what a recorded DeepSeek answer in ../shared/fixtures/deepseek says, computed
// from the files themselves, so client tests can compare what an SDK exposes with what DeepSeek
// sent: the concatenated reasoning and content deltas of <name>.chunks.txt, its tool calls
// assembled from their fragments, its finish reason and usage; and <name>.json parsed.
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES_DIR, FIXTURES_OK } from './harness.mjs';

export const SKIP_NO_FIXTURES = FIXTURES_OK ? false : `no recorded DeepSeek fixtures (${FIXTURES_DIR || 'FIXTURES_DIR unset'})`;

/** The streamed recording <name>.chunks.txt, folded as a client folds it. */
export function recordedStream(name) {
  const text = fs.readFileSync(path.join(FIXTURES_DIR, `${name}.chunks.txt`), 'utf8');
  const out = { reasoning: '', content: '', reasoningDeltas: 0, contentDeltas: 0, toolCalls: [], finish: null, usage: null, id: null };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const c = JSON.parse(line);
    out.id ??= c.id;
    if (c.usage) out.usage = c.usage;
    for (const ch of c.choices || []) {
      const d = ch.delta || {};
      if (typeof d.reasoning_content === 'string' && d.reasoning_content !== '') {
        out.reasoning += d.reasoning_content;
        out.reasoningDeltas++;
      }
      if (typeof d.content === 'string' && d.content !== '') {
        out.content += d.content;
        out.contentDeltas++;
      }
      for (const tc of d.tool_calls || []) {
        const slot = out.toolCalls[tc.index] || (out.toolCalls[tc.index] = { id: '', name: '', arguments: '', fragments: 0 });
        if (tc.id) slot.id += tc.id;
        if (tc.function?.name) slot.name += tc.function.name;
        if (tc.function?.arguments) { slot.arguments += tc.function.arguments; slot.fragments++; }
      }
      if (ch.finish_reason) out.finish = ch.finish_reason;
    }
  }
  return out;
}

/** The whole recorded answer <name>.json, parsed. */
export function recordedWhole(name) {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES_DIR, `${name}.json`), 'utf8'));
}
