# fuzz.cmake - libFuzzer targets for the tokenizer (clang only), included by
# cmake/tokenizer.cmake when -DSEEKD_FUZZ=ON. Run them with fuzz/run.sh.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "SEEKD_FUZZ needs clang (CC=clang)")
endif()
set(SEEKD_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
  -fno-omit-frame-pointer -g -O1)
add_library(seekd_tok_fuzzlib STATIC ${SEEKD_TOK_SRC} ${PROJECT_SOURCE_DIR}/src/base/mem.c
  ${PROJECT_SOURCE_DIR}/src/base/buf.c ${PROJECT_SOURCE_DIR}/src/base/log.c
  ${PROJECT_SOURCE_DIR}/src/base/sha256.c ${PROJECT_SOURCE_DIR}/src/base/gguf.c
  "${SEEKD_TOK_DATA_C}")
if(TARGET seekd_tok_blob)
  add_dependencies(seekd_tok_fuzzlib seekd_tok_blob)
endif()
target_include_directories(seekd_tok_fuzzlib PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_compile_options(seekd_tok_fuzzlib PRIVATE ${SEEKD_FUZZ_FLAGS})
target_link_libraries(seekd_tok_fuzzlib PUBLIC PkgConfig::JANSSON PkgConfig::PCRE2
  Threads::Threads)
foreach(name encode load_json load_gguf load_blob)
  add_executable(fuzz_tok_${name} ${PROJECT_SOURCE_DIR}/fuzz/fuzz_tok_${name}.c)
  target_compile_options(fuzz_tok_${name} PRIVATE ${SEEKD_FUZZ_FLAGS})
  target_link_options(fuzz_tok_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_tok_${name} PRIVATE seekd_tok_fuzzlib)
endforeach()

# Request parsing/validation, the upstream answer path (SSE -> events -> DeepSeek JSON), the
# JSON reader against jansson, HTTP request heads, and HTTP response heads with chunked bodies.
add_library(seekd_api_fuzzlib STATIC
  ${PROJECT_SOURCE_DIR}/src/base/mem.c ${PROJECT_SOURCE_DIR}/src/base/buf.c
  ${PROJECT_SOURCE_DIR}/src/base/log.c ${PROJECT_SOURCE_DIR}/src/base/sha256.c
  ${PROJECT_SOURCE_DIR}/src/json/jw.c
  ${PROJECT_SOURCE_DIR}/src/json/jr.c
  ${PROJECT_SOURCE_DIR}/src/api/error.c ${PROJECT_SOURCE_DIR}/src/api/validate.c
  ${PROJECT_SOURCE_DIR}/src/api/encode.c ${PROJECT_SOURCE_DIR}/src/backend/sse.c
  ${PROJECT_SOURCE_DIR}/src/backend/chunk.c ${PROJECT_SOURCE_DIR}/src/http/http_parse.c
  ${PROJECT_SOURCE_DIR}/src/api/jx.c ${PROJECT_SOURCE_DIR}/src/api/anthropic_parse.c
  ${PROJECT_SOURCE_DIR}/src/api/responses_parse.c ${PROJECT_SOURCE_DIR}/src/api/anthropic_encode.c
  ${PROJECT_SOURCE_DIR}/src/api/blocks.c)
target_include_directories(seekd_api_fuzzlib PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_compile_options(seekd_api_fuzzlib PRIVATE ${SEEKD_FUZZ_FLAGS})
target_link_libraries(seekd_api_fuzzlib PUBLIC PkgConfig::JANSSON m)
foreach(name request upstream_stream json_reader http_head http_response anthropic_request
    responses_request)
  add_executable(fuzz_${name} ${PROJECT_SOURCE_DIR}/fuzz/fuzz_${name}.c)
  target_compile_options(fuzz_${name} PRIVATE ${SEEKD_FUZZ_FLAGS})
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_${name} PRIVATE seekd_api_fuzzlib)
endforeach()

# The config file parser, addresses and CIDRs, and the Authorization header: the inputs an
# operator's file and any client control.
add_library(seekd_cfg_fuzzlib STATIC
  ${PROJECT_SOURCE_DIR}/src/base/mem.c ${PROJECT_SOURCE_DIR}/src/base/buf.c
  ${PROJECT_SOURCE_DIR}/src/base/log.c ${PROJECT_SOURCE_DIR}/src/base/sha256.c
  ${PROJECT_SOURCE_DIR}/src/base/netaddr.c ${PROJECT_SOURCE_DIR}/src/cli/config.c
  ${PROJECT_SOURCE_DIR}/src/cli/config_file.c
  ${PROJECT_SOURCE_DIR}/src/gateway/auth.c ${PROJECT_SOURCE_DIR}/src/gateway/price.c
  ${PROJECT_SOURCE_DIR}/src/gateway/money.c ${PROJECT_SOURCE_DIR}/src/gateway/keys.c
  ${PROJECT_SOURCE_DIR}/src/gateway/accounts.c ${PROJECT_SOURCE_DIR}/src/gateway/instances.c
  ${PROJECT_SOURCE_DIR}/src/gateway/redis_url.c
  ${PROJECT_SOURCE_DIR}/src/store/store.c ${PROJECT_SOURCE_DIR}/src/store/store_sqlite.c
  ${PROJECT_SOURCE_DIR}/src/store/store_pg.c ${PROJECT_SOURCE_DIR}/src/store/store_pg_ledger.c
  ${PROJECT_SOURCE_DIR}/src/base/workers.c
  # config.c checks anthropic_model_map entries with the Anthropic front's own rule
  ${PROJECT_SOURCE_DIR}/src/api/anthropic_parse.c ${PROJECT_SOURCE_DIR}/src/api/jx.c)
target_include_directories(seekd_cfg_fuzzlib PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_compile_options(seekd_cfg_fuzzlib PRIVATE ${SEEKD_FUZZ_FLAGS})
target_link_libraries(seekd_cfg_fuzzlib PUBLIC PkgConfig::SQLITE3 PkgConfig::LIBPQ PkgConfig::LIBCRYPTO
  PkgConfig::LIBEVENT PkgConfig::JANSSON Threads::Threads)
foreach(name config netaddr auth price)
  add_executable(fuzz_${name} ${PROJECT_SOURCE_DIR}/fuzz/fuzz_${name}.c)
  target_compile_options(fuzz_${name} PRIVATE ${SEEKD_FUZZ_FLAGS})
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_${name} PRIVATE seekd_cfg_fuzzlib)
endforeach()

# The GGUF reader the engine and the tokenizer share: model files are untrusted input.
add_executable(fuzz_gguf ${PROJECT_SOURCE_DIR}/fuzz/fuzz_gguf.c ${PROJECT_SOURCE_DIR}/src/base/gguf.c
  ${PROJECT_SOURCE_DIR}/src/base/mem.c)
target_include_directories(fuzz_gguf PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_options(fuzz_gguf PRIVATE ${SEEKD_FUZZ_FLAGS})
target_link_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined)

# The model loader on top of it, and a short forward pass over whatever loads: links the engine.
file(GLOB SEEKD_ENGINE_SRC CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/engine/*.c)
add_executable(fuzz_model ${PROJECT_SOURCE_DIR}/fuzz/fuzz_model.c ${SEEKD_ENGINE_SRC})
target_compile_options(fuzz_model PRIVATE ${SEEKD_FUZZ_FLAGS})
target_link_options(fuzz_model PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_libraries(fuzz_model PRIVATE seekd_tok_fuzzlib m)
