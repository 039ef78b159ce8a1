# The store's tests and the accounts' end-to-end tests again on PostgreSQL: each runs under
# tests/pg/pg_cluster.sh, which starts a throwaway server (Debian's postgresql, as a user that
# is not root), sets SEEKD_TEST_PG_URL, and stops it afterwards. Without PostgreSQL installed
# they run without the URL and report themselves skipped (exit 77), never passed.
set(SEEKD_PG_CLUSTER ${CMAKE_CURRENT_LIST_DIR}/pg_cluster.sh)

add_test(NAME unit.test_store-pg COMMAND ${SEEKD_PG_CLUSTER} run $<TARGET_FILE:test_store> pg)
set_tests_properties(unit.test_store-pg PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)

if(NODE AND EXISTS "${PROJECT_SOURCE_DIR}/node_modules/openai")
  foreach(name accounts accounts-proof keys-cli admin)
    seekd_node_test(e2e.${name}-pg ${PROJECT_SOURCE_DIR}/tests/e2e/${name}.test.mjs
      TRANSPORT builtin WRAP ${SEEKD_PG_CLUSTER} run)
    set_property(TEST e2e.${name}-pg APPEND PROPERTY ENVIRONMENT "SEEKD_TEST_DB=pg")
  endforeach()
endif()
