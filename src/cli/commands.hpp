// The subcommands of the `capibara` binary. Each `add_*_command` registers its options on the
// CLI11 app; when the user picks it, its parse callback stores the work to do in `action`,
// which `main` runs inside the one place that turns errors into a message and an exit code.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace capibara::cli {

using CommandAction = std::function<int()>;

void add_inspect_command(CLI::App& app, CommandAction& action);
void add_run_command(CLI::App& app, CommandAction& action);
void add_golden_command(CLI::App& app, CommandAction& action);
void add_serve_command(CLI::App& app, CommandAction& action);
void add_tokenize_command(CLI::App& app, CommandAction& action);
void add_detokenize_command(CLI::App& app, CommandAction& action);
void add_template_command(CLI::App& app, CommandAction& action);
void add_pull_command(CLI::App& app, CommandAction& action);
void add_quantize_command(CLI::App& app, CommandAction& action);
void add_synth_command(CLI::App& app, CommandAction& action);
void add_bench_command(CLI::App& app, CommandAction& action);

// `capibara --version`: the version and the kernels this CPU runs.
std::string version_text();

}  // namespace capibara::cli
