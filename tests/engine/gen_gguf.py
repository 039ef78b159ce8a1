#!/usr/bin/python3
"""gen_gguf.py - writes random-weight `llama` or `qwen2` GGUF models for tests and benches.

  gen_gguf.py --arch llama|qwen2 --type f32|f16|bf16|q8_0|q4_0|q4_k|q6_k --out FILE
              [--shape tiny|qwen05b|qwen15b] [--seed N] [--fast] [--vocab]

micro, micro256: one-layer seeds for fuzz/fuzz_model.c. tiny: 2 layers, dim 256, ffn 512, 8 heads (llama: 4 kv heads, tied output; qwen2: 2 kv heads,
biases, separate output), vocabulary 300, context 128: small enough for the numpy reference.
qwen05b / qwen15b: Qwen2-0.5B / 1.5B shapes for speed (0.5B's rows of 896 are not a whole
number of 256-blocks: there q4_k falls back to q4_0 and q6_k to q8_0, as llama.cpp falls back). --fast writes random quantised blocks
directly (no float weights, no quantisation pass): right sizes and sane magnitudes, for benches.
Needs Debian's python3-numpy (run with /usr/bin/python3)."""
import argparse
import sys

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
import gguf_np as G  # noqa: E402

SHAPES = {
    # dim, layers, heads, kv heads, ffn, vocab, ctx
    "tiny": (256, 2, 8, None, 512, 300, 128),
    # fuzzing seeds: as small as the block formats allow
    "micro": (32, 1, 4, 2, 64, 16, 16),
    "micro256": (256, 1, 4, 2, 256, 8, 16),
    "qwen05b": (896, 24, 14, 2, 4864, 102400, 4096),
    "qwen15b": (1536, 28, 12, 2, 8960, 102400, 4096),
}


def fast_blocks(rng, ty, rows, n):
    """Random but well-formed blocks of type ty with values around +-0.02."""
    bs, bb = G.BLOCK[ty]
    nb = rows * n // bs
    raw = rng.integers(0, 256, size=(nb, bb), dtype=np.uint8)
    if ty == G.Q8_0:
        raw[:, :2] = np.full(nb, 0.0002, np.float16).view(np.uint8).reshape(-1, 2)
    elif ty == G.Q4_0:
        raw[:, :2] = np.full(nb, 0.004, np.float16).view(np.uint8).reshape(-1, 2)
    elif ty == G.Q4_K:
        raw[:, 0:2] = np.full(nb, 0.0001, np.float16).view(np.uint8).reshape(-1, 2)
        raw[:, 2:4] = np.full(nb, 0.0002, np.float16).view(np.uint8).reshape(-1, 2)
    elif ty == G.Q6_K:
        raw[:, 208:210] = np.full(nb, 0.00002, np.float16).view(np.uint8).reshape(-1, 2)
    else:
        return G.quantize(rng.standard_normal((rows, n), dtype=np.float32) * 0.02, ty)
    return raw.tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["llama", "qwen2"], required=True)
    ap.add_argument("--type", choices=sorted(G.TYPE_NAMES), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--vocab", action="store_true", help="add a placeholder vocabulary")
    ap.add_argument("--rope-scaling", action="store_true",
                    help="linear RoPE scaling (factor 4) and per-dimension frequency factors")
    a = ap.parse_args()
    ty = G.TYPE_NAMES[a.type]
    dim, L, nh, nkv, ffn, vocab, ctx = SHAPES[a.shape]
    if nkv is None:
        nkv = 4 if a.arch == "llama" else 2
    hd = dim // nh
    rng = np.random.default_rng(a.seed)
    qwen = a.arch == "qwen2"
    w = G.Writer()
    arch = a.arch
    w.add("general.architecture", G.STR, arch)
    w.add("general.name", G.STR, "random-%s-%s-%s" % (arch, a.shape, a.type))
    if a.vocab:
        # a SentencePiece-style vocabulary of placeholder pieces: llama.cpp needs one to load a
        # model at all; both engines are then driven by ids
        nbytes = 256 if vocab >= 259 + 1 else 0  # byte pieces only where they fit
        toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(nbytes)]
        toks += ["\u2581t%d" % i for i in range(vocab - len(toks))]
        w.add("tokenizer.ggml.model", G.STR, "llama")
        w.add("tokenizer.ggml.tokens", G.ARR, toks, G.STR)
        w.add("tokenizer.ggml.scores", G.ARR, [-float(i) for i in range(vocab)], G.F32V)
        w.add("tokenizer.ggml.token_type", G.ARR,
              [2, 3, 3] + [6] * nbytes + [1] * (vocab - 3 - nbytes), G.I32)
        w.add("tokenizer.ggml.bos_token_id", G.U32, 1)
        w.add("tokenizer.ggml.eos_token_id", G.U32, 2)
    w.add(arch + ".context_length", G.U32, ctx)
    w.add(arch + ".embedding_length", G.U32, dim)
    w.add(arch + ".block_count", G.U32, L)
    w.add(arch + ".feed_forward_length", G.U32, ffn)
    w.add(arch + ".attention.head_count", G.U32, nh)
    w.add(arch + ".attention.head_count_kv", G.U32, nkv)
    w.add(arch + ".attention.layer_norm_rms_epsilon", G.F32V, 1e-6 if qwen else 1e-5)
    w.add(arch + ".rope.freq_base", G.F32V, 1000000.0 if qwen else 10000.0)
    if a.rope_scaling:
        w.add(arch + ".rope.scaling.type", G.STR, "linear")
        w.add(arch + ".rope.scaling.factor", G.F32V, 4.0)

    def mat(name, rows, n, scale):
        t = ty
        bs = G.BLOCK[t][0]
        if n % bs:  # as llama.cpp's quantizer does, a row that does not fit the K blocks
            t = G.Q4_0 if t == G.Q4_K else G.Q8_0
        if a.fast:
            data = fast_blocks(rng, t, rows, n)
        else:
            x = rng.standard_normal((rows, n), dtype=np.float32) * scale
            data = G.quantize(x, t)
        w.tensor(name, t, (n, rows), data)

    def vec(name, n, mean, scale):
        x = (mean + rng.standard_normal(n) * scale).astype(np.float32)
        w.tensor(name, G.F32, (n,), x.tobytes())

    mat("token_embd.weight", vocab, dim, 0.1)
    if a.rope_scaling:  # Llama 3's per-dimension divisors, here between 1 and 8
        w.tensor("rope_freqs.weight", G.F32, (hd // 2,),
                 np.linspace(1, 8, hd // 2).astype(np.float32).tobytes())
    for l in range(L):
        p = "blk.%d." % l
        vec(p + "attn_norm.weight", dim, 1.0, 0.1)
        mat(p + "attn_q.weight", nh * hd, dim, 0.08)
        mat(p + "attn_k.weight", nkv * hd, dim, 0.08)
        mat(p + "attn_v.weight", nkv * hd, dim, 0.08)
        if qwen:
            vec(p + "attn_q.bias", nh * hd, 0.0, 0.2)
            vec(p + "attn_k.bias", nkv * hd, 0.0, 0.2)
            vec(p + "attn_v.bias", nkv * hd, 0.0, 0.2)
        mat(p + "attn_output.weight", dim, nh * hd, 0.06)
        vec(p + "ffn_norm.weight", dim, 1.0, 0.1)
        mat(p + "ffn_gate.weight", ffn, dim, 0.06)
        mat(p + "ffn_up.weight", ffn, dim, 0.06)
        mat(p + "ffn_down.weight", dim, ffn, 0.05)
    vec("output_norm.weight", dim, 1.0, 0.1)
    if qwen:
        mat("output.weight", vocab, dim, 0.1)
    w.write(a.out)


if __name__ == "__main__":
    main()
