#!/bin/sh
# stories.sh SEEKD WORKDIR TYPE MIN_AGREE - converts stories260K (../shared/assets) to GGUF of
# TYPE, decodes 256 tokens greedily from BOS and compares with the reference ids: exactly when
# MIN_AGREE is 256, else the ids must agree for at least the first MIN_AGREE tokens. Runs on
# every ISA this CPU has. Exit 77 (skipped) when the assets are absent.
set -eu
seekd=$1 work=$2 type=$3 min=$4
assets=$(dirname "$0")/../../../shared/assets/models
if [ ! -f "$assets/stories260K.bin" ] || [ ! -f "$assets/tok512.bin" ]; then
  echo "SKIP: $assets/stories260K.bin or tok512.bin absent"
  exit 77
fi
mkdir -p "$work"
model=$work/stories260K.$type.gguf
"$seekd" convert llama2c "$assets/stories260K.bin" "$assets/tok512.bin" -o "$model" --type "$type"
want=$(cat "$assets/stories260K.greedy256.ids")
# the vocabulary in the GGUF encodes as the llama2.c file it came from
for text in "Once upon a time, there was a little girl named Lily." "I believe the meaning of life is" \
    "  héllo
	wörld 123 ✓ <s>"; do
  a=$("$seekd" tokenize --tokenizer "$assets/tok512.bin" --bos "$text")
  b=$("$seekd" tokenize --tokenizer "$model" --bos "$text")
  [ "$a" = "$b" ] || { echo "FAIL: '$text' encodes as $b from the GGUF, $a from tok512.bin"; exit 1; }
done
n=$("$seekd" tokenize --tokenizer "$model" --bos --count "I believe the meaning of life is")
[ "$n" = 18 ] || { echo "FAIL: 18 tokens expected, got $n"; exit 1; }
for isa in scalar avx2 avx512; do
  if ! got=$(SEEKD_ISA=$isa "$seekd" generate --model "$model" --prompt-ids 1 -n 256 --temp 0 \
      --ids --threads 2 2>"$work/err.$type.$isa"); then
    if grep -q "cannot run it" "$work/err.$type.$isa"; then
      echo "$isa: not supported by this CPU, not run"
      continue
    fi
    cat "$work/err.$type.$isa"
    exit 1
  fi
  agree=$(printf '%s\n%s\n' "$got" "$want" | awk '
    NR == 1 { n = split($0, a, " ") }
    NR == 2 { split($0, b, " "); k = 0; while (k < n && a[k + 1] == b[k + 1]) k++; print k }')
  n=$(printf '%s\n' "$got" | wc -w)
  echo "stories260K $type $isa: $n tokens generated, greedy agrees with the reference for $agree"
  if [ "$min" -eq 256 ]; then
    [ "$got" = "$want" ] || { echo "FAIL: not the reference ids"; exit 1; }
  else
    [ "$agree" -ge "$min" ] || { echo "FAIL: fewer than $min"; exit 1; }
  fi
done
