# Conformance: every recorded DeepSeek fixture replayed by the fake upstream through seekd, whose
# output must carry exactly the same content, reasoning, tool calls, logprobs, finish and usage,
# through both transports (seekd's own HTTP client and libcurl).
if(NOT NODE)
  message(STATUS "conformance tests: node not found, not registered")
elseif(NOT EXISTS "${PROJECT_SOURCE_DIR}/node_modules/openai")
  message(STATUS "conformance tests: ${PROJECT_SOURCE_DIR}/node_modules/openai missing (run npm ci), not registered")
else()
  seekd_node_test(conformance.replay ${CMAKE_CURRENT_LIST_DIR}/replay.test.mjs TRANSPORT builtin)
  seekd_node_test(conformance-curl.replay ${CMAKE_CURRENT_LIST_DIR}/replay.test.mjs TRANSPORT libcurl)
endif()
# The same recordings through the Anthropic Messages and OpenAI Responses encoders.
if(NODE AND EXISTS "${PROJECT_SOURCE_DIR}/node_modules/openai")
  seekd_node_test(conformance.fronts ${CMAKE_CURRENT_LIST_DIR}/fronts.test.mjs TRANSPORT builtin)
endif()
