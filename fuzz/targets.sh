# targets.sh - the fuzz targets and where each one's inputs start, sourced by run.sh and
# soak.sh. Needs $root (the checkout) and $build (the fuzz build folder).
targets=(fuzz_tok_encode fuzz_tok_load_json fuzz_tok_load_gguf fuzz_tok_load_blob fuzz_request
  fuzz_upstream_stream fuzz_json_reader fuzz_http_head fuzz_http_response fuzz_config
  fuzz_netaddr fuzz_auth fuzz_price fuzz_anthropic_request fuzz_responses_request fuzz_gguf
  fuzz_model)

# Fills corpus dir $2 for target $1: the committed minimized corpus (fuzz/corpus/<target>,
# what earlier long runs found), the hand-written seeds, and data files that make good seeds.
fill_corpus() {
  local t=$1 corpus=$2 shared="$root/../shared/assets"
  mkdir -p "$corpus"
  cp -n "$root/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
  local seeds=${t#fuzz_}
  case "$t" in
    fuzz_tok_encode) seeds=encode ;;
    fuzz_tok_load_json) seeds=json ;;
    fuzz_tok_load_gguf)
      # the small GGUF vocabularies of the shared assets, when present
      for f in "$shared"/tokenizer-vectors/ggml-vocab-deepseek-coder.gguf \
               "$shared"/tokenizer-vectors/ggml-vocab-llama-spm.gguf; do
        [ -f "$f" ] && cp -n "$f" "$corpus"/ 2>/dev/null || true
      done ;;
    fuzz_gguf | fuzz_model)
      seeds=${t#fuzz_}
      for f in "$shared"/tokenizer-vectors/ggml-vocab-llama-spm.gguf; do
        [ -f "$f" ] && cp -n "$f" "$corpus"/ 2>/dev/null || true
      done ;;
    fuzz_tok_load_blob)
      local b="$build/generated/tokenizer/deepseek_v3.tokblob"
      [ -f "$b" ] && cp -n "$b" "$corpus"/ 2>/dev/null || true ;;
  esac
  cp -n "$root/fuzz/seeds/$seeds"/* "$corpus"/ 2>/dev/null || true
}

# The last libFuzzer status line of a log: "#N ... cov: C ft: F corp: ... exec/s: E ..."
last_stats() {
  grep -E "^#[0-9]+" "$1" | tail -1
}
