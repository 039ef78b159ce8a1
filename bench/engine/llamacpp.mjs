// llamacpp.mjs - llama.cpp (through the npm package node-llama-cpp, prebuilt, CPU only) on the
// same GGUF and the same token ids as seekd: prints one JSON line with prompt and decode tokens/s
// and the greedy ids. usage: node llamacpp.mjs MODEL.gguf THREADS N_GEN ID ID ...
// node-llama-cpp is installed apart from the project (bench/engine/README.md), found through
// NODE_PATH-like LLAMACPP_DIR.
import { createRequire } from "node:module";
import path from "node:path";

const [model, threads, nGen, ...ids] = process.argv.slice(2);
const dir = process.env.LLAMACPP_DIR;
const require = createRequire(path.join(dir, "package.json"));
const { getLlama } = await import(require.resolve("node-llama-cpp"));

const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const m = await llama.loadModel({ modelPath: model, gpuLayers: 0, useMmap: true });
const prompt = ids.map(Number);
const ctx = await m.createContext({
  contextSize: prompt.length + Number(nGen) + 16,
  threads: Number(threads),
  batchSize: 512,
});
const seq = ctx.getSequence();
const t0 = performance.now();
let t1 = 0;
const out = [];
for await (const tok of seq.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
  if (!t1) t1 = performance.now();
  out.push(tok);
  if (out.length >= Number(nGen)) break;
}
const t2 = performance.now();
console.log(JSON.stringify({
  prompt_tps: prompt.length / ((t1 - t0) / 1000),
  decode_tps: (out.length - 1) / ((t2 - t1) / 1000),
  ids: out,
}));
await ctx.dispose();
await m.dispose();
