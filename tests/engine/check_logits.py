#!/usr/bin/python3
"""check_logits.py - seekd's logits against the numpy reference forward pass.

  check_logits.py SEEKD WORKDIR ARCH TYPE BOUND [--emulate] [--rope-scaling]

Writes a random tiny ARCH model of TYPE with gen_gguf.py, runs `seekd generate` on a fixed
9-token prompt in batches of 4 (so prefill takes three passes) and 6 greedy steps, with
--dump-logits, once for each ISA this CPU has (SEEKD_ISA). The reference (gguf_np.forward)
reads the same file, dequantises it with its own numpy code and computes the logits of the
prompt plus the generated tokens in float64. Fails when the max abs difference over every
position is above BOUND. With --emulate (quantised types) a second reference quantises each
matmul's input to int8 blocks as seekd does (gguf_np.quant_act), which leaves only float
rounding; it is printed, not asserted: float32 (seekd) and float64 (numpy) activations now and
then round to different int8 codes at a .5 boundary, and one such flip moves that position's
logits, and through attention the later ones', by up to ~0.15. Without a flip they agree within
1e-5. Exit 77 (skip) when numpy is missing."""
import os
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy missing (apt-get install python3-numpy; run with /usr/bin/python3)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_np as G  # noqa: E402

PROMPT = [1, 17, 250, 3, 99, 42, 42, 7, 299]
STEPS = 6


def main():
    seekd, work, arch, ty, bound = sys.argv[1:6]
    bound = float(bound)
    emulate = "--emulate" in sys.argv[6:]
    extra = ["--rope-scaling"] if "--rope-scaling" in sys.argv[6:] else []
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "%s-%s%s.gguf" % (arch, ty, "-rs" if extra else ""))
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(here, "gen_gguf.py"), "--arch", arch, "--type",
                    ty, "--out", path, "--seed", "7"] + extra, check=True)
    meta, tensors = G.read(path)
    vocab = tensors["token_embd.weight"].shape[0]
    worst_all = 0.0
    ran = 0
    for isa in ("scalar", "avx2", "avx512"):
        dump = path + "-%s.logits" % isa
        env = dict(os.environ, SEEKD_ISA=isa)
        r = subprocess.run([seekd, "generate", "--model", path, "--prompt-ids",
                            " ".join(map(str, PROMPT)), "-n", str(STEPS), "--temp", "0", "--ids",
                            "--batch", "4", "--threads", "2", "--dump-logits", dump],
                           env=env, capture_output=True, text=True)
        if r.returncode != 0 and "cannot run it" in r.stderr:
            print("%s: not supported here, not run" % isa)
            continue
        if r.returncode != 0:
            print(r.stderr)
            sys.exit(1)
        gen = [int(v) for v in r.stdout.split()]
        assert len(gen) == STEPS, r.stdout
        got = np.fromfile(dump, dtype=np.float32).reshape(-1, vocab)
        ids = PROMPT + gen[:-1]
        assert got.shape[0] == len(ids), (got.shape, len(ids))
        ref = G.forward(meta, tensors, np.array(ids))
        diff = np.abs(got - ref).max()
        if emulate:
            emu = np.abs(got - G.forward(meta, tensors, np.array(ids), emulate_act=True))
            close = int((emu.max(axis=1) <= 1e-4).sum())
            print("%s %s %s: with int8 activations emulated, %d of %d positions within 1e-4 "
                  "(max diff %.3g)" % (arch, ty, isa, close, len(ids), emu.max()))
        # greedy choices follow from seekd's own logits: argmax ties to the lowest id
        for i, g in enumerate(gen):
            assert g == int(np.argmax(got[len(PROMPT) - 1 + i])), (i, g)
        print("%s %s %s: max |seekd - reference| = %.3g over %d positions x %d (logits up "
              "to %.3g), bound %.3g" % (arch, ty, isa, diff, len(ids), vocab,
                                        np.abs(ref).max(), bound))
        worst_all = max(worst_all, diff)
        ran += 1
        if not diff <= bound:
            sys.exit(1)
    assert ran > 0


if __name__ == "__main__":
    main()
