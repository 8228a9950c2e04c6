# Test discovery: every tests/<suite>/**/test_*.c is a program and every tests/<suite>/**/test_*.py
# or test_*.sh a script; each becomes a ctest test labelled with its suite. A C test under
# tests/unit/<module>/ links that module only, so one module's tests build without the others.
# tests/<suite>/tool_*.c are helper programs a script test runs (found in CR_BUILD_DIR), not tests.
# Tests named *_slow.* get the label `slow` and are left out of the default run (ctest -LE slow).

# libFuzzer harnesses: opt-in (-DCRESCENDO_FUZZ=ON) and clang only. As with unit tests, a harness
# tests/fuzz/<module>/fuzz_*.c links that module only. The modules are instrumented for coverage
# as well, so the fuzzer is guided through the parsers.
option(CRESCENDO_FUZZ "Build the libFuzzer harnesses in tests/fuzz (clang only)" OFF)
if(CRESCENDO_FUZZ AND NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(WARNING "CRESCENDO_FUZZ needs clang (-DCMAKE_C_COMPILER=clang); harnesses not built")
elseif(CRESCENDO_FUZZ)
  set(fuzz_flags -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined) # the tests below link the instrumented modules
  foreach(module IN LISTS CR_MODULES)
    if(TARGET cr_${module}_objects)
      target_compile_options(cr_${module}_objects PRIVATE ${fuzz_flags})
    endif()
  endforeach()
  file(GLOB fuzz_sources CONFIGURE_DEPENDS tests/fuzz/*/fuzz_*.c)
  foreach(source IN LISTS fuzz_sources)
    get_filename_component(name ${source} NAME_WE)
    get_filename_component(dir ${source} DIRECTORY)
    get_filename_component(module ${dir} NAME)
    add_executable(${name} ${source})
    target_include_directories(${name} PRIVATE src)
    target_compile_options(${name} PRIVATE ${fuzz_flags})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE cr_${module})
  endforeach()
endif()

set(CR_TEST_SUITES unit gradcheck parity cli)
set(CR_TEST_ENV "CR_BUILD_DIR=${CMAKE_BINARY_DIR};CR_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHON=/usr/bin/python3")
if(CRESCENDO_SANITIZE)
  list(APPEND CR_TEST_ENV "CR_SANITIZED=1") # timings of sanitized code say nothing of a real run
endif()

# Registers one test with its suite's label (and `slow` for *_slow), run from the build folder.
function(cr_register_test suite name)
  add_test(NAME ${suite}/${name} COMMAND ${ARGN})
  set(labels ${suite})
  if(name MATCHES "_slow$")
    list(APPEND labels slow)
  endif()
  set_tests_properties(${suite}/${name} PROPERTIES LABELS "${labels}" ENVIRONMENT "${CR_TEST_ENV}"
                       WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
endfunction()

add_library(cr_testing STATIC tests/testing.c)
target_include_directories(cr_testing PUBLIC tests include)
target_link_libraries(cr_testing PUBLIC cr_core)

foreach(suite IN LISTS CR_TEST_SUITES)
  file(GLOB_RECURSE c_tests CONFIGURE_DEPENDS tests/${suite}/test_*.c)
  foreach(source IN LISTS c_tests)
    get_filename_component(name ${source} NAME_WE)
    get_filename_component(dir ${source} DIRECTORY)
    get_filename_component(module ${dir} NAME)
    if(suite STREQUAL "unit" AND TARGET cr_${module})
      set(link cr_${module})
    elseif(suite STREQUAL "gradcheck")
      set(link cr_backend)
    else()
      set(link cr_train)
    endif()
    set(target ${suite}_${name})
    add_executable(${target} ${source})
    target_include_directories(${target} PRIVATE src)
    target_link_libraries(${target} PRIVATE cr_testing ${link})
    cr_register_test(${suite} ${name} ${target})
  endforeach()

  file(GLOB_RECURSE script_tests CONFIGURE_DEPENDS tests/${suite}/test_*.py
       tests/${suite}/test_*.sh)
  foreach(script IN LISTS script_tests)
    get_filename_component(name ${script} NAME_WE)
    get_filename_component(ext ${script} EXT)
    if(ext STREQUAL ".py")
      set(runner /usr/bin/python3)
    else()
      set(runner bash)
    endif()
    cr_register_test(${suite} ${name} ${runner} ${script})
  endforeach()
endforeach()

file(GLOB_RECURSE tool_sources CONFIGURE_DEPENDS tests/tool_*.c)
foreach(source IN LISTS tool_sources)
  get_filename_component(name ${source} NAME_WE)
  add_executable(${name} ${source})
  target_include_directories(${name} PRIVATE src)
  target_link_libraries(${name} PRIVATE cr_testing cr_train)
endforeach()

# It checks a run's wall time against its budget (make test-slow: on tiny epochs the timing is noisy),
# planned from timings taken at its start: other
# tests starting beside it would slow it after the plan is made.
set_tests_properties(cli/test_time_budget_slow PROPERTIES RUN_SERIAL TRUE)

# Tests that need what a machine may lack (MPI, network namespaces) exit 77 with the reason.
foreach(test cli/test_distributed cli/test_distributed_netns)
  set_tests_properties(${test} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
# It makes network namespaces (root): `ctest -L netns` runs it alone.
set_tests_properties(cli/test_distributed_netns PROPERTIES LABELS "cli;netns")
# Open MPI keeps what MPI_Init allocates, in components it has unloaded by the time LeakSanitizer
# looks, so no suppression can name them: its processes are checked by ASan and UBSan, and
# crescendo's own leaks by every one-process test.
if(CRESCENDO_SANITIZE)
  set_tests_properties(cli/test_distributed cli/test_distributed_netns PROPERTIES
                       ENVIRONMENT "${CR_TEST_ENV};LSAN_OPTIONS=detect_leaks=0")
endif()
