// Runs a command line through the shell and captures its exit code, stdout and stderr.
#pragma once

#include <string>

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
