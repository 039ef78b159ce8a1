# End-to-end tests (tests/e2e/*.test.mjs): the real seekd binary in front of the fake upstream,
# driven by the official openai npm SDK and raw fetch, with node's built-in test runner.
if(NOT NODE)
  message(STATUS "e2e tests: node not found, not registered")
elseif(NOT EXISTS "${PROJECT_SOURCE_DIR}/node_modules/openai")
  message(STATUS "e2e tests: ${PROJECT_SOURCE_DIR}/node_modules/openai missing (run npm ci), not registered")
else()
  # Every file runs through both transports of a plain-http upstream: seekd's own HTTP client
  # (e2e.*) and libcurl, the transport of https and proxied upstreams (e2e-curl.*). Except
  # upstream-client, which tests seekd's own client byte by byte and clears the override itself.
  file(GLOB SEEKD_E2E_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.test.mjs)
  foreach(t ${SEEKD_E2E_TESTS})
    get_filename_component(name ${t} NAME)
    string(REGEX REPLACE "\\.test\\.mjs$" "" name ${name})
    seekd_node_test(e2e.${name} ${t} TRANSPORT builtin)
    # upstream-client tests seekd's own client; keys-cli involves no upstream at all;
    # accounts-proof's and accounts-disk's proofs are about the ledger, not the transport;
    # redis-limits tests the limits before the upstream is called; local* test the engine
    if(NOT name STREQUAL "upstream-client" AND NOT name STREQUAL "keys-cli"
       AND NOT name MATCHES "^accounts-(proof|disk)$" AND NOT name STREQUAL "redis-limits"
       AND NOT name MATCHES "^local")
      seekd_node_test(e2e-curl.${name} ${t} TRANSPORT libcurl)
    endif()
  endforeach()
endif()
