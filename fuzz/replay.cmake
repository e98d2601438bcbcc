# Corpus replay tests (included from the top-level CMakeLists): each fuzz target is also built
# with the regular toolchain against fuzz/replay_main.cc and run over its whole corpus by ctest.
function(ap_fuzz_replay name source lib)
  add_executable(${name}_replay ${CMAKE_SOURCE_DIR}/fuzz/replay_main.cc ${source})
  target_link_libraries(${name}_replay PRIVATE ${lib})
  add_test(NAME fuzz_replay_${name} COMMAND ${name}_replay ${CMAKE_SOURCE_DIR}/fuzz/corpus/${name})
endfunction()
ap_fuzz_replay(openai ${CMAKE_SOURCE_DIR}/src/api/openai_fuzzer.cc ap_api)
ap_fuzz_replay(sse ${CMAKE_SOURCE_DIR}/src/http/sse_fuzzer.cc ap_http)
ap_fuzz_replay(response_parser ${CMAKE_SOURCE_DIR}/src/http/response_parser_fuzzer.cc ap_http)
ap_fuzz_replay(request_parser ${CMAKE_SOURCE_DIR}/src/http/request_parser_fuzzer.cc ap_http)
ap_fuzz_replay(config ${CMAKE_SOURCE_DIR}/src/config/config_fuzzer.cc ap_config)
ap_fuzz_replay(limits ${CMAKE_SOURCE_DIR}/src/limits/model_fuzzer.cc ap_limits)
