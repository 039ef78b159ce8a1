# ledger_bench.cmake - bench/ledger: settles per second of store_settle_many (not built by
# default; bench/ledger/run.sh builds it).
add_executable(seekd-ledger-bench EXCLUDE_FROM_ALL ${PROJECT_SOURCE_DIR}/bench/ledger/ledger_bench.c)
target_link_libraries(seekd-ledger-bench PRIVATE seekdcore)
