#!/usr/bin/python3
"""bench.py - seekd's engine against llama.cpp on synthetic Qwen2-shaped GGUFs (run.sh drives it).

For each shape and type: prompt and decode tokens/s of `seekd generate` and of llama.cpp
(node-llama-cpp, when LLAMACPP_DIR holds an install), RUNS times each, interleaved, medians;
the roofline (weight bytes a decode step reads / read bandwidth measured now with membw); and
for how many tokens the two greedy decodings agree. Prints a markdown table."""
import json
import os
import random
import re
import statistics
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
seekd = os.environ["SEEKD"]
work = os.environ["WORK"]
membw = os.environ["MEMBW"]
lcpp = os.environ.get("LLAMACPP_DIR", "")
runs = int(os.environ.get("RUNS", "3"))
threads = os.environ.get("THREADS", "2")
n_prompt = int(os.environ.get("PROMPT", "128"))
n_gen = int(os.environ.get("NGEN", "64"))
shapes = os.environ.get("SHAPES", "qwen05b qwen15b").split()
types = os.environ.get("TYPES", "q8_0 q4_k").split()

random.seed(1)
ids = [random.randrange(300, 100000) for _ in range(n_prompt)]


def model(shape, ty):
    path = os.path.join(work, "%s-%s.gguf" % (shape, ty))
    if not os.path.exists(path):
        subprocess.run(["/usr/bin/python3", os.path.join(root, "tests/engine/gen_gguf.py"),
                        "--arch", "qwen2", "--type", ty, "--shape", shape, "--fast", "--vocab",
                        "--out", path], check=True)
    return path


def run_seekd(path):
    r = subprocess.run([seekd, "generate", "--model", path, "--prompt-ids", " ".join(map(str, ids)),
                        "-n", str(n_gen), "--temp", "0", "--ids", "--ignore-eos", "--threads",
                        threads], capture_output=True, text=True, check=True)
    m = re.search(r"\(([\d.]+) tokens/s\).* at ([\d.]+) tokens/s; ([\d.]+) MB", r.stderr)
    return float(m.group(1)), float(m.group(2)), float(m.group(3)), r.stdout.split()


def run_lcpp(path):
    r = subprocess.run(["node", os.path.join(here, "llamacpp.mjs"), path, threads, str(n_gen)] +
                       [str(i) for i in ids], capture_output=True, text=True,
                       env=dict(os.environ, LLAMACPP_DIR=lcpp))
    line = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode or not line:
        sys.stderr.write(r.stderr[-2000:])
        return None
    j = json.loads(line[-1])
    return j["prompt_tps"], j["decode_tps"], [str(i) for i in j["ids"]]


def agree(a, b):
    n = 0
    while n < min(len(a), len(b)) and str(a[n]) == str(b[n]):
        n += 1
    return n


def stories():
    """stories260K (a real model, ../shared/assets) through seekd convert: greedy ids from BOS of
    seekd and of llama.cpp against the reference ids."""
    assets = os.path.join(root, "..", "shared", "assets", "models")
    ref_path = os.path.join(assets, "stories260K.greedy256.ids")
    if not os.path.exists(ref_path):
        print("\n(stories260K rows skipped: ../shared/assets absent)")
        return
    ref = open(ref_path).read().split()
    print("\nGreedy decoding of stories260K from BOS (256 tokens), converted by `seekd convert`:\n")
    print("| type | seekd = reference | llama.cpp = reference | seekd = llama.cpp |")
    print("| --- | ---: | ---: | ---: |")
    for ty in ("f32", "f16", "q8_0"):
        path = os.path.join(work, "stories260K-%s.gguf" % ty)
        subprocess.run([seekd, "convert", "llama2c", os.path.join(assets, "stories260K.bin"),
                        os.path.join(assets, "tok512.bin"), "-o", path, "--type", ty], check=True)
        s = subprocess.run([seekd, "generate", "--model", path, "--prompt-ids", "1", "-n", "256",
                            "--temp", "0", "--ids", "--threads", threads], capture_output=True,
                           text=True, check=True).stdout.split()
        cells = [ty, "%d" % agree(s, ref)]
        if lcpp:
            r = subprocess.run(["node", os.path.join(here, "llamacpp.mjs"), path, threads, "256",
                                "1"], capture_output=True, text=True,
                               env=dict(os.environ, LLAMACPP_DIR=lcpp))
            line = [l for l in r.stdout.splitlines() if l.startswith("{")]
            if line:
                lids = json.loads(line[-1])["ids"]
                cells += ["%d" % agree(lids, ref), "%d" % agree(s, lids)]
        cells += ["-"] * (4 - len(cells))
        print("| " + " | ".join(cells) + " |", flush=True)


def tiny():
    """The tiny random models of the logits test (with a placeholder vocabulary): greedy ids of
    both engines from the same 6-token prompt. Random weights, but not the degenerate ones of
    the --fast files: a check that both read llama and qwen2 (RoPE layouts, biases, tied or
    separate outputs, grouped heads) the same way."""
    if not lcpp:
        return
    print("\nGreedy agreement with llama.cpp on the tiny random models (64 tokens after 6):\n")
    print("| model | seekd = llama.cpp | distinct ids |")
    print("| --- | ---: | ---: |")
    prompt = ["1", "17", "250", "3", "99", "42"]
    for arch in ("llama", "qwen2"):
        for ty in ("f32", "q8_0", "q4_k"):
            path = os.path.join(work, "tiny-%s-%s.gguf" % (arch, ty))
            subprocess.run(["/usr/bin/python3", os.path.join(root, "tests/engine/gen_gguf.py"),
                            "--arch", arch, "--type", ty, "--vocab", "--seed", "11", "--out",
                            path], check=True)
            a = subprocess.run([seekd, "generate", "--model", path, "--prompt-ids",
                                " ".join(prompt), "-n", "64", "--temp", "0", "--ids",
                                "--ignore-eos", "--threads", threads], capture_output=True,
                               text=True, check=True).stdout.split()
            r = subprocess.run(["node", os.path.join(here, "llamacpp.mjs"), path, threads, "64"] +
                               prompt, capture_output=True, text=True,
                               env=dict(os.environ, LLAMACPP_DIR=lcpp))
            line = [l for l in r.stdout.splitlines() if l.startswith("{")]
            b = json.loads(line[-1])["ids"] if line else []
            print("| %s %s | %d | %d |" % (arch, ty, agree(a, b), len(set(a))), flush=True)


def main():
    bw = float(subprocess.run([membw, threads], capture_output=True, text=True,
                              check=True).stdout)
    print("read bandwidth, %s threads: %.1f GB/s; prompt %d tokens, %d generated, %d runs "
          "(medians)\n" % (threads, bw, n_prompt, n_gen, runs))
    print("| model | file MB | weights/token MB | roofline tok/s | seekd prompt | llama.cpp "
          "prompt | ratio | seekd decode | llama.cpp decode | ratio | greedy agree |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for shape in shapes:
        for ty in types:
            path = model(shape, ty)
            s, l = [], []
            for _ in range(runs):
                s.append(run_seekd(path))
                if lcpp:
                    r = run_lcpp(path)
                    if r:
                        l.append(r)
            sp = statistics.median(x[0] for x in s)
            sd = statistics.median(x[1] for x in s)
            mb = s[0][2]
            cells = ["%s %s" % (shape, ty), "%.0f" % (os.path.getsize(path) / 1e6), "%.0f" % mb,
                     "%.1f" % (bw * 1e3 / mb), "%.0f" % sp]
            if l:
                lp = statistics.median(x[0] for x in l)
                ld = statistics.median(x[1] for x in l)
                cells += ["%.0f" % lp, "%.2f" % (sp / lp), "%.1f" % sd, "%.1f" % ld,
                          "%.2f" % (sd / ld), "%d of %d" % (agree(s[0][3], l[0][2]), n_gen)]
            else:
                cells += ["-", "-", "%.1f" % sd, "-", "-", "-"]
            print("| " + " | ".join(cells) + " |", flush=True)
    stories()
    tiny()


main()
