#!/bin/sh
# chat.sh SEEKD WORKDIR - `seekd chat` on stories260K with the raw template: each line is a turn,
# the first answer equals `seekd generate` from BOS, the second equals generate on the whole
# conversation's text (so the history is kept and the reused KV cache changes nothing), and
# the refusals. Exit 77 (skipped) when the assets are absent.
set -eu
seekd=$1 work=$2
assets=$(dirname "$0")/../../../shared/assets/models
if [ ! -f "$assets/stories260K.bin" ] || [ ! -f "$assets/tok512.bin" ]; then
  echo "SKIP: $assets/stories260K.bin or tok512.bin absent"
  exit 77
fi
mkdir -p "$work"
model=$work/stories260K.chat.gguf
"$seekd" convert llama2c "$assets/stories260K.bin" "$assets/tok512.bin" -o "$model" >/dev/null
printf '\nTom went home.\n' | "$seekd" chat --model "$model" --chat-template raw --temp 0 \
  --max-tokens 24 >"$work/chat.out"
first=$(sed -n 1p "$work/chat.out")
second=$(sed -n 2p "$work/chat.out")
want1=$("$seekd" generate --model "$model" --prompt-ids 1 -n 24 --temp 0 2>/dev/null)
want2=$("$seekd" generate --model "$model" --prompt "${first}Tom went home." -n 24 --temp 0 2>/dev/null)
[ "$first" = "$want1" ] || { echo "FAIL: turn 1: '$first' != '$want1'"; exit 1; }
[ "$second" = "$want2" ] || { echo "FAIL: turn 2: '$second' != '$want2'"; exit 1; }
[ "$(wc -l <"$work/chat.out")" -eq 2 ] || { echo "FAIL: two answers expected"; exit 1; }
# /reset forgets: the answer after it is the first one again
printf '\n/reset\n\n' | "$seekd" chat --model "$model" --chat-template raw --temp 0 \
  --max-tokens 24 >"$work/chat2.out"
[ "$(sed -n 2p "$work/chat2.out")" = "$want1" ] || { echo "FAIL: /reset"; exit 1; }
# refusals
if "$seekd" chat --chat-template raw </dev/null 2>"$work/err"; then echo "FAIL: no --model"; exit 1; fi
grep -q -- "--model FILE is required" "$work/err" || { echo "FAIL: message"; cat "$work/err"; exit 1; }
if "$seekd" chat --model "$model" --chat-template jinja </dev/null 2>"$work/err"; then
  echo "FAIL: unknown template accepted"; exit 1
fi
grep -q "unknown chat template" "$work/err" || { echo "FAIL: message"; cat "$work/err"; exit 1; }
echo "chat: 2 turns equal generate, /reset, refusals"
