# End-to-end tests (tests/e2e/*.test.mjs): the real seekd binary in front of the fake upstream,
# driven by the official openai npm SDK and raw fetch, with node's built-in test runner.
find_program(NODE node)
if(NOT NODE)
  message(STATUS "e2e tests: node not found, not registered")
elseif(NOT EXISTS "${PROJECT_SOURCE_DIR}/node_modules/openai")
  message(STATUS "e2e tests: ${PROJECT_SOURCE_DIR}/node_modules/openai missing (run npm ci), not registered")
else()
  file(GLOB SEEKD_E2E_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.test.mjs)
  foreach(t ${SEEKD_E2E_TESTS})
    get_filename_component(name ${t} NAME)
    string(REGEX REPLACE "\\.test\\.mjs$" "" name ${name})
    add_test(NAME e2e.${name} COMMAND ${NODE} --test --test-reporter=spec ${t}
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(e2e.${name} PROPERTIES TIMEOUT 60
      ENVIRONMENT "SEEKD_BIN=$<TARGET_FILE:seekd>;FAKE_BIN=$<TARGET_FILE:fake_upstream>;FIXTURES_DIR=${SEEKD_SHARED_DIR}/fixtures/deepseek")
  endforeach()
  # The fake is plain http, so the tests above reach it through seekd's own HTTP client. The
  # ones that exercise transfers run once more through libcurl, the transport of https and
  # proxied upstreams.
  foreach(name faults backpressure pool-failover stream)
    add_test(NAME e2e-curl.${name} COMMAND ${NODE} --test --test-reporter=spec
      ${CMAKE_CURRENT_LIST_DIR}/${name}.test.mjs WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(e2e-curl.${name} PROPERTIES TIMEOUT 60
      ENVIRONMENT "SEEKD_UPSTREAM_CLIENT=curl;SEEKD_BIN=$<TARGET_FILE:seekd>;FAKE_BIN=$<TARGET_FILE:fake_upstream>;FIXTURES_DIR=${SEEKD_SHARED_DIR}/fixtures/deepseek")
  endforeach()
endif()
