// Placeholder while the command is being written in this session.
#include "cli/commands.hpp"

namespace capibara::cli {

void add_inspect_command(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("inspect", "(being written)");
  cmd->callback([&action] { action = [] { return 1; }; });
}

}  // namespace capibara::cli
