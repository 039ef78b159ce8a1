# Fake DeepSeek upstream (tests/fake_upstream/README.md): a standalone program other tests and the
# proxy benchmark start with $<TARGET_FILE:fake_upstream>, plus its own smoke test.
set(FAKE_UPSTREAM_DIR ${CMAKE_CURRENT_LIST_DIR})
add_executable(fake_upstream
  ${FAKE_UPSTREAM_DIR}/main.c
  ${FAKE_UPSTREAM_DIR}/plan.c
  ${FAKE_UPSTREAM_DIR}/wire.c
  ${FAKE_UPSTREAM_DIR}/stream.c
  ${FAKE_UPSTREAM_DIR}/fixtures.c)
target_link_libraries(fake_upstream PRIVATE PkgConfig::LIBEVENT PkgConfig::JANSSON)

add_test(NAME fake_upstream.smoke
  COMMAND sh ${FAKE_UPSTREAM_DIR}/smoke.sh $<TARGET_FILE:fake_upstream>
    ${SEEKD_SHARED_DIR}/fixtures/deepseek)
set_tests_properties(fake_upstream.smoke PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
