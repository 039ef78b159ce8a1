# Conformance: every recorded DeepSeek fixture replayed by the fake upstream through seekd, whose
# output must carry exactly the same content, reasoning, tool calls, logprobs, finish and usage.
find_program(NODE node)
if(NOT NODE)
  message(STATUS "conformance tests: node not found, not registered")
elseif(NOT EXISTS "${PROJECT_SOURCE_DIR}/node_modules/openai")
  message(STATUS "conformance tests: ${PROJECT_SOURCE_DIR}/node_modules/openai missing (run npm ci), not registered")
else()
  add_test(NAME conformance.replay
    COMMAND ${NODE} --test --test-reporter=spec ${CMAKE_CURRENT_LIST_DIR}/replay.test.mjs
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(conformance.replay PROPERTIES TIMEOUT 60
    ENVIRONMENT "SEEKD_BIN=$<TARGET_FILE:seekd>;FAKE_BIN=$<TARGET_FILE:fake_upstream>;FIXTURES_DIR=${SEEKD_SHARED_DIR}/fixtures/deepseek")
endif()
