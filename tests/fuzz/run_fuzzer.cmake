# tests/fuzz/run_fuzzer.cmake - run one libFuzzer target for a bounded time
# on a fresh copy of its seed corpus (cmake -P; see CMakeLists.txt).
#   FUZZER DICT SEEDS REGRESSIONS WORK SECONDS
if(DEFINED ENV{EDDY_FUZZ_SECONDS})
  set(SECONDS $ENV{EDDY_FUZZ_SECONDS})
endif()
if(NOT EXISTS ${FUZZER})
  message(FATAL_ERROR "${FUZZER} is not built: cmake --build with -DEDDY_FUZZ=ON")
endif()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
file(GLOB seeds ${SEEDS}/*)
file(COPY ${seeds} DESTINATION ${WORK}/corpus)
# The regression inputs (past crashes) run first, read-only, with the seeds.
set(dirs ${WORK}/corpus ${SEEDS})
file(GLOB regressions ${REGRESSIONS}/*)
if(regressions)
  list(APPEND dirs ${REGRESSIONS})
endif()
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -dict=${DICT} -max_len=8192 -timeout=10
          -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=${WORK}/artifacts/ ${dirs}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${rc}): the input is in ${WORK}/artifacts/; "
                      "add it to ${REGRESSIONS} and a unit test")
endif()
