# The kernel-only build (CAPIBARA_KERNELS_ONLY=ON), included by CMakeLists.txt after the source
# lists are made: src/core, src/kernels (with this target's ISA files) and src/gguf, and the
# kernel tests (tests/kernels), without the server, the CLI or anything that needs httplib,
# libcrypto, nlohmann_json or CLI11. It exists to cross-compile the kernel tests for aarch64
# (cmake/aarch64-linux-gnu.cmake, scripts/test_arm.sh), whose sysroot has only the C and C++
# runtimes: GoogleTest is built from its sources and fmt (used by the gguf reader, which the
# quantizer tests read the shared models with) is used header-only.
#
# Only the kernel tests: the golden and model tests need the whole library and stay in the
# full build.

list(FILTER CAPIBARA_LIB_SOURCES INCLUDE REGEX "/src/(core|kernels|gguf)/")

# fmt header-only from the host's headers (they are target-independent). The cross compiler
# must not see the rest of /usr/include (the host's C library headers), so only a link to the
# fmt folder goes on its include path.
find_path(CAPIBARA_FMT_INCLUDE_DIR fmt/format.h PATHS /usr/include /usr/local/include
          NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
if(NOT CAPIBARA_FMT_INCLUDE_DIR)
  message(FATAL_ERROR "fmt headers not found (Debian: libfmt-dev; scripts/setup.sh installs it)")
endif()
set(CAPIBARA_FMT_LINK_DIR ${CMAKE_BINARY_DIR}/fmt-include)
file(MAKE_DIRECTORY ${CAPIBARA_FMT_LINK_DIR})
file(CREATE_LINK ${CAPIBARA_FMT_INCLUDE_DIR}/fmt ${CAPIBARA_FMT_LINK_DIR}/fmt SYMBOLIC)

add_library(capibara_lib STATIC ${CAPIBARA_LIB_SOURCES})
target_include_directories(capibara_lib PUBLIC src)
target_include_directories(capibara_lib SYSTEM PUBLIC ${CAPIBARA_FMT_LINK_DIR})
target_compile_options(capibara_lib PRIVATE ${CAPIBARA_WARNINGS})
target_compile_definitions(capibara_lib PUBLIC FMT_HEADER_ONLY
                                               CAPIBARA_VERSION="${PROJECT_VERSION}")
target_link_libraries(capibara_lib PUBLIC Threads::Threads)

if(CAPIBARA_BUILD_TESTS)
  enable_testing()
  # There are no GoogleTest libraries for the target: build them from the sources that
  # libgtest-dev installs.
  set(CAPIBARA_GTEST_SOURCE_DIR /usr/src/googletest CACHE PATH "GoogleTest sources")
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  add_subdirectory(${CAPIBARA_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL
                   SYSTEM)
  # Third-party code, not ours to fix: GCC 12 reports a false -Wrestrict inside libstdc++ there.
  target_compile_options(gtest PRIVATE -w)

  set(CAPIBARA_SHARED_DIR "${CMAKE_SOURCE_DIR}/../shared" CACHE PATH "Shared test data")
  file(GLOB CAPIBARA_KERNEL_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/kernels/*_test.cpp)
  add_executable(kernels_tests ${CAPIBARA_KERNEL_TESTS} tests/support/shared_data.cpp)
  target_include_directories(kernels_tests PRIVATE tests)
  target_compile_definitions(kernels_tests PRIVATE
                             CAPIBARA_DEFAULT_SHARED_DIR="${CAPIBARA_SHARED_DIR}")
  # Tests compare floats against double-precision formulas all the time.
  target_compile_options(kernels_tests PRIVATE ${CAPIBARA_WARNINGS} -Wno-double-promotion)
  target_link_libraries(kernels_tests PRIVATE capibara_lib GTest::gtest_main)
  # Under a cross toolchain `add_test` runs it through CMAKE_CROSSCOMPILING_EMULATOR (qemu).
  add_test(NAME kernels_tests COMMAND kernels_tests)
endif()
