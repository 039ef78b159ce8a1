#!/bin/sh
# cli.sh SEEKD WORKDIR - seekd generate and convert on bad input: each refusal has its exit code
# (2 usage, 1 runtime) and a message naming the problem; a model without a vocabulary prints ids.
set -u
seekd=$1 work=$2
here=$(dirname "$0")
mkdir -p "$work"
fail=0
# expect CODE PATTERN ARGS...: exit code CODE and PATTERN in the output
expect() {
  code=$1 pat=$2
  shift 2
  out=$("$seekd" "$@" 2>&1)
  rc=$?
  if [ "$rc" != "$code" ] || ! printf '%s' "$out" | grep -q -- "$pat"; then
    echo "FAIL: seekd $* -> rc $rc, want $code and '$pat'; output:"
    printf '%s\n' "$out" | tail -3
    fail=1
  fi
}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c 'import numpy' 2>/dev/null; then
  echo "SKIP: numpy missing (python3-numpy)"
  exit 77
fi
model=$work/cli-novocab.gguf
"$py" "$here/gen_gguf.py" --arch llama --type f32 --out "$model" --seed 3 || exit 1
head -c 100 "$model" >"$work/cli-trunc.gguf"
head -c 200000 "$model" >"$work/cli-cut.gguf"
head -c 10 "$model" >"$work/cli-10.bin"
# a llama2.c header (dim 64, hidden 172, 5 layers, 8/4 heads, vocab 512, seq 512), 100 floats
"$py" -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<7i", 64, 172, 5, 8, 4, 512, 512) + bytes(400))' >"$work/cli-short.bin"

expect 1 "No such file" generate --model "$work/absent.gguf"
expect 1 "metadata count 10 is more than the file can hold" generate --model "$work/cli-trunc.gguf"
expect 1 "data runs past the end of the file" generate --model "$work/cli-cut.gguf"
expect 2 "no vocabulary; use --prompt-ids" generate --model "$model" --prompt hi
expect 2 "ids are integers from 0 to 299" generate --model "$model" --prompt-ids "1 300"
expect 2 "exclude each other" generate --model "$model" --prompt a --prompt-ids 1
expect 2 "is not a valid value" generate --model "$model" --prompt-ids 1 --temp -1
expect 2 "is not a valid value" generate --model "$model" --prompt-ids 1 --top-p 1.5
expect 2 "unknown flag" generate --model "$model" --bogus

expect 2 "usage: seekd convert" convert llama2c onlyone.bin
expect 2 "f32, f16 or q8_0" convert llama2c a b -o c --type q4_k
expect 1 "shorter than the llama2.c header" convert llama2c "$work/cli-10.bin" \
  "$work/cli-10.bin" -o "$work/x.gguf"
expect 1 "the header implies 264128 floats" convert llama2c "$work/cli-short.bin" \
  "$work/cli-10.bin" -o "$work/x.gguf"
expect 1 "is not a model" convert llama2c "$work/cli-trunc.gguf" "$work/cli-10.bin" \
  -o "$work/x.gguf"
out=$(SEEKD_ISA=avx9 "$seekd" generate --model "$model" --prompt-ids 1 2>&1)
[ $? = 2 ] && printf '%s' "$out" | grep -q "SEEKD_ISA=avx9: unknown" ||
  { echo "FAIL: SEEKD_ISA=avx9: $out"; fail=1; }
# a model without a vocabulary prints the generated ids, five of them
out=$("$seekd" generate --model "$model" --prompt-ids "1 2 3" -n 5 --temp 0 2>/dev/null)
[ "$(printf '%s\n' "$out" | wc -w)" = 5 ] || { echo "FAIL: '$out' is not 5 ids"; fail=1; }
exit $fail
