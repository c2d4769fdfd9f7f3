// `capibara pull SOURCE [-o DIR]`: downloads a GGUF model from a URL or the Hugging Face Hub,
// resumably and verified (the work is download/'s; this file maps flags, environment and the
// terminal onto it). stdout gets only the final path, so scripts can capture it.
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "download/download.hpp"
#include "download/progress_printer.hpp"
#include "download/sha256.hpp"

namespace capibara::cli {
namespace {

struct PullOptions {
  std::string source;
  std::string output_dir = ".";
  std::string name;
  std::string token;
  std::string sha256;
  int retries = 3;
  bool force = false;
  bool quiet = false;
};

// Set by the first Ctrl-C; the download stops at its next received piece, keeping the partial
// file. The handler resets itself (SA_RESETHAND), so a second Ctrl-C ends a stalled transfer.
std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_interrupt(int) { g_interrupted.store(true); }

class InterruptGuard {
 public:
  InterruptGuard() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptGuard() { sigaction(SIGINT, &previous_, nullptr); }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction previous_ {};
};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

int terminal_width() {
  winsize size{};
  return ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 ? size.ws_col : 80;
}

std::string sha256_note(const download::DownloadResult& r) {
  if (r.sha256_matched_expected && r.sha256_matched_server) {
    return "matches --sha256 and the server's digest";
  }
  if (r.sha256_matched_expected) return "matches --sha256";
  if (r.sha256_matched_server) return "matches the server's digest";
  return "not verified: the server sent no digest; pass --sha256 to check it";
}

int run_pull(const PullOptions& o) {
  download::DownloadRequest request;
  request.source = o.source;
  request.output_dir = o.output_dir;
  request.file_name = o.name;
  // Checked before anything is printed or fetched: a typo should not cost a download.
  if (!o.sha256.empty()) request.expected_sha256 = download::normalize_sha256(o.sha256);
  request.force = o.force;
  request.max_retries = o.retries;
  request.cancel = &g_interrupted;
  if (const std::string endpoint = env("HF_ENDPOINT"); !endpoint.empty()) {
    request.hf_endpoint = endpoint;
  }
  const download::ModelSource source =
      download::resolve_model_source(o.source, request.hf_endpoint);
  request.token = o.token;
  // The Hub token from the environment goes to the Hub only, never to an arbitrary URL's host.
  if (request.token.empty() && source.on_hugging_face) {
    request.token = env("HF_TOKEN");
    if (request.token.empty()) request.token = env("HUGGING_FACE_HUB_TOKEN");
  }

  const auto style = o.quiet                        ? download::ProgressStyle::kQuiet
                     : ::isatty(STDERR_FILENO) != 0 ? download::ProgressStyle::kBar
                                                    : download::ProgressStyle::kLines;
  download::ProgressPrinter printer(stderr, style, o.name.empty() ? source.file_name : o.name,
                                    terminal_width());
  if (!o.quiet) fmt::print(stderr, "capibara: downloading {} into {}\n", source.url, o.output_dir);
  download::DownloadObserver observer;
  observer.on_progress = [&](const download::DownloadProgress& p) { printer.update(p); };
  observer.on_notice = [&](std::string_view message) { printer.notice(message); };

  download::DownloadResult result;
  try {
    InterruptGuard guard;
    result = download::download_model(request, observer);
  } catch (const download::CancelledError& e) {
    printer.finish();
    fmt::print(stderr, "capibara: {}\n", e.what());
    return 130;  // the shell's convention for "ended by SIGINT"
  } catch (...) {
    printer.finish();  // ends the bar's line before main prints the error
    throw;
  }
  printer.finish();

  if (!o.quiet) {
    const std::string what = fmt::format(
        "{}, architecture {}, {} tensors", download::format_size(result.size_bytes),
        result.architecture.empty() ? "(not set)" : result.architecture, result.n_tensors);
    if (result.already_present) {
      fmt::print(stderr, "capibara: {} is already there ({}); --force downloads it again\n",
                 result.path.string(), what);
    } else {
      fmt::print(stderr, "capibara: saved {} ({})\n", result.path.string(), what);
    }
    if (!result.sha256.empty()) {
      fmt::print(stderr, "capibara: sha256 {} ({})\n", result.sha256, sha256_note(result));
    }
  }
  fmt::print("{}\n", result.path.string());
  std::fflush(stdout);
  return 0;
}

}  // namespace

void add_pull_command(CLI::App& app, CommandAction& action) {
  auto o = std::make_shared<PullOptions>();
  auto* cmd = app.add_subcommand(
      "pull",
      "Download a GGUF model from an http(s) URL or the Hugging Face Hub (org/repo/file.gguf"
      "[@revision] or hf://...), resuming a partial download and verifying size, sha256 and "
      "format");
  cmd->add_option("source", o->source, "URL, org/repo/file.gguf[@revision] or hf://org/repo/...")
      ->required();
  cmd->add_option("-o,--output-dir", o->output_dir, "Folder to save into (created if missing)")
      ->capture_default_str();
  cmd->add_option("--name", o->name, "File name to save as (default: the source's file name)");
  cmd->add_option("--token", o->token,
                  "Bearer token (default for the Hub: $HF_TOKEN); sent to the source's host only");
  cmd->add_option("--sha256", o->sha256, "Expected sha256 of the file (64 hex digits)");
  cmd->add_option("--retries", o->retries, "Further attempts after a network or server error")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd->add_flag("--force", o->force,
                "Download again even if the file exists, and discard a partial download");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress or messages on stderr (errors still are)");
  cmd->callback([&action, o] { action = [o] { return run_pull(*o); }; });
}

}  // namespace capibara::cli
