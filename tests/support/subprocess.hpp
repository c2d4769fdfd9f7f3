// Runs a command line through the shell and captures its exit code, stdout and stderr.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "support/shared_data.hpp"

namespace capibara::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

CommandResult run_command(const std::string& command_line);

// Quotes `s` for a POSIX shell.
std::string shell_quote(const std::string& s);

}  // namespace capibara::testing

// Skips the current test loudly when the binary under test is unknown; otherwise binds `bin`
// (a std::string) to its shell-quoted path. Use inside namespace capibara::testing.
#define CAPIBARA_REQUIRE_BINARY(bin)                                             \
  const auto bin##_opt = ::capibara::testing::capibara_binary();                 \
  if (!bin##_opt) GTEST_SKIP() << "CAPIBARA_BIN is not set (run through ctest)"; \
  const std::string bin = ::capibara::testing::shell_quote(bin##_opt->string())
