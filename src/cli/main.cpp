// The `capibara` binary: parses the command line and runs one subcommand.
#include <cstdio>
#include <exception>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"capibara: a multi-model LLM inference server for CPUs"};
  app.set_version_flag("--version", [] { return capibara::cli::version_text(); });
  app.require_subcommand(1, 1);

  capibara::cli::CommandAction action;
  capibara::cli::add_serve_command(app, action);
  capibara::cli::add_run_command(app, action);
  capibara::cli::add_inspect_command(app, action);
  capibara::cli::add_golden_command(app, action);
  capibara::cli::add_tokenize_command(app, action);
  capibara::cli::add_detokenize_command(app, action);
  capibara::cli::add_template_command(app, action);
  capibara::cli::add_pull_command(app, action);
  capibara::cli::add_quantize_command(app, action);
  capibara::cli::add_synth_command(app, action);
  capibara::cli::add_bench_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return action ? action() : 0;
  } catch (const capibara::Error& e) {
    fmt::print(stderr, "capibara: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "capibara: internal error: {}\n", e.what());
    return 2;
  }
}
