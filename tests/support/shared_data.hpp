// Locates `../shared` (the read-only test data beside the repository) for tests.
#pragma once

#include <filesystem>
#include <optional>

#include <gtest/gtest.h>

namespace capibara::testing {

// `$CAPIBARA_SHARED` if set, else `../shared` next to the source tree; nullopt when absent.
std::optional<std::filesystem::path> shared_dir();

// Path of the `capibara` binary under test (`$CAPIBARA_BIN`), nullopt when unknown.
std::optional<std::filesystem::path> capibara_binary();

}  // namespace capibara::testing

// Skips the current test loudly when the shared data folder is missing; otherwise binds
// `shared` (a std::filesystem::path) to it.
#define CAPIBARA_REQUIRE_SHARED(shared)                                                      \
  const auto shared##_opt = ::capibara::testing::shared_dir();                               \
  if (!shared##_opt) {                                                                       \
    GTEST_SKIP() << "shared test data not found: set CAPIBARA_SHARED or put ../shared next " \
                    "to the repository";                                                     \
  }                                                                                          \
  const std::filesystem::path shared = *shared##_opt
