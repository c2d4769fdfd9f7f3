// `capibara synth`: writes a random-weight model at a preset's or explicit dimensions
// (tools/synth.hpp); `--list` prints the presets.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "tools/synth.hpp"
#include "tools/synth_chat_templates.hpp"
#include "tools/synth_vocab.hpp"

namespace capibara::cli {
namespace {

struct SynthCliOptions {
  std::string output;
  std::string arch;
  std::string preset;
  std::string dims;
  std::string type = "q8_0";
  int64_t seed = 0;
  int threads = 0;
  bool list = false;
  bool verbose = false;
};

std::string human_bytes(double bytes) {
  if (bytes >= 1024.0 * 1024 * 1024)
    return fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024 * 1024));
  return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024));
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (int64_t d : shape) s += (s.empty() ? "" : ", ") + std::to_string(d);
  return "[" + s + "]";
}

int64_t count_params(const tools::SynthShape& shape) {
  int64_t n = 0;
  for (const auto& t : tools::synth_tensor_list(shape, tools::QuantTarget::kF32)) {
    n += t.n_elements();
  }
  return n;
}

int list_presets() {
  fmt::print("{:<18} {:<10} {:>6} {:>7} {:>6} {:>9} {:>6} {:>7} {:>7} {:>8}  {}\n", "preset",
             "arch", "n_embd", "n_layer", "n_head", "n_head_kv", "n_ff", "n_vocab", "n_ctx",
             "params", "tokenizer / chat");
  for (const auto name : tools::synth_preset_names()) {
    const tools::SynthShape s = *tools::find_synth_preset(name);
    fmt::print("{:<18} {:<10} {:>6} {:>7} {:>6} {:>9} {:>6} {:>7} {:>7} {:>7.2f}B  {} / {}\n",
               s.name, s.architecture, s.n_embd, s.n_layer, s.n_head, s.n_head_kv, s.n_ff,
               s.n_vocab, s.n_ctx, static_cast<double>(count_params(s)) / 1e9,
               tools::vocab_family_name(s.vocab), tools::chat_style_name(s.chat));
  }
  return 0;
}

int run(const SynthCliOptions& o) {
  if (o.list) return list_presets();
  if (o.output.empty()) throw InvalidArgumentError("synth needs an output file (OUT.gguf)");
  const auto target = tools::parse_quant_target(o.type);
  if (!target) {
    throw InvalidArgumentError(
        fmt::format("unknown --type '{}' (types: {})", o.type, tools::quant_target_list()));
  }
  tools::SynthOptions options;
  options.shape = tools::resolve_synth_shape(o.arch, o.preset, o.dims);
  options.target = *target;
  options.seed = static_cast<uint64_t>(o.seed);
  options.n_threads = o.threads;
  const tools::SynthShape& s = options.shape;
  fmt::print(stderr,
             "synth: {} ({}): n_embd {}, {} layers, {} heads / {} KV heads, n_ff {}, vocab {}, "
             "{} params, {}, seed {}\n",
             s.name, s.architecture, s.n_embd, s.n_layer, s.n_head, s.n_head_kv, s.n_ff, s.n_vocab,
             count_params(s), tools::quant_target_name(*target), o.seed);

  auto last_report = std::chrono::steady_clock::now();
  size_t bytes_so_far = 0;
  const auto summary =
      tools::write_synth_model(options, o.output, [&](const tools::SynthTensorReport& r) {
        bytes_so_far += r.n_bytes;
        const auto now = std::chrono::steady_clock::now();
        if (o.verbose) {
          fmt::print(stderr, "[{:>4}/{}] {:<32} {:<5} {:<16} {}\n", r.position, r.count,
                     r.tensor->name, ggml_type_name(r.tensor->type), shape_text(r.tensor->shape),
                     human_bytes(static_cast<double>(r.n_bytes)));
        } else if (now - last_report > std::chrono::seconds(5) || r.position == r.count) {
          fmt::print(stderr, "synth: {}/{} tensors, {} written\n", r.position, r.count,
                     human_bytes(static_cast<double>(bytes_so_far)));
          last_report = now;
        }
      });
  fmt::print(stderr, "synth: wrote {} tensors, {} params, {} in {:.1f} s\n", summary.n_tensors,
             summary.n_params, human_bytes(static_cast<double>(summary.file_bytes)),
             summary.seconds);
  fmt::print("{}\n", o.output);
  return 0;
}

}  // namespace

void add_synth_command(CLI::App& app, CommandAction& action) {
  auto opts = std::make_shared<SynthCliOptions>();
  auto* cmd = app.add_subcommand(
      "synth", "Write a random-weight model at a real model's shapes (for benchmarks)");
  cmd->add_option("output", opts->output, "Output GGUF file");
  cmd->add_option("--arch", opts->arch,
                  "Architecture: llama, qwen2, phi3, gemma3, command-r (implied by --shape)");
  cmd->add_option("--shape", opts->preset, "Shape preset (see --list)");
  cmd->add_option("--dims", opts->dims,
                  "Explicit sizes, or overrides of the preset's: n_embd=..,n_layer=..,n_head=..,"
                  "n_head_kv=..,n_ff=..,n_vocab=..,n_ctx=.. [,head_dim=..,n_rot=..,"
                  "sliding_window=..]");
  cmd->add_option("--type", opts->type,
                  "Storage type preset: f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k_m, q6_k")
      ->capture_default_str();
  cmd->add_option("-s,--seed", opts->seed, "Random seed of the weights")->capture_default_str();
  cmd->add_option("-t,--threads", opts->threads, "Threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--list", opts->list, "List the shape presets and exit");
  cmd->add_flag("-v,--verbose", opts->verbose, "Print every tensor as it is written");
  cmd->callback([opts, &action] { action = [opts] { return run(*opts); }; });
}

}  // namespace capibara::cli
